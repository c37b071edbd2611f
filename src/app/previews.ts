/**
 * The forge-side half of preview routing: find the MRs a CI success releases, and check that the
 * build of a preview's commit exists before its file is written ("never point at a missing image").
 */

import type { Logger } from 'pino';
import type { Event, RepoRef } from '../core/event.js';
import { formatRepoRef, parseRepoRef } from '../core/event.js';
import type { EnsurePreview, Intent, PreviewMergeRequest } from '../core/intent.js';
import { routeBuildReady, routeRegistryBuild, shaTaggedRoutes } from '../core/preview/route.js';
import { normalizeRepository } from '../core/image-ref.js';
import type { PreviewTable } from '../core/preview/route.js';
import type { AppRepoPort, BuildState, MergeRequestInfo } from '../forges/types.js';

/** The forge that answers for an app repository (`github:acme/web`), when Baton can reach it. */
export type AppRepos = (repo: RepoRef) => AppRepoPort | undefined;

/**
 * Tags the registry announced (`repository:tag` → digest), newest kept: a registry event is proof
 * that a build exists, so a preview opened after it need not ask anyone. Bounded; lost on restart.
 */
export class SeenBuilds {
  private readonly tags = new Map<string, string | undefined>();
  constructor(private readonly max = 10_000) {}

  record(repository: string, tag: string, digest?: string): void {
    const key = `${repository}:${tag}`;
    this.tags.delete(key);
    this.tags.set(key, digest);
    if (this.tags.size > this.max) {
      const oldest = this.tags.keys().next().value;
      if (oldest !== undefined) this.tags.delete(oldest);
    }
  }

  /** undefined: never seen; otherwise the digest the registry gave (possibly none). */
  lookup(repository: string, tag: string): { digest?: string } | undefined {
    const key = `${repository}:${tag}`;
    if (!this.tags.has(key)) return undefined;
    const digest = this.tags.get(key);
    return digest ? { digest } : {};
  }
}

export interface PreviewDeps {
  appRepos: AppRepos;
  /** Builds the registry announced to this process. */
  seen?: SeenBuilds;
  /**
   * The registry's answer for `repository:tag` (its digest), used when the app repo reports no CI
   * at all for the commit; rejects when the tag does not exist.
   */
  resolveDigest?: (repository: string, tag: string) => Promise<string>;
  logger: Logger;
}

export function toPreviewMergeRequest(repo: RepoRef, mr: MergeRequestInfo): PreviewMergeRequest & { labels: string[] } {
  return { repo, number: mr.number, title: mr.title, author: mr.author, headSha: mr.headSha, headBranch: mr.headBranch, fromFork: mr.fromFork, labels: mr.labels };
}

/**
 * A registry push whose tag is a commit sha (for previews tagged `{{shortSha}}` / `{{sha}}`): the open
 * MRs of the source repository with that head get their preview, the event itself proving the image.
 */
async function releasedByRegistry(event: Event, table: PreviewTable, deps: PreviewDeps): Promise<{ intents: Intent[]; notes: string[] }> {
  if (event.type !== 'image-pushed') return { intents: [], notes: [] };
  const repository = normalizeRepository(`${event.registry}/${event.repository}`);
  const routes = shaTaggedRoutes(table.allPreviews?.() ?? [], repository, event.tag);
  const result = { intents: [] as Intent[], notes: [] as string[] };
  for (const source of new Set(routes.map((r) => r.source))) {
    const repo = parseRepoRef(source);
    const port = repo && deps.appRepos(repo);
    if (!repo || !port) continue;
    try {
      const open = (await port.listOpenMergeRequests(repo.path)).filter((m) => m.headSha.startsWith(event.tag));
      const r = routeRegistryBuild(event, repository, open.map((m) => toPreviewMergeRequest(repo, m)), routes.filter((x) => x.source === source));
      result.intents.push(...r.intents);
      result.notes.push(...r.notes);
    } catch (err) {
      deps.logger.warn({ err: (err as Error).message, repo: source, tag: event.tag }, 'could not list the open merge requests for a pushed build');
    }
  }
  return result;
}

/** A CI success outside the default branch: the preview intents of the open MRs whose head it built. */
export async function releasedByBuild(event: Event, table: PreviewTable, deps: PreviewDeps): Promise<{ intents: Intent[]; notes: string[] }> {
  if (event.type === 'image-pushed') return releasedByRegistry(event, table, deps);
  if (event.type !== 'ci-completed' || event.conclusion !== 'success' || event.branch === event.defaultBranch) return { intents: [], notes: [] };
  const source = formatRepoRef(event.repo);
  if ((table.previewsBySource?.(source) ?? []).length === 0) return { intents: [], notes: [] };
  const port = deps.appRepos(event.repo);
  if (!port) return { intents: [], notes: [`no forge access to ${source}, so its merge requests cannot be looked up`] };
  try {
    const mrs = (await port.commitMergeRequests(event.repo.path, event.sha)).filter((m) => m.state === 'open');
    return routeBuildReady(event, mrs.map((m) => toPreviewMergeRequest(event.repo, m)), table, source);
  } catch (err) {
    // The sweep re-creates a missing preview of an open MR, so a failed lookup costs time, not the preview.
    deps.logger.warn({ err: (err as Error).message, repo: source, sha: event.sha }, 'could not look up the merge requests of a built commit');
    return { intents: [], notes: [`could not look up the merge requests of ${event.sha.slice(0, 7)}`] };
  }
}

/**
 * Resolve `unchecked` builds: CI success on the commit, or (when the app repo has no CI status at all)
 * the tag on the registry. Anything else leaves the intent `waiting`: planned as nothing, reported.
 */
export async function checkBuilds(intents: Intent[], deps: PreviewDeps | undefined): Promise<Intent[]> {
  const cache = new Map<string, Promise<{ state: BuildState; digest?: string }>>();
  const check = (i: EnsurePreview): Promise<{ state: BuildState; digest?: string }> => {
    const key = `${formatRepoRef(i.mr.repo)}@${i.sha}:${i.repository}:${i.tag}`;
    let p = cache.get(key);
    if (!p) {
      p = (async () => {
        const seen = deps?.seen?.lookup(i.repository, i.tag);
        if (seen) return { state: 'success' as const, ...seen };
        const port = deps?.appRepos(i.mr.repo);
        const state = port ? await port.buildState(i.mr.repo.path, i.sha).catch((err: unknown) => {
          deps?.logger.warn({ err: (err as Error).message, repo: formatRepoRef(i.mr.repo), sha: i.sha }, 'could not read the CI state of a commit');
          return 'pending' as const;
        }) : 'none';
        if (state !== 'none' || !deps?.resolveDigest) return { state };
        const digest = await deps.resolveDigest(i.repository, i.tag).catch(() => undefined);
        return digest ? { state: 'success', digest } : { state };
      })();
      cache.set(key, p);
    }
    return p;
  };
  return Promise.all(
    intents.map(async (i): Promise<Intent> => {
      if (i.type !== 'ensure-preview' || i.build !== 'unchecked') return i;
      const { state, digest } = await check(i);
      if (state === 'success') return { ...i, build: 'confirmed', ...(digest && !i.digest && { digest }) };
      deps?.logger.info({ image: i.image, preview: i.name, mr: i.mr.number, sha: i.sha, ci: state }, `waiting for the build of ${i.sha.slice(0, 7)}`);
      return { ...i, build: 'waiting' };
    }),
  );
}
