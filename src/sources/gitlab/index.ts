/**
 * `POST /webhooks/gitlab`: GitLab project and group hooks. Authenticity is the `X-Gitlab-Token`
 * header (no HMAC on GitLab), compared in constant time against every configured secret.
 */

import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { CiCompleted, CommentPosted, Event, Parsed, PullRequestChanged, Pushed, RepoRef } from '../../core/event.js';
import { matchesAny } from '../auth.js';
import type { Delivery, DeliveryHead, Source, Verification } from '../types.js';
import { MalformedPayload } from '../types.js';
import type { MergeRequestPayload, NotePayload, PipelinePayload, PushPayload } from './schema.js';
import { MergeRequestSchema, NoteSchema, PipelineSchema, PushSchema } from './schema.js';

export interface GitlabSourceOptions {
  /** Username Baton acts as on GitLab (the token's user; for a project access token, its bot user). */
  botUsername?: string;
}

const ZERO_SHA = /^0+$/;
/** Idempotency-Key is a UUID in practice; accept any short printable token, refuse anything else. */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

/** `GITLAB_WEBHOOK_SECRET` may list several tokens separated by commas, so a secret can be rotated without downtime. */
export function parseGitlabSecrets(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function verifyGitlabToken(delivery: DeliveryHead, secrets: readonly string[]): Verification {
  if (secrets.length === 0) return { ok: false, reason: 'no GitLab webhook secret is configured' };
  const given = delivery.headers['x-gitlab-token'];
  if (given === undefined || given === '') return { ok: false, reason: 'missing X-Gitlab-Token header' };
  return matchesAny(given, secrets) ? { ok: true } : { ok: false, reason: 'wrong X-Gitlab-Token' };
}

/**
 * The id the queue de-duplicates on. `Idempotency-Key` is generated once per triggered event and kept
 * across GitLab's retries and manual resends; `X-Gitlab-Webhook-UUID` is new per attempt and
 * `X-Gitlab-Event-UUID` is shared along chains of hook-triggered calls, so neither identifies a delivery.
 * Older GitLab versions send no key: the body hash stands in (a resend carries the same bytes).
 */
export function gitlabDeliveryId(delivery: Delivery): string {
  const key = delivery.headers['idempotency-key']?.trim();
  if (key && IDEMPOTENCY_KEY.test(key)) return key;
  return `sha256:${createHash('sha256').update(delivery.rawBody).digest('hex')}`;
}

function parseWith<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue ? issue.path.map(String).join('.') : '';
    throw new MalformedPayload(`${what} payload does not match GitLab's schema${where ? ` at ${where.slice(0, 120)}` : ''}`);
  }
  return r.data;
}

function repoOf(project: { path_with_namespace: string }): RepoRef {
  return { forge: 'gitlab', path: project.path_with_namespace };
}

class Normalizer {
  constructor(
    private readonly deliveryId: string,
    private readonly bot: string | undefined,
  ) {}

  private isBot(username: string | null | undefined): boolean {
    return this.bot !== undefined && this.bot !== '' && username !== undefined && username !== null && username.toLowerCase() === this.bot.toLowerCase();
  }

  push(p: PushPayload): Parsed {
    if (!p.ref.startsWith('refs/heads/')) return { kind: 'ignored', reason: 'push to a ref that is not a branch' };
    if (ZERO_SHA.test(p.after)) return { kind: 'ignored', reason: 'branch deleted' };
    if (this.isBot(p.user_username)) return { kind: 'ignored', reason: "Baton's own push" };
    const paths = new Set<string>();
    for (const c of p.commits ?? []) for (const list of [c.added, c.modified, c.removed]) for (const path of list ?? []) paths.add(path);
    const event: Pushed = {
      type: 'push',
      source: 'gitlab',
      deliveryId: this.deliveryId,
      ...(p.user_username && { actor: p.user_username }),
      repo: repoOf(p.project),
      branch: p.ref.slice('refs/heads/'.length),
      defaultBranch: p.project.default_branch ?? '',
      before: p.before,
      after: p.after,
      // GitLab lists at most 20 of `total_commits_count` commits; a partial list would miss paths, so say nothing then.
      ...(p.commits && (p.total_commits_count ?? p.commits.length) <= p.commits.length && { paths: [...paths].sort() }),
    };
    return { kind: 'events', events: [event] };
  }

  mergeRequest(p: MergeRequestPayload): Parsed {
    const a = p.object_attributes;
    const actor = p.user?.username ?? undefined;
    if (this.isBot(actor)) return { kind: 'ignored', reason: "Baton's own merge request change" };
    if (!a.last_commit) return { kind: 'ignored', reason: 'merge request without commits' };
    const labels = (a.labels ?? p.labels ?? []).map((l) => l.title);
    const base = {
      type: 'pull-request' as const,
      source: 'gitlab' as const,
      ...(actor && { actor }),
      repo: repoOf(p.project),
      number: a.iid,
      title: a.title,
      // The hook names the MR author only by id; the user who acted is the best name it carries.
      author: actor ?? '',
      headSha: a.last_commit.id,
      headBranch: a.source_branch,
      baseBranch: a.target_branch,
      fromFork: a.source_project_id != null && a.target_project_id != null && a.source_project_id !== a.target_project_id,
      labels,
    };
    const action = a.action ?? '';
    const mapped = MR_ACTIONS.get(action);
    if (mapped) return { kind: 'events', events: [{ ...base, deliveryId: this.deliveryId, action: mapped }] };
    if (action !== 'update') return { kind: 'ignored', reason: `merge request action ${JSON.stringify(action.slice(0, 40))} is of no interest` };

    // One update can carry new commits and label changes at once; each becomes its own event with
    // its own derived id, so the queue's de-duplication keeps them apart.
    const events: Event[] = [];
    if (a.oldrev) events.push({ ...base, deliveryId: this.deliveryId, action: 'updated' });
    const change = p.changes?.labels;
    if (change) {
      const before = new Set((change.previous ?? []).map((l) => l.title));
      const after = new Set((change.current ?? []).map((l) => l.title));
      for (const label of after) if (!before.has(label)) events.push({ ...base, deliveryId: `${this.deliveryId}#labeled:${label}`, action: 'labeled', label });
      for (const label of before) if (!after.has(label)) events.push({ ...base, deliveryId: `${this.deliveryId}#unlabeled:${label}`, action: 'unlabeled', label });
    }
    if (events.length === 0) events.push({ ...base, deliveryId: this.deliveryId, action: 'edited' });
    return { kind: 'events', events };
  }

  note(p: NotePayload): Parsed {
    const a = p.object_attributes;
    if (a.noteable_type !== 'MergeRequest' || !p.merge_request) return { kind: 'ignored', reason: `comment on a ${a.noteable_type.slice(0, 40)}, not a merge request` };
    if (a.system) return { kind: 'ignored', reason: 'system note' };
    const author = p.user?.username ?? '';
    if (this.isBot(author)) return { kind: 'ignored', reason: "Baton's own comment" };
    const action = a.action ?? 'create';
    if (action !== 'create' && action !== 'update') return { kind: 'ignored', reason: `note action ${JSON.stringify(action.slice(0, 40))} is of no interest` };
    const event: CommentPosted = {
      type: 'comment',
      source: 'gitlab',
      deliveryId: this.deliveryId,
      ...(author && { actor: author }),
      action: action === 'create' ? 'created' : 'edited',
      repo: repoOf(p.project),
      number: p.merge_request.iid,
      commentId: String(a.id),
      author,
      body: a.note,
    };
    return { kind: 'events', events: [event] };
  }

  pipeline(p: PipelinePayload): Parsed {
    const a = p.object_attributes;
    const actor = p.user?.username ?? undefined;
    if (a.status !== 'success') return { kind: 'ignored', reason: `pipeline ${a.status.slice(0, 40)}; only successful pipelines build deployable images` };
    if (a.tag) return { kind: 'ignored', reason: 'tag pipeline' };
    // Merge-request pipelines build the MR's head (or merged result), not a commit of the default branch.
    if (p.merge_request || a.source === 'merge_request_event') return { kind: 'ignored', reason: 'merge request pipeline' };
    const defaultBranch = p.project.default_branch ?? '';
    // Other branches pass: a branch pipeline on an MR's head is what releases its waiting preview.
    if (this.isBot(actor)) return { kind: 'ignored', reason: "pipeline of Baton's own commit" };
    const event: CiCompleted = {
      type: 'ci-completed',
      source: 'gitlab',
      deliveryId: this.deliveryId,
      ...(actor && { actor }),
      repo: repoOf(p.project),
      branch: a.ref,
      defaultBranch,
      sha: a.sha,
      conclusion: 'success',
      shortShaLength: GITLAB_SHORT_SHA_LENGTH,
    };
    return { kind: 'events', events: [event] };
  }
}

/** GitLab's `CI_COMMIT_SHORT_SHA` is the first 8 characters of the commit sha: the tag GitLab users give images. */
export const GITLAB_SHORT_SHA_LENGTH = 8;

// Maps, not object literals: a header or action of `toString` or `constructor` must find nothing.
const MR_ACTIONS = new Map<string, PullRequestChanged['action']>([
  ['open', 'opened'],
  ['reopen', 'reopened'],
  ['close', 'closed'],
  ['merge', 'merged'],
]);

const KIND_BY_HEADER = new Map<string, string>([
  ['Push Hook', 'push'],
  ['Tag Push Hook', 'tag_push'],
  ['Merge Request Hook', 'merge_request'],
  ['Note Hook', 'note'],
  ['Confidential Note Hook', 'note'],
  ['Pipeline Hook', 'pipeline'],
]);

/** The kind of a delivery: the `X-Gitlab-Event` header, else the body's `object_kind` (as `replay` may lack headers). */
function kindOf(body: unknown, header: string | undefined): string | undefined {
  if (header !== undefined) return KIND_BY_HEADER.get(header) ?? header;
  if (typeof body === 'object' && body !== null && 'object_kind' in body && typeof body.object_kind === 'string') return body.object_kind;
  return undefined;
}

export function createGitlabSource(options: GitlabSourceOptions = {}): Source {
  return {
    id: 'gitlab',
    verify: verifyGitlabToken,
    // The token is a header: a wrong or missing one is refused before the body is read.
    precheck: verifyGitlabToken,
    maxJsonDepth: 32,
    parse(body: unknown, delivery: Delivery): Parsed {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MalformedPayload('expected a JSON object');
      const n = new Normalizer(gitlabDeliveryId(delivery), options.botUsername);
      const kind = kindOf(body, delivery.headers['x-gitlab-event']);
      switch (kind) {
        case 'push':
          return n.push(parseWith(PushSchema, body, 'Push Hook'));
        case 'tag_push':
          // Tags do not move environments by themselves: the registry event for the tag's image does.
          return { kind: 'ignored', reason: 'tag push' };
        case 'merge_request':
          return n.mergeRequest(parseWith(MergeRequestSchema, body, 'Merge Request Hook'));
        case 'note':
          return n.note(parseWith(NoteSchema, body, 'Note Hook'));
        case 'pipeline':
          return n.pipeline(parseWith(PipelineSchema, body, 'Pipeline Hook'));
        default:
          return { kind: 'ignored', reason: `${kind === undefined ? 'unknown' : JSON.stringify(kind.slice(0, 60))} hook is of no interest` };
      }
    },
  };
}

/** Settings → source: `BATON_GITLAB_BOT_USERNAME` names Baton's own GitLab user. */
export function gitlabSourceFromEnv(env: Record<string, string | undefined>): { source: Source; secrets: () => string[] } {
  const bot = env['BATON_GITLAB_BOT_USERNAME']?.trim();
  const source = createGitlabSource(bot ? { botUsername: bot } : {});
  const secrets = parseGitlabSecrets(env['GITLAB_WEBHOOK_SECRET']);
  return { source, secrets: () => secrets };
}
