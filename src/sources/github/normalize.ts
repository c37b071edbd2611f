/**
 * GitHub webhook payloads → core Events. Schemas name only the fields Baton uses and tolerate the
 * rest; every string in them came from a stranger and stays data.
 */

import { z } from 'zod';
import type { CiCompleted, CommentPosted, Parsed, PullRequestChanged, Pushed, RepoRef } from '../../core/event.js';
import { MalformedPayload } from '../types.js';

const Str = z.string().max(65_536 * 4);
const Login = z.object({ login: Str, type: Str.optional() });
const Repository = z.object({ full_name: Str, default_branch: Str.optional(), master_branch: Str.optional() });
const Label = z.object({ name: Str });

const PushSchema = z.object({
  ref: Str,
  before: Str,
  after: Str,
  deleted: z.boolean().optional(),
  repository: Repository,
  sender: Login.optional(),
  pusher: z.object({ name: Str.optional() }).optional(),
  commits: z.array(z.object({ added: z.array(Str).optional(), modified: z.array(Str).optional(), removed: z.array(Str).optional() })).max(5_000).optional(),
});

const PullRequestSchema = z.object({
  action: Str,
  number: z.number().int().positive().optional(),
  label: Label.optional(),
  repository: Repository,
  sender: Login.optional(),
  pull_request: z.object({
    number: z.number().int().positive(),
    title: Str,
    merged: z.boolean().nullish(),
    user: Login.nullable(),
    labels: z.array(Label).max(1_000).optional(),
    head: z.object({ sha: Str, ref: Str, repo: z.object({ full_name: Str }).nullable() }),
    base: z.object({ ref: Str, repo: z.object({ full_name: Str }) }),
  }),
});

const IssueCommentSchema = z.object({
  action: Str,
  repository: Repository,
  sender: Login.optional(),
  issue: z.object({ number: z.number().int().positive(), pull_request: z.object({}).loose().optional() }),
  comment: z.object({ id: z.number().int(), body: Str.nullable(), user: Login.nullable() }),
  changes: z.object({ body: z.object({ from: Str }).optional() }).optional(),
});

const Run = z.object({ head_branch: Str.nullable(), head_sha: Str, conclusion: Str.nullable(), status: Str.nullable().optional() });
const CheckSuiteSchema = z.object({ action: Str, repository: Repository, sender: Login.optional(), check_suite: Run });
const WorkflowRunSchema = z.object({ action: Str, repository: Repository, sender: Login.optional(), workflow_run: Run.extend({ actor: Login.nullable().optional() }) });

/** The payload schemas Baton reads, by GitHub's webhook key (`x-webhooks` in its OpenAPI description), for drift tests. */
export const WEBHOOK_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  push: PushSchema,
  'pull-request-opened': PullRequestSchema,
  'pull-request-synchronize': PullRequestSchema,
  'pull-request-reopened': PullRequestSchema,
  'pull-request-closed': PullRequestSchema,
  'pull-request-labeled': PullRequestSchema,
  'pull-request-unlabeled': PullRequestSchema,
  'pull-request-edited': PullRequestSchema,
  'issue-comment-created': IssueCommentSchema,
  'issue-comment-edited': IssueCommentSchema,
  'check-suite-completed': CheckSuiteSchema,
  'workflow-run-completed': WorkflowRunSchema,
};

function parseOr<T>(schema: z.ZodType<T>, body: unknown, event: string): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new MalformedPayload(`not a ${event} payload${first ? `: ${first.path.join('.') || '(root)'} ${first.message}` : ''}`);
  }
  return r.data;
}

const repoRef = (r: z.infer<typeof Repository>): RepoRef => ({ forge: 'github', path: r.full_name });
const defaultBranchOf = (r: z.infer<typeof Repository>): string => r.default_branch ?? r.master_branch ?? 'main';
const ZERO = /^0{40}$/;

export function normalizePush(body: unknown, deliveryId: string): Parsed {
  const e = parseOr(PushSchema, body, 'push');
  if (!e.ref.startsWith('refs/heads/')) return { kind: 'ignored', reason: 'tag push' };
  if (e.deleted === true || ZERO.test(e.after)) return { kind: 'ignored', reason: 'branch deleted' };
  const paths = e.commits ? [...new Set(e.commits.flatMap((c) => [...(c.added ?? []), ...(c.modified ?? []), ...(c.removed ?? [])]))] : undefined;
  const actor = e.sender?.login ?? e.pusher?.name;
  const event: Pushed = {
    type: 'push',
    source: 'github',
    deliveryId,
    repo: repoRef(e.repository),
    branch: e.ref.slice('refs/heads/'.length),
    defaultBranch: defaultBranchOf(e.repository),
    before: e.before,
    after: e.after,
    ...(paths && { paths }),
    ...(actor && { actor }),
  };
  return { kind: 'events', events: [event] };
}

// A Map: an action of `constructor` or `toString` must find nothing.
const PR_ACTIONS = new Map<string, PullRequestChanged['action']>([
  ['opened', 'opened'],
  ['synchronize', 'updated'],
  ['reopened', 'reopened'],
  ['labeled', 'labeled'],
  ['unlabeled', 'unlabeled'],
  ['edited', 'edited'],
]);

export function normalizePullRequest(body: unknown, deliveryId: string): Parsed {
  const e = parseOr(PullRequestSchema, body, 'pull_request');
  const pr = e.pull_request;
  const action = e.action === 'closed' ? (pr.merged === true ? 'merged' : 'closed') : PR_ACTIONS.get(e.action);
  if (!action) return { kind: 'ignored', reason: `pull_request ${e.action.slice(0, 40)}` };
  // A deleted fork leaves head.repo null: still a fork, never trusted like a branch of the repo.
  const fromFork = pr.head.repo === null || pr.head.repo.full_name.toLowerCase() !== pr.base.repo.full_name.toLowerCase();
  const event: PullRequestChanged = {
    type: 'pull-request',
    source: 'github',
    deliveryId,
    action,
    repo: repoRef(e.repository),
    number: pr.number,
    title: pr.title,
    author: pr.user?.login ?? 'ghost',
    headSha: pr.head.sha,
    headBranch: pr.head.ref,
    baseBranch: pr.base.ref,
    fromFork,
    labels: (pr.labels ?? []).map((l) => l.name),
    ...((action === 'labeled' || action === 'unlabeled') && e.label && { label: e.label.name }),
    ...(e.sender && { actor: e.sender.login }),
  };
  return { kind: 'events', events: [event] };
}

export function normalizeIssueComment(body: unknown, deliveryId: string): Parsed {
  const e = parseOr(IssueCommentSchema, body, 'issue_comment');
  if (!e.issue.pull_request) return { kind: 'ignored', reason: 'comment on an issue, not a pull request' };
  if (e.action !== 'created' && e.action !== 'edited') return { kind: 'ignored', reason: `issue_comment ${e.action.slice(0, 40)}` };
  const author = e.comment.user?.login ?? e.sender?.login ?? 'ghost';
  const event: CommentPosted = {
    type: 'comment',
    source: 'github',
    deliveryId,
    action: e.action,
    repo: repoRef(e.repository),
    number: e.issue.number,
    commentId: String(e.comment.id),
    author,
    body: e.comment.body ?? '',
    ...(e.action === 'edited' && e.changes?.body && { previousBody: e.changes.body.from }),
    actor: e.sender?.login ?? author,
  };
  return { kind: 'events', events: [event] };
}

/** GitHub's conclusions → the four Baton distinguishes. */
export function ciConclusion(conclusion: string | null): CiCompleted['conclusion'] {
  switch (conclusion) {
    case 'success':
      return 'success';
    case 'failure':
    case 'timed_out':
    case 'startup_failure':
      return 'failure';
    case 'cancelled':
      return 'cancelled';
    default:
      return 'other';
  }
}

function ciCompleted(kind: 'check_suite' | 'workflow_run', action: string, run: z.infer<typeof Run>, repository: z.infer<typeof Repository>, deliveryId: string, actor: string | undefined): Parsed {
  if (action !== 'completed') return { kind: 'ignored', reason: `${kind} ${action.slice(0, 40)}` };
  // Runs for tags or detached heads carry no branch; only branch builds can move an image.
  if (!run.head_branch) return { kind: 'ignored', reason: `${kind} without a branch` };
  const event: CiCompleted = {
    type: 'ci-completed',
    source: 'github',
    deliveryId,
    repo: repoRef(repository),
    branch: run.head_branch,
    defaultBranch: defaultBranchOf(repository),
    sha: run.head_sha,
    conclusion: ciConclusion(run.conclusion),
    ...(actor && { actor }),
  };
  return { kind: 'events', events: [event] };
}

export function normalizeCheckSuite(body: unknown, deliveryId: string): Parsed {
  const e = parseOr(CheckSuiteSchema, body, 'check_suite');
  return ciCompleted('check_suite', e.action, e.check_suite, e.repository, deliveryId, e.sender?.login);
}

export function normalizeWorkflowRun(body: unknown, deliveryId: string): Parsed {
  const e = parseOr(WorkflowRunSchema, body, 'workflow_run');
  return ciCompleted('workflow_run', e.action, e.workflow_run, e.repository, deliveryId, e.workflow_run.actor?.login ?? e.sender?.login);
}

/** Who caused the delivery, for loop safety: the sender, and for CI runs whoever triggered them. */
export function causedBy(body: unknown): string[] {
  if (typeof body !== 'object' || body === null) return [];
  const b = body as { sender?: { login?: unknown }; pusher?: { name?: unknown }; workflow_run?: { actor?: { login?: unknown }; triggering_actor?: { login?: unknown } } };
  return [b.sender?.login, b.pusher?.name, b.workflow_run?.actor?.login, b.workflow_run?.triggering_actor?.login].filter((x): x is string => typeof x === 'string');
}


