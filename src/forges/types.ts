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

/** A merge request as ChatOps needs it: whose it is, where its head lives, which commit it builds. */
export interface MergeRequestInfo {
  number: number;
  author: string;
  headSha: string;
  /** The head branch lives in another repository (a fork). */
  fromFork: boolean;
  state: 'open' | 'closed' | 'merged';
}

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
  /** Open a merge request from sourceBranch, or update the open one in place. */
  ensureMergeRequest(repo: string, spec: MergeRequestSpec): Promise<MergeRequestRef>;
  /** Create or edit (only if the text changed) the one comment carrying `marker` on MR `number`. */
  upsertComment(repo: string, number: number, marker: string, body: string): Promise<{ id: string; changed: boolean }>;
  react(repo: string, commentId: string, reaction: Reaction, number?: number): Promise<void>;
  setStatus(repo: string, status: CommitStatus): Promise<void>;
  roleOf(repo: string, user: string): Promise<Role>;
  /** The merge request `number` (ChatOps: fork check, head commit for deploy). */
  mergeRequest?(repo: string, number: number): Promise<MergeRequestInfo>;
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
  /** Head of `branch`, creating it from `from` when it does not exist. */
  ensureBranch(repo: string, branch: string, from: string): Promise<string>;
  /** Head of `branch`, or undefined when it does not exist. */
  headOf(repo: string, branch: string): Promise<string | undefined>;
  /** The repository's default branch (where `.baton.yml` lives). */
  defaultBranch(repo: string): Promise<string>;
  readonly reviews?: ReviewPort;
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
