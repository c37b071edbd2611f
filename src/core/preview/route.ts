/**
 * Which previews a merge-request event (or a CI success, or a `/baton preview` command) creates,
 * moves or removes. Pure: the forge's answers (open MRs for a commit, the commenter's role) come in
 * as arguments.
 */

import type { CiCompleted, ImagePushed, PullRequestChanged, RepoRef, SourceId } from '../event.js';
import { parseRepoRef } from '../event.js';
import { isValidTag } from '../image-ref.js';
import type { Cause, Destination, EnsurePreview, Intent, PreviewMergeRequest, RemovePreview } from '../intent.js';
import { branchSlug, previewName } from './name.js';
import { fill } from './render.js';
import type { TemplateVars } from './render.js';

/** One `previews.<image>` entry, resolved against its image (see `src/config`). */
export interface PreviewRoute {
  image: string;
  /** Normalized image repository. */
  repository: string;
  /** The image's `source`, as configured (`github:acme/web`). */
  source: string;
  destination: Destination;
  /** File pattern; `{{name}}` is the preview name. */
  path: string;
  template: string;
  trigger: 'auto' | 'label' | 'command';
  label: string;
  forks: 'never' | 'command';
  ttlMs: number;
  /** The tag CI gives an MR's build, as a pattern (`{{shortSha}}`). */
  tag: string;
}

export interface PreviewTable {
  previewsBySource?(source: string): PreviewRoute[];
  /** Every preview entry (the sweep, registry events). */
  allPreviews?(): PreviewRoute[];
}

export interface PreviewRouteResult {
  intents: Intent[];
  notes: string[];
}

/** The label that keeps a preview past its TTL. */
export const KEEP_LABEL = 'keep-preview';
const SHA = /^([0-9a-f]{40}|[0-9a-f]{64})$/;
const SAFE_PATH = (p: string): boolean => p.length > 0 && !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && !p.split('/').some((s) => s === '..' || s === '.' || s === '');

/** `github:acme/web@3f2c1d0 (#42)`: the `Baton-Source` trailer of a preview change. */
export function previewSourceRef(source: string, sha: string, number: number): string {
  return `${source}@${sha.slice(0, 7)} (#${number})`;
}

function describe(mr: { number: number }): string {
  return `!${mr.number}`;
}

/** The intent's fixed parts: name, file, tag. Undefined (with a note) when the config gives no safe file or tag. */
function resolve(route: PreviewRoute, mr: PreviewMergeRequest, sha: string, notes: string[]): { name: string; path: string; tag: string } | undefined {
  const name = previewName(route.image, mr.number);
  const path = route.path.replace(/\{\{\s*name\s*\}\}/g, name);
  if (!SAFE_PATH(path) || path.includes('{{')) {
    notes.push(`${route.image}: previews.${route.image}.path must give a relative path and use only {{name}}`);
    return undefined;
  }
  const vars: TemplateVars = {
    name,
    namespace: name,
    number: String(mr.number),
    branch: mr.headBranch,
    branchSlug: branchSlug(mr.headBranch),
    sha,
    shortSha: sha.slice(0, 7),
    image: route.repository,
    repository: route.repository,
    tag: '',
    digest: '',
    repo: route.source,
    author: mr.author,
    title: mr.title,
  };
  const unknown = new Set<string>();
  const tag = fill(route.tag, vars, unknown);
  if (unknown.size > 0 || !isValidTag(tag)) {
    notes.push(`${route.image}: previews.${route.image}.tag gives ${JSON.stringify(tag.slice(0, 140))}, not a valid image tag`);
    return undefined;
  }
  return { name, path, tag };
}

function causeOf(route: PreviewRoute, e: { source: SourceId; deliveryId: string; actor?: string }, sha: string, number: number): Cause {
  return { source: e.source, deliveryId: e.deliveryId, ...(e.actor && { actor: e.actor }), sourceRef: previewSourceRef(route.source, sha, number) };
}

function mrRef(route: PreviewRoute, fallback: RepoRef): RepoRef {
  return parseRepoRef(route.source) ?? fallback;
}

export function ensureIntent(
  route: PreviewRoute,
  mr: PreviewMergeRequest,
  sha: string,
  cause: Cause,
  options: { build: EnsurePreview['build']; onlyIfExists: boolean },
  notes: string[],
): EnsurePreview | undefined {
  const r = resolve(route, mr, sha, notes);
  if (!r) return undefined;
  return {
    type: 'ensure-preview',
    destination: route.destination,
    image: route.image,
    repository: route.repository,
    name: r.name,
    path: r.path,
    template: route.template,
    mr: { ...mr, repo: mrRef(route, mr.repo) },
    sha,
    tag: r.tag,
    build: options.build,
    onlyIfExists: options.onlyIfExists,
    cause,
  };
}

export function removeIntent(route: PreviewRoute, mr: { repo: RepoRef; number: number }, reason: RemovePreview['reason'], cause: Cause, notes: string[]): RemovePreview | undefined {
  const name = previewName(route.image, mr.number);
  const path = route.path.replace(/\{\{\s*name\s*\}\}/g, name);
  if (!SAFE_PATH(path) || path.includes('{{')) {
    notes.push(`${route.image}: previews.${route.image}.path must give a relative path and use only {{name}}`);
    return undefined;
  }
  return { type: 'remove-preview', destination: route.destination, image: route.image, name, path, mr: { repo: mrRef(route, mr.repo), number: mr.number }, reason, cause };
}

function mrOf(e: PullRequestChanged): PreviewMergeRequest {
  return { repo: e.repo, number: e.number, title: e.title, author: e.author, headSha: e.headSha, headBranch: e.headBranch, fromFork: e.fromFork };
}

/** What an MR event does to each preview of its repository. */
export function routePullRequest(e: PullRequestChanged, table: PreviewTable, formatSource: string): PreviewRouteResult {
  const routes = table.previewsBySource?.(formatSource) ?? [];
  const notes: string[] = [];
  const intents: Intent[] = [];
  if (routes.length === 0) return { intents, notes: [`no previews are configured for ${formatSource}`] };
  if (!Number.isSafeInteger(e.number) || e.number <= 0) return { intents, notes: ['the merge request number is not a positive integer'] };
  const closing = e.action === 'closed' || e.action === 'merged';
  if (!closing && !SHA.test(e.headSha)) return { intents, notes: ['the head commit id is not a full sha'] };
  const mr = mrOf(e);
  for (const route of routes) {
    const cause = causeOf(route, e, SHA.test(e.headSha) ? e.headSha : '0000000', e.number);
    const push = (i: Intent | undefined): void => {
      if (i) intents.push(i);
    };
    if (closing) {
      push(removeIntent(route, mr, e.action === 'merged' ? 'merged' : 'closed', cause, notes));
      continue;
    }
    if (e.fromFork) {
      notes.push(
        route.forks === 'never'
          ? `${route.image}: ${describe(e)} comes from a fork; previews.${route.image}.forks is never`
          : `${route.image}: ${describe(e)} comes from a fork; only an approver's /baton preview creates (or moves) its preview`,
      );
      continue;
    }
    const opening = e.action === 'opened' || e.action === 'reopened' || e.action === 'updated';
    switch (route.trigger) {
      case 'auto':
        if (opening) push(ensureIntent(route, mr, e.headSha, cause, { build: 'unchecked', onlyIfExists: false }, notes));
        break;
      case 'label': {
        const has = e.labels.includes(route.label);
        if (e.action === 'unlabeled' && e.label === route.label) push(removeIntent(route, mr, 'unlabeled', cause, notes));
        else if ((opening || (e.action === 'labeled' && e.label === route.label)) && has) push(ensureIntent(route, mr, e.headSha, cause, { build: 'unchecked', onlyIfExists: false }, notes));
        else if (opening) notes.push(`${route.image}: ${describe(e)} has no label ${route.label}`);
        break;
      }
      case 'command':
        // A preview asked for by command follows the MR's new commits; none is created without one.
        if (e.action === 'updated') push(ensureIntent(route, mr, e.headSha, cause, { build: 'unchecked', onlyIfExists: true }, notes));
        else if (opening) notes.push(`${route.image}: previews are created by /baton preview`);
        break;
    }
  }
  return { intents, notes };
}

/**
 * CI succeeded on a commit outside the default branch: the previews of the open MRs whose head it
 * is may now be written, once the build check agrees. `mrs` are the forge's answer for that commit.
 */
export function routeBuildReady(e: CiCompleted, mrs: (PreviewMergeRequest & { labels?: string[] })[], table: PreviewTable, formatSource: string): PreviewRouteResult {
  const routes = table.previewsBySource?.(formatSource) ?? [];
  const notes: string[] = [];
  const intents: Intent[] = [];
  if (e.conclusion !== 'success' || !SHA.test(e.sha)) return { intents, notes };
  for (const mr of mrs) {
    if (mr.headSha !== e.sha) continue;
    for (const route of routes) {
      if (mr.fromFork) continue;
      if (route.trigger === 'label' && !(mr.labels ?? []).includes(route.label)) continue;
      const cause = causeOf(route, e, e.sha, mr.number);
      // One workflow passing is not the whole CI (the image may come from another): the build is
      // still checked against every check run / pipeline of the commit before writing.
      const i = ensureIntent(route, mr, e.sha, cause, { build: 'unchecked', onlyIfExists: route.trigger === 'command' }, notes);
      if (i) intents.push(i);
    }
  }
  return { intents, notes };
}

/** Preview entries whose tag is the commit sha (`{{shortSha}}`, `{{sha}}`): a registry tag names their commit. */
export function shaTaggedRoutes(routes: PreviewRoute[], repository: string, tag: string): PreviewRoute[] {
  if (!/^[0-9a-f]{7,64}$/.test(tag)) return [];
  return routes.filter((r) => r.repository === repository && /^\{\{\s*(shortSha|sha)\s*\}\}$/.test(r.tag));
}

/**
 * The registry announced `repository:tag` where the tag is an open MR's head sha: that MR's preview
 * can be written now, and this very event proves the image exists. `mrs` are the open MRs of the
 * routes' source repository.
 */
export function routeRegistryBuild(e: ImagePushed, repository: string, mrs: (PreviewMergeRequest & { labels?: string[] })[], routes: PreviewRoute[]): PreviewRouteResult {
  const notes: string[] = [];
  const intents: Intent[] = [];
  for (const route of shaTaggedRoutes(routes, repository, e.tag)) {
    for (const mr of mrs) {
      if (mr.fromFork || !SHA.test(mr.headSha) || !mr.headSha.startsWith(e.tag)) continue;
      if (route.trigger === 'label' && !(mr.labels ?? []).includes(route.label)) continue;
      const i = ensureIntent(route, mr, mr.headSha, causeOf(route, e, mr.headSha, mr.number), { build: 'confirmed', onlyIfExists: route.trigger === 'command' }, notes);
      if (i && i.tag === e.tag) intents.push({ ...i, ...(e.digest && { digest: e.digest }) });
    }
  }
  return { intents, notes };
}

/** `/baton preview` and `/baton preview destroy`, as the ChatOps parser hands them over. */
export interface PreviewCommand {
  action: 'preview' | 'destroy';
  mr: PreviewMergeRequest;
  /** Who commented, and their role on the app repo as the forge reports it. */
  actor: string;
  actorRole: string;
  /** Roles allowed to run previews for forks (default maintain, admin). */
  approvers?: readonly string[];
  /** The head sha the commenter saw: a fork's preview is pinned to it. Defaults to `mr.headSha`. */
  reviewedSha?: string;
  source: SourceId;
  deliveryId: string;
}

export type PreviewCommandResult = { kind: 'intents'; intents: Intent[]; notes: string[] } | { kind: 'reply'; message: string };

/**
 * A fork's preview only on an approver's command, pinned to the reviewed head; anyone may ask for
 * (or destroy) the preview of a branch in the repository itself.
 */
export function previewCommand(c: PreviewCommand, table: PreviewTable, formatSource: string): PreviewCommandResult {
  const routes = table.previewsBySource?.(formatSource) ?? [];
  if (routes.length === 0) return { kind: 'reply', message: 'No previews are configured for this repository.' };
  const approvers = c.approvers ?? ['maintain', 'admin'];
  const sha = c.reviewedSha ?? c.mr.headSha;
  if (!SHA.test(sha)) return { kind: 'reply', message: 'The head commit of this merge request is not known yet; try again in a moment.' };
  if (c.mr.fromFork) {
    if (routes.every((r) => r.forks === 'never')) return { kind: 'reply', message: 'Previews are not made for merge requests from forks in this repository.' };
    if (!approvers.includes(c.actorRole)) {
      return { kind: 'reply', message: `Only users with the role ${approvers.join(' or ')} may ${c.action === 'destroy' ? 'destroy' : 'create'} the preview of a merge request from a fork.` };
    }
  }
  const notes: string[] = [];
  const intents: Intent[] = [];
  for (const route of routes) {
    if (c.mr.fromFork && route.forks === 'never') {
      notes.push(`${route.image}: previews.${route.image}.forks is never`);
      continue;
    }
    const cause: Cause = { source: c.source, deliveryId: c.deliveryId, actor: c.actor, sourceRef: previewSourceRef(route.source, sha, c.mr.number) };
    const i =
      c.action === 'destroy'
        ? removeIntent(route, c.mr, 'command', cause, notes)
        : ensureIntent(route, c.mr, sha, cause, { build: 'unchecked', onlyIfExists: false }, notes);
    if (i) intents.push(i);
  }
  return { kind: 'intents', intents, notes };
}
