/** The Forge port: everything Baton does to a git host goes through one of these. */

import type { FileChange } from '../core/changeset.js';

/** Files read at one commit. `null` means the path does not exist at that commit. */
export interface Snapshot {
  /** The commit the files were read at (the branch head at read time). */
  head: string;
  files: Record<string, string | null>;
}

export interface WriteRequest {
  branch: string;
  /** The head the changes were planned on; the write fails as `stale` if the branch moved. */
  expectedHead: string;
  changes: FileChange[];
  message: string;
  /**
   * Rebuild instead of extend: the new commit's parent is `expectedHead` (the base branch's head,
   * not necessarily an ancestor of `branch`), and `branch` is moved to it although that is no
   * fast-forward — only Baton's own rolling branches are written this way. The value is the head
   * `branch` is expected to have now (`null`: it does not exist); a branch that moved meanwhile
   * makes the write `stale` where the forge can tell.
   */
  replace?: string | null;
}

export type WriteResult =
  | { status: 'committed'; commit: string; url?: string }
  | { status: 'stale'; head?: string };

export type Role = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

export interface MergeRequestSpec {
  sourceBranch: string;
  targetBranch: string;
  title: string;
  body: string;
}

/** The newest merge request from a source branch: what became of the rolling MR. */
export type MergeRequestState = 'open' | 'merged' | 'closed' | 'none';

/** The open merge request from a branch as a read saw it, so an unchanged one needs no call. */
export interface OpenMergeRequest {
  /** The forge's id for it (GitHub: the pull request's node id). */
  id: string;
  number: number;
  url: string;
  title: string;
  body: string;
  targetBranch: string;
}

/** The base branch, the rolling branch and the rolling MR, as one read saw them. */
export interface RollingSnapshot {
  base: Snapshot;
  /** undefined when the rolling branch does not exist. */
  rolling?: Snapshot;
  /** The newest merge request from the rolling branch. */
  state: MergeRequestState;
  /** The open one (`state` is `open`), `null` when none is open, undefined when the read cannot tell. */
  open?: OpenMergeRequest | null;
}

export interface MergeRequestRef {
  number: number;
  url: string;
  /** true when this call opened it, false when an open one was updated. */
  created: boolean;
}

export type CommitState = 'pending' | 'success' | 'failure' | 'error';

export interface CommitStatus {
  sha: string;
  /** `baton/<env>` */
  context: string;
  state: CommitState;
  description: string;
  targetUrl?: string;
}

export type Reaction = 'eyes' | 'rocket' | 'confused';

/** A merge request a commit belongs to (merged as it, or open and containing it). */
export interface CommitMergeRequest {
  number: number;
  url: string;
  title: string;
  state: 'open' | 'merged' | 'closed';
  /** Commits that identify it: its head, and the merge (or squash) commit once merged. */
  shas: string[];
}

/** One commit of a branch's history, newest first. */
export interface LoggedCommit {
  sha: string;
  message: string;
}

/** A merge request as ChatOps needs it: whose it is, where its head lives, which commit it builds. */
export type ChatOpsMergeRequest = Pick<MergeRequestInfo, 'number' | 'author' | 'headSha' | 'fromFork' | 'state'>;

/** CI's verdict on one commit, every check and status combined. `none`: nothing has reported yet. */
export interface CiVerdict {
  state: 'success' | 'pending' | 'failure' | 'none';
  /** What a person reads: which checks failed or are still running. */
  summary: string;
}

/**
 * Review-side operations: merge requests, the sticky comment, reactions, statuses and roles.
 * Plain git has none of these, so they live apart from the file operations.
 */
export interface ReviewPort {
  /**
   * Open a merge request from sourceBranch, or update the open one in place (only when its text or
   * target differs). `seen` is what the caller's own read found: the open MR (compared without a
   * lookup) or `null` for none open (opened without a lookup; one opened meanwhile is still found).
   */
  ensureMergeRequest(repo: string, spec: MergeRequestSpec, seen?: OpenMergeRequest | null): Promise<MergeRequestRef>;
  /** State of the newest merge request from `sourceBranch` (`none` when there never was one). */
  mergeRequestState(repo: string, sourceBranch: string): Promise<MergeRequestState>;
  /** Create or edit (only if the text changed) the one comment carrying `marker` on MR `number`. */
  upsertComment(repo: string, number: number, marker: string, body: string): Promise<{ id: string; changed: boolean }>;
  react(repo: string, commentId: string, reaction: Reaction, number?: number): Promise<void>;
  setStatus(repo: string, status: CommitStatus): Promise<void>;
  roleOf(repo: string, user: string): Promise<Role>;
  /** The body of Baton's own comment carrying `marker` on MR `number` (every page searched), if there is one. */
  findComment?(repo: string, number: number, marker: string): Promise<{ id: string; body: string } | undefined>;
  /** Merge requests of `repo` that `sha` (full or abbreviated) was merged by or is part of. */
  mergeRequestsForCommit?(repo: string, sha: string): Promise<CommitMergeRequest[]>;
  /** The merge request `number` (ChatOps: fork check, head commit for deploy). */
  mergeRequest?(repo: string, number: number): Promise<ChatOpsMergeRequest>;
  /** The full id of a commit named by an abbreviated one (trailers carry 7 or 8 characters); undefined when unknown. */
  resolveCommit?(repo: string, sha: string): Promise<string | undefined>;
  /** The combined CI state of commit `sha` (GitHub check runs + commit statuses; GitLab pipelines + statuses). */
  ciVerdict?(repo: string, sha: string): Promise<CiVerdict>;
}

export interface Forge {
  readonly kind: 'git' | 'github' | 'gitlab';
  /** Read `paths` at the head of `branch`; the head is read in the same operation. */
  readFiles(repo: string, branch: string, paths: string[]): Promise<Snapshot>;
  /** Every file path under `prefix` (or the whole tree) at the head of `branch`. */
  listFiles(repo: string, branch: string, prefix?: string): Promise<{ head: string; paths: string[] }>;
  /** Write all changes as one commit whose parent is `expectedHead`; never forces. */
  write(repo: string, req: WriteRequest): Promise<WriteResult>;
  /**
   * Optional: the files at the heads of `baseBranch` and `rollingBranch` and the state of the
   * rolling MR, in one operation (GitHub: one GraphQL query). Forges without it are read with
   * `readFiles` twice and `reviews.mergeRequestState`.
   */
  readRolling?(repo: string, baseBranch: string, rollingBranch: string, paths: string[]): Promise<RollingSnapshot>;
  /** Head of `branch`, creating it from `from` when it does not exist. */
  ensureBranch(repo: string, branch: string, from: string): Promise<string>;
  /** Head of `branch`, or undefined when it does not exist. */
  headOf(repo: string, branch: string): Promise<string | undefined>;
  /** The repository's default branch (where `.baton.yml` lives). */
  defaultBranch(repo: string): Promise<string>;
  readonly reviews?: ReviewPort;
  /** The newest `limit` commits of `branch` with their messages (the reporter reads Baton's trailers back). */
  recentCommits?(repo: string, branch: string, limit: number): Promise<LoggedCommit[]>;
  /** Commits on `branch` that touched `path`, newest first, at most `limit` (rollback reads Baton's trailers). */
  commitsTouching?(repo: string, branch: string, path: string, limit: number): Promise<{ sha: string; message: string }[]>;
}

/** A forge call failed in a way the caller should know the HTTP-ish status of. */
export class ForgeError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ForgeError';
  }
}

/** 429/5xx and network failures: worth trying again later. */
export class RetryableError extends ForgeError {
  constructor(message: string, status = 503, readonly retryAfterMs?: number) {
    super(message, status);
    this.name = 'RetryableError';
  }
}

/**
 * Whether trying again later can help. Only a refusal the forge states for good (a 4xx other than
 * 408/409/425/429: hook declined, protected branch, permission denied, not found) is permanent;
 * anything unrecognised is retryable, since retrying is bounded by the retention window and
 * guessing "permanent" would drop work.
 */
export function failureKind(err: unknown): 'retryable' | 'permanent' {
  if (err instanceof RetryableError) return 'retryable';
  if (err instanceof ForgeError) {
    const s = err.status;
    if (s >= 400 && s < 500 && ![408, 409, 425, 429].includes(s)) return 'permanent';
  }
  return 'retryable';
}

/** A merge request on an app repository, as previews need it. */
export interface MergeRequestInfo {
  number: number;
  state: 'open' | 'closed' | 'merged';
  title: string;
  author: string;
  headSha: string;
  headBranch: string;
  /** The head lives in another repository (a fork). */
  fromFork: boolean;
  labels: string[];
  /** ISO time of the last activity the forge records (for the preview TTL). */
  updatedAt: string;
}

/** CI of one commit: `none` when no CI reported anything for it. */
export type BuildState = 'success' | 'pending' | 'failure' | 'none';

/**
 * App-repository reads for previews: an MR's state (the only ground for deleting a preview),
 * the open MRs (to re-create missing previews), the MRs of a commit, and whether a commit's CI passed.
 * Every method throws on a failed or incomplete answer; none returns a partial list.
 */
export interface AppRepoPort {
  /** undefined when the forge says the MR does not exist (404). */
  getMergeRequest(repo: string, number: number): Promise<MergeRequestInfo | undefined>;
  listOpenMergeRequests(repo: string): Promise<MergeRequestInfo[]>;
  commitMergeRequests(repo: string, sha: string): Promise<MergeRequestInfo[]>;
  buildState(repo: string, sha: string): Promise<BuildState>;
}

/** Open MRs listed at most this many pages (of 100) deep; a longer list is an error, never a partial answer. */
export const MAX_MR_PAGES = 20;
