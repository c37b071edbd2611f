/**
 * The GitLab forge: REST v4 through @gitbeaker/rest, plus one GraphQL query to read many files at once.
 * `repo` is the project's full path (`group/sub/name`), which GitLab accepts URL-encoded as the project id.
 */

import { Gitlab } from '@gitbeaker/rest';
import { z } from 'zod';
import type { FileChange } from '../../core/changeset.js';
import type { ChatOpsMergeRequest, CiVerdict, CommitMergeRequest, CommitState, CommitStatus, Forge, LoggedCommit, MergeRequestRef, MergeRequestSpec, MergeRequestState, Reaction, ReviewPort, Role, Snapshot, WriteRequest, WriteResult } from '../types.js';
import { ForgeError } from '../types.js';
import type { RetryPolicy } from './http.js';
import { DEFAULT_RETRY, GitlabApiError, gitbeakerRequester, requestWithRetry } from './http.js';
import { GITLAB_MAX_COMPLEXITY, complexityLimitFrom, pathsPerReadQuery, readQuery } from './read-query.js';

export interface GitlabForgeOptions {
  /** Instance URL, e.g. `https://gitlab.com` (no `/api/v4`). */
  url: string;
  token: string;
  /** Username of the token's user; asked of `GET /user` once when not given. */
  botUsername?: string;
  retry?: Partial<RetryPolicy>;
  /**
   * Upper bound on paths per GraphQL read. The adapter already sends no more than GitLab's complexity
   * limit allows (read-query.ts); this only lowers it further.
   */
  pathsPerQuery?: number;
  now?: () => number;
}

/** GitLab note bodies are limited to 1,000,000 characters. */
export const GITLAB_NOTE_LIMIT = 1_000_000;
const PAGE = 100;
const DEFAULT_BRANCH_TTL_MS = 5 * 60_000;
const META_CACHE_LIMIT = 20_000;
/** How long a head learned by ensureBranch stands in for the next read's branch lookup. */
const HEAD_HANDOFF_MS = 10_000;

const SAFE_PATH = (p: string): boolean =>
  p.length > 0 && p.length <= 4096 && !/[\0\n\r]/.test(p) && !p.startsWith('/') && !p.split('/').some((s) => s === '..' || s === '.' || s === '');
const PROJECT_PATH = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*(\/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+$/;
const USERNAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}$/;
const SHA = /^[0-9a-f]{40}$|^[0-9a-f]{64}$/;

function assertRepo(repo: string): void {
  if (!PROJECT_PATH.test(repo) || repo.split('/').some((s) => s.endsWith('.git') || s.startsWith('.'))) throw new ForgeError(`invalid GitLab project path ${JSON.stringify(repo.slice(0, 200))}`, 422);
}

function assertBranch(branch: string): void {
  // git check-ref-format rules that matter for an API call; GitLab checks the rest and answers 400.
  if (branch === '' || branch.length > 255 || branch.startsWith('-') || branch.startsWith('/') || branch.endsWith('/') || branch.endsWith('.lock') || /\.\.|[\0-\x20\x7f~^:?*[\\]|@\{|\/\//.test(branch)) {
    throw new ForgeError(`invalid branch name ${JSON.stringify(branch.slice(0, 200))}`, 422);
  }
}

function assertPath(path: string): void {
  if (!SAFE_PATH(path)) throw new ForgeError(`path ${JSON.stringify(path.slice(0, 200))} is not inside the repository`, 422);
}

/**
 * A whole number as GitLab sends it: REST and GraphQL `Int` fields as JSON numbers, GraphQL `BigInt`
 * fields (e.g. `RepositoryBlob.size`) as strings of digits. Every numeric field the adapter reads goes
 * through this, so a field GitLab retypes from `Int` to `BigInt` keeps working.
 */
const Whole = z.union([z.number().int(), z.string().regex(/^-?\d{1,20}$/)]).transform((v) => (typeof v === 'number' ? v : Number(v)));

const BranchSchema = z.object({ commit: z.object({ id: z.string().regex(SHA) }) });
const ProjectSchema = z.object({ default_branch: z.string().nullish() });
const CommitSchema = z.object({ id: z.string().regex(SHA), parent_ids: z.array(z.string()).optional(), web_url: z.string().optional() });
const TreeSchema = z.array(z.object({ path: z.string(), type: z.string() }));
const MergeRequestSchema = z.object({ iid: Whole, web_url: z.string(), title: z.string(), description: z.string().nullish(), target_branch: z.string(), source_branch: z.string().optional(), state: z.string().optional() });
const CommitMergeRequestSchema = z.object({
  iid: Whole,
  web_url: z.string(),
  title: z.string(),
  state: z.string(),
  sha: z.string().nullish(),
  merge_commit_sha: z.string().nullish(),
  squash_commit_sha: z.string().nullish(),
});
const ListedCommitSchema = z.object({ id: z.string().regex(SHA), message: z.string() });
const NoteSchema = z.object({ id: Whole, body: z.string(), system: z.boolean().optional(), author: z.object({ username: z.string() }).optional() });
const StatusSchema = z.object({ name: z.string().nullish(), status: z.string(), description: z.string().nullish(), target_url: z.string().nullish() });
const MergeRequestDetailSchema = z.object({
  iid: Whole,
  state: z.string(),
  author: z.object({ username: z.string() }),
  sha: z.string().nullish(),
  source_project_id: Whole,
  target_project_id: Whole,
});
const PipelineSchema = z.object({ id: Whole, status: z.string() });
const JobStatusSchema = z.object({ name: z.string().nullish(), status: z.string(), allow_failure: z.boolean().optional() });
const CommitMessageSchema = z.object({ id: z.string().regex(SHA), message: z.string() });
/** Pipeline and job states GitLab still moves on from. */
const GITLAB_RUNNING = new Set(['created', 'waiting_for_resource', 'preparing', 'pending', 'running', 'scheduled', 'manual', 'waiting_for_callback']);
const UserSchema = z.object({ id: Whole, username: z.string(), state: z.string().optional() });
const MemberSchema = z.object({ access_level: Whole, state: z.string().optional() });

const GraphqlReadSchema = z.object({
  data: z
    .object({
      project: z
        .object({
          repository: z
            .record(
              z.string(),
              z
                .object({
                  nodes: z.array(z.object({ path: z.string(), size: Whole.nullish(), rawTextBlob: z.string().nullish() }).nullable()).optional(),
                  lastCommit: z.object({ sha: z.string() }).nullish(),
                })
                .nullable(),
            )
            .nullish(),
        })
        .nullish(),
    })
    .nullish(),
  errors: z.array(z.object({ message: z.string() })).optional(),
});

interface PathMeta {
  exists: boolean;
  /** The last commit that touched the path, as of the read head: GitLab's `last_commit_id` guard. */
  lastCommit?: string;
  content?: string;
}

/** GitLab access levels onto Baton's roles (docs/gitlab.md explains the choice). */
export function roleFromAccessLevel(level: number): Role {
  if (level >= 50) return 'admin';
  if (level >= 40) return 'maintain';
  if (level >= 30) return 'write';
  if (level >= 20) return 'triage';
  if (level >= 5) return 'read';
  return 'none';
}

/** The port's four states onto GitLab's commit status states. */
export function gitlabState(state: CommitState): 'pending' | 'running' | 'success' | 'failed' | 'canceled' {
  switch (state) {
    case 'pending':
      return 'pending';
    case 'success':
      return 'success';
    // GitLab has no "error": Baton failing to act is a failure to the reader; `canceled` would say someone stopped it.
    case 'failure':
    case 'error':
      return 'failed';
  }
}

export function truncateNote(text: string, limit = GITLAB_NOTE_LIMIT): string {
  // GitLab counts characters (Ruby String#length: code points), so measure the same way.
  const chars = Array.from(text);
  if (chars.length <= limit) return text;
  const note = '\n\n…\n\n_Truncated: this report is longer than GitLab allows in one note._';
  return chars.slice(0, limit - Array.from(note).length).join('') + note;
}

type GitlabClient = InstanceType<typeof Gitlab>;

export class GitlabForge implements Forge {
  readonly kind = 'gitlab' as const;
  readonly reviews: ReviewPort;
  readonly api: GitlabClient;
  private readonly policy: RetryPolicy;
  private readonly base: string;
  private readonly meta = new Map<string, PathMeta>();
  private readonly defaults = new Map<string, { branch: string; at: number }>();
  /** Heads ensureBranch just learned, for the read that follows it (repo\0branch → head). */
  private readonly handoff = new Map<string, { head: string; at: number }>();
  private readonly pathsPerQuery: number;
  /** GitLab's complexity limit as the adapter knows it; lowered if GitLab ever names a lower one. */
  private complexityLimit = GITLAB_MAX_COMPLEXITY;
  /** Set only if GitLab refuses a query the cost model let through: then halve until it passes. */
  private learnedCap: number | undefined;
  private readonly now: () => number;
  private me: Promise<string> | undefined;

  constructor(private readonly options: GitlabForgeOptions) {
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.base = options.url.replace(/\/+$/, '');
    this.pathsPerQuery = Math.max(1, options.pathsPerQuery ?? 100);
    this.now = options.now ?? Date.now;
    this.api = new Gitlab({ host: this.base, token: options.token, requesterFn: gitbeakerRequester(this.policy) });
    this.reviews = new GitlabReviews(this);
  }

  /** Username of the token's user (notes Baton may edit are the ones it wrote). */
  botUsername(): Promise<string> {
    if (this.options.botUsername) return Promise.resolve(this.options.botUsername);
    this.me ??= (async () => UserSchema.parse(await this.api.Users.showCurrentUser()).username)();
    return this.me;
  }

  async commitsTouching(repo: string, branch: string, path: string, limit: number): Promise<{ sha: string; message: string }[]> {
    assertRepo(repo);
    assertBranch(branch);
    assertPath(path);
    const raw = await this.api.Commits.all(repo, { refName: branch, path, perPage: Math.min(PAGE, Math.max(1, limit)), maxPages: 1 });
    return z.array(CommitMessageSchema).parse(raw).map((c) => ({ sha: c.id, message: c.message }));
  }

  async headOf(repo: string, branch: string): Promise<string | undefined> {
    assertRepo(repo);
    assertBranch(branch);
    try {
      return BranchSchema.parse(await this.api.Branches.show(repo, branch)).commit.id;
    } catch (e) {
      if (e instanceof GitlabApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  private async requireHead(repo: string, branch: string): Promise<string> {
    const head = await this.headOf(repo, branch);
    if (!head) throw new ForgeError(`branch ${JSON.stringify(branch)} does not exist in ${repo}`, 404);
    return head;
  }

  async recentCommits(repo: string, branch: string, limit: number): Promise<LoggedCommit[]> {
    assertRepo(repo);
    assertBranch(branch);
    const perPage = Math.min(PAGE, limit);
    try {
      const raw = await this.api.Commits.all(repo, { refName: branch, perPage, maxPages: Math.ceil(limit / perPage) });
      return z
        .array(ListedCommitSchema)
        .parse(raw)
        .slice(0, limit)
        .map((c) => ({ sha: c.id, message: c.message }));
    } catch (e) {
      if (e instanceof GitlabApiError && e.status === 404) return [];
      throw e;
    }
  }

  async defaultBranch(repo: string): Promise<string> {
    assertRepo(repo);
    const cached = this.defaults.get(repo);
    if (cached && this.now() - cached.at < DEFAULT_BRANCH_TTL_MS) return cached.branch;
    const branch = ProjectSchema.parse(await this.api.Projects.show(repo)).default_branch;
    if (!branch) throw new ForgeError(`${repo} has no default branch (empty repository?)`, 409);
    this.defaults.set(repo, { branch, at: this.now() });
    return branch;
  }

  /**
   * The branch head, then GraphQL queries at that immutable commit for every blob and each path's last
   * commit, as many paths per query as GitLab's complexity limit allows (17 with contents). Reading at
   * the sha, not the branch name, keeps the files and the head from the same moment. Right after
   * ensureBranch on the same branch, the head it returned is used instead of asking again.
   */
  async readFiles(repo: string, branch: string, paths: string[]): Promise<Snapshot> {
    assertRepo(repo);
    assertBranch(branch);
    for (const p of paths) assertPath(p);
    const head = this.takeHandoff(repo, branch) ?? (await this.requireHead(repo, branch));
    const metas = await this.pathMeta(repo, head, [...new Set(paths)], true);
    const files: Record<string, string | null> = {};
    for (const p of paths) files[p] = metas.get(p)?.exists ? (metas.get(p)?.content ?? null) : null;
    return { head, files };
  }

  private takeHandoff(repo: string, branch: string): string | undefined {
    const key = `${repo}\0${branch}`;
    const known = this.handoff.get(key);
    this.handoff.delete(key);
    // Reading at a head a moment old is the same race as a push landing just after the lookup: the write's
    // last_commit_id guard catches any change to a file Baton writes.
    return known && this.now() - known.at < HEAD_HANDOFF_MS ? known.head : undefined;
  }

  private handOver(repo: string, branch: string, head: string): string {
    this.handoff.set(`${repo}\0${branch}`, { head, at: this.now() });
    if (this.handoff.size > 1_000) {
      const oldest = this.handoff.keys().next().value;
      if (oldest !== undefined) this.handoff.delete(oldest);
    }
    return head;
  }

  /** Paths per read query: what GitLab's complexity and size limits allow, under the configured bound. */
  private chunkSize(withContent: boolean): number {
    return Math.min(this.pathsPerQuery, pathsPerReadQuery(withContent, this.complexityLimit), this.learnedCap ?? Number.POSITIVE_INFINITY);
  }

  private metaKey(repo: string, commit: string, path: string): string {
    return `${repo}\0${commit}\0${path}`;
  }

  private remember(key: string, meta: PathMeta): void {
    // Only what write() needs is kept: whether the path exists and its last commit, not the contents.
    this.meta.set(key, { exists: meta.exists, ...(meta.lastCommit && { lastCommit: meta.lastCommit }) });
    if (this.meta.size > META_CACHE_LIMIT) {
      const oldest = this.meta.keys().next().value;
      if (oldest !== undefined) this.meta.delete(oldest);
    }
  }

  /** Existence, last commit and (with `withContent`) contents of each path at `commit`. */
  private async pathMeta(repo: string, commit: string, paths: string[], withContent: boolean): Promise<Map<string, PathMeta>> {
    const out = new Map<string, PathMeta>();
    const todo = withContent ? paths : paths.filter((p) => !this.meta.has(this.metaKey(repo, commit, p)));
    for (const p of paths) {
      const known = this.meta.get(this.metaKey(repo, commit, p));
      if (!withContent && known) out.set(p, known);
    }
    for (let i = 0; i < todo.length; ) {
      const size = this.chunkSize(withContent);
      const chunk = todo.slice(i, i + size);
      let result: Map<string, PathMeta>;
      try {
        result = await this.queryPaths(repo, commit, chunk, withContent);
      } catch (e) {
        // The chunk was sized by GitLab's published rules; if GitLab still refuses, believe the limit it
        // names, and if the rules themselves are off, halve until a query passes.
        if (e instanceof GraphqlComplexityError && chunk.length > 1) {
          const named = complexityLimitFrom(e.message);
          if (named !== undefined && named < this.complexityLimit) this.complexityLimit = named;
          if (this.chunkSize(withContent) >= chunk.length) this.learnedCap = Math.max(1, Math.floor(chunk.length / 2));
          continue;
        }
        throw e;
      }
      for (const [p, m] of result) {
        out.set(p, m);
        this.remember(this.metaKey(repo, commit, p), m);
      }
      i += chunk.length;
    }
    return out;
  }

  private async queryPaths(repo: string, commit: string, paths: string[], withContent: boolean): Promise<Map<string, PathMeta>> {
    // Paths travel as variables, never spliced into the query text.
    const vars: Record<string, unknown> = { fullPath: repo, ref: commit, paths };
    paths.forEach((p, i) => {
      vars[`p${i}`] = p;
    });
    const query = readQuery(paths.length, withContent);
    const res = await requestWithRetry(
      new URL(`${this.base}/api/graphql`),
      { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` }, body: JSON.stringify({ query, variables: vars }) },
      this.policy,
    );
    const parsed = GraphqlReadSchema.safeParse(res.body);
    if (!parsed.success) throw new ForgeError('GitLab GraphQL answered with an unexpected shape', 502);
    const errors = parsed.data.errors ?? [];
    if (errors.some((e) => /complexity|too many/i.test(e.message))) throw new GraphqlComplexityError(errors[0]?.message ?? '');
    if (errors.length > 0) throw new ForgeError(`GitLab GraphQL: ${errors[0]?.message.slice(0, 300)}`, 502);
    const repository = parsed.data.data?.project?.repository;
    if (!repository) throw new ForgeError(`project ${repo} not found, or the token cannot read its repository`, 404);
    const blobs = new Map<string, { size: number | null | undefined; text: string | null | undefined }>();
    for (const n of repository['blobs']?.nodes ?? []) if (n) blobs.set(n.path, { size: n.size, text: n.rawTextBlob });
    const out = new Map<string, PathMeta>();
    paths.forEach((p, i) => {
      const blob = blobs.get(p);
      const lastCommit = repository[`c${i}`]?.lastCommit?.sha;
      if (!blob) {
        out.set(p, { exists: false });
        return;
      }
      const meta: PathMeta = { exists: true, ...(lastCommit && { lastCommit }) };
      if (withContent) {
        if (blob.text === null || blob.text === undefined) throw new ForgeError(`${p} is not a text file`, 422);
        // GitLab may cut large blobs short; writing back a truncated file would destroy it.
        if (blob.size !== null && blob.size !== undefined && Buffer.byteLength(blob.text, 'utf8') !== blob.size) throw new ForgeError(`${p} is too large to read through GitLab's GraphQL API`, 413);
        meta.content = blob.text;
      }
      out.set(p, meta);
    });
    return out;
  }

  async listFiles(repo: string, branch: string, prefix?: string): Promise<{ head: string; paths: string[] }> {
    assertRepo(repo);
    const dir = prefix?.replace(/\/+$/, '');
    if (dir) assertPath(dir);
    const head = await this.requireHead(repo, branch);
    let raw: unknown;
    try {
      raw = await this.api.Repositories.allRepositoryTrees(repo, { ref: head, recursive: true, perPage: PAGE, ...(dir && { path: dir }) });
    } catch (e) {
      if (e instanceof GitlabApiError && e.status === 404) return { head, paths: [] };
      throw e;
    }
    const paths = TreeSchema.parse(raw)
      .filter((e) => e.type === 'blob')
      .map((e) => e.path)
      .sort();
    return { head, paths };
  }

  /**
   * One commit through the Commits API. Each update and delete names the file's last commit as of the
   * planned head (`last_commit_id`), and a create fails if the file appeared since: GitLab then answers
   * 400 and nothing is written, which is reported as stale.
   */
  async write(repo: string, req: WriteRequest): Promise<WriteResult> {
    assertRepo(repo);
    assertBranch(req.branch);
    if (!SHA.test(req.expectedHead)) throw new ForgeError('expectedHead must be a full commit id', 422);
    const last = new Map<string, FileChange>();
    for (const c of req.changes) {
      assertPath(c.path);
      last.set(c.path, c);
    }
    if (last.size === 0) return { status: 'committed', commit: req.expectedHead };
    const metas = await this.pathMeta(repo, req.expectedHead, [...last.keys()], false);
    const actions: { action: 'create' | 'update' | 'delete'; filePath: string; content?: string; lastCommitId?: string }[] = [];
    for (const [path, c] of last) {
      const m = metas.get(path) ?? { exists: false };
      if (c.type === 'write') actions.push(m.exists ? { action: 'update', filePath: path, content: c.contents, ...(m.lastCommit && { lastCommitId: m.lastCommit }) } : { action: 'create', filePath: path, content: c.contents });
      else if (m.exists) actions.push({ action: 'delete', filePath: path, ...(m.lastCommit && { lastCommitId: m.lastCommit }) });
    }
    if (actions.length === 0) return { status: 'committed', commit: req.expectedHead };
    // Rebuilding a rolling branch: GitLab's Commits API starts the commit from `start_sha` and, with
    // `force`, moves the existing branch to it — one call, no window with the branch elsewhere.
    if (req.replace !== undefined) {
      const now = await this.headOf(repo, req.branch);
      if ((now ?? null) !== req.replace) return { status: 'stale', ...(now && { head: now }) };
    }
    const start = req.replace !== undefined ? { startSha: req.expectedHead, ...(req.replace !== null && { force: true }) } : undefined;
    try {
      const created = CommitSchema.parse(await this.api.Commits.create(repo, req.branch, req.message, actions, start));
      return { status: 'committed', commit: created.id, ...(created.web_url && { url: created.web_url }) };
    } catch (e) {
      if (e instanceof GitlabApiError && e.status === 400) {
        if (/has changed since you started editing it|already exists|doesn't exist|does not exist/i.test(e.gitlabMessage)) return { status: 'stale' };
        if (/on a branch/i.test(e.gitlabMessage)) throw new ForgeError(`branch ${JSON.stringify(req.branch)} does not exist in ${repo}`, 404);
      }
      throw e;
    }
  }

  /** The branch's head, creating it from `from` if absent; the head is handed to the next readFiles of it. */
  async ensureBranch(repo: string, branch: string, from: string): Promise<string> {
    const existing = await this.headOf(repo, branch);
    if (existing) return this.handOver(repo, branch, existing);
    if (!SHA.test(from)) assertBranch(from);
    try {
      return this.handOver(repo, branch, BranchSchema.parse(await this.api.Branches.create(repo, branch, from)).commit.id);
    } catch (e) {
      // Another writer created it between the two calls.
      if (e instanceof GitlabApiError && e.status === 400 && /already exists/i.test(e.gitlabMessage)) return this.handOver(repo, branch, await this.requireHead(repo, branch));
      throw e;
    }
  }
}

class GraphqlComplexityError extends ForgeError {
  constructor(message: string) {
    super(`GitLab GraphQL: ${message.slice(0, 300)}`, 400);
  }
}

type OpenMergeRequest = z.infer<typeof MergeRequestSchema>;

class GitlabReviews implements ReviewPort {
  /** The open rolling MR per source branch as last seen (repo\0branch → MR), so a later bump edits it directly. */
  private readonly openMrs = new Map<string, OpenMergeRequest>();

  constructor(private readonly forge: GitlabForge) {}

  private rememberOpen(key: string, mr: OpenMergeRequest): void {
    this.openMrs.delete(key);
    this.openMrs.set(key, mr);
    if (this.openMrs.size > 1_000) {
      const oldest = this.openMrs.keys().next().value;
      if (oldest !== undefined) this.openMrs.delete(oldest);
    }
  }

  private get api(): GitlabClient {
    return this.forge.api;
  }

  async ensureMergeRequest(repo: string, spec: MergeRequestSpec): Promise<MergeRequestRef> {
    assertRepo(repo);
    assertBranch(spec.sourceBranch);
    assertBranch(spec.targetBranch);
    // GitLab caps titles at 255 characters and descriptions at 1,048,576.
    const title = Array.from(spec.title).slice(0, 255).join('');
    const description = truncateNote(spec.body, GITLAB_NOTE_LIMIT);
    const key = `${repo}\0${spec.sourceBranch}`;
    const known = this.openMrs.get(key);
    if (known && known.target_branch === spec.targetBranch && (known.title !== title || (known.description ?? '') !== description)) {
      // A later bump: edit the MR seen last time without listing first. GitLab answers with the MR's
      // state; if it was closed or merged meanwhile, forget it and look for (or open) the current one.
      try {
        const edited = MergeRequestSchema.parse(await this.api.MergeRequests.edit(repo, known.iid, { title, description, targetBranch: spec.targetBranch }));
        if (edited.state === 'opened' && (edited.source_branch === undefined || edited.source_branch === spec.sourceBranch)) {
          this.rememberOpen(key, edited);
          return { number: edited.iid, url: edited.web_url, created: false };
        }
      } catch (e) {
        if (!(e instanceof GitlabApiError && e.status === 404)) throw e;
      }
    }
    this.openMrs.delete(key);
    const findOpen = async (): Promise<OpenMergeRequest | undefined> => {
      const raw = await this.api.MergeRequests.all({ projectId: repo, state: 'opened', sourceBranch: spec.sourceBranch, perPage: PAGE, maxPages: 1 });
      return z.array(MergeRequestSchema).parse(raw)[0];
    };
    let open = await findOpen();
    if (!open) {
      try {
        const created = MergeRequestSchema.parse(await this.api.MergeRequests.create(repo, spec.sourceBranch, spec.targetBranch, title, { description, removeSourceBranch: true }));
        this.rememberOpen(key, created);
        return { number: created.iid, url: created.web_url, created: true };
      } catch (e) {
        // 409 "Another open merge request already exists for this source branch": a concurrent writer won.
        if (!(e instanceof GitlabApiError && e.status === 409)) throw e;
        open = await findOpen();
        if (!open) throw e;
      }
    }
    if (open.title !== title || (open.description ?? '') !== description || open.target_branch !== spec.targetBranch) {
      open = MergeRequestSchema.parse(await this.api.MergeRequests.edit(repo, open.iid, { title, description, targetBranch: spec.targetBranch }));
    }
    this.rememberOpen(key, open);
    return { number: open.iid, url: open.web_url, created: false };
  }

  async mergeRequestState(repo: string, sourceBranch: string): Promise<MergeRequestState> {
    assertRepo(repo);
    assertBranch(sourceBranch);
    const raw = await this.api.MergeRequests.all({ projectId: repo, sourceBranch, orderBy: 'created_at', sort: 'desc', perPage: 1, maxPages: 1 });
    const newest = z.array(MergeRequestSchema).parse(raw)[0];
    if (!newest) return 'none';
    return newest.state === 'opened' || newest.state === 'locked' ? 'open' : newest.state === 'merged' ? 'merged' : 'closed';
  }

  async upsertComment(repo: string, number: number, marker: string, body: string): Promise<{ id: string; changed: boolean }> {
    assertRepo(repo);
    if (!Number.isSafeInteger(number) || number <= 0) throw new ForgeError(`invalid merge request number ${number}`, 422);
    if (marker.trim() === '') throw new ForgeError('a sticky comment needs a marker', 422);
    const text = truncateNote(body.includes(marker) ? body : `${marker}\n${body}`);
    const mine = await this.mine(repo, number, marker);
    if (mine) {
      if (mine.body === text) return { id: String(mine.id), changed: false };
      await this.api.MergeRequestNotes.edit(repo, number, mine.id, { body: text });
      return { id: String(mine.id), changed: true };
    }
    const created = NoteSchema.parse(await this.api.MergeRequestNotes.create(repo, number, text));
    return { id: String(created.id), changed: true };
  }

  private async mine(repo: string, number: number, marker: string): Promise<z.infer<typeof NoteSchema> | undefined> {
    const me = await this.forge.botUsername();
    // gitbeaker follows every `Link: rel="next"` page: on a busy MR Baton's note can be far from the first 100.
    const notes = z.array(NoteSchema).parse(await this.api.MergeRequestNotes.all(repo, number, { sort: 'asc', orderBy: 'created_at', perPage: PAGE }));
    // Anyone can quote the marker; only a note Baton wrote is Baton's to edit.
    return notes.find((n) => !n.system && n.body.includes(marker) && n.author?.username === me);
  }

  async findComment(repo: string, number: number, marker: string): Promise<{ id: string; body: string } | undefined> {
    assertRepo(repo);
    if (!Number.isSafeInteger(number) || number <= 0) throw new ForgeError(`invalid merge request number ${number}`, 422);
    const mine = await this.mine(repo, number, marker);
    return mine ? { id: String(mine.id), body: mine.body } : undefined;
  }

  async react(repo: string, commentId: string, reaction: Reaction, number?: number): Promise<void> {
    assertRepo(repo);
    if (number === undefined || !Number.isSafeInteger(number) || number <= 0) throw new ForgeError('GitLab needs the merge request number to react', 422);
    try {
      if (/^\d{1,20}$/.test(commentId)) await this.api.MergeRequestNoteAwardEmojis.award(repo, number, Number(commentId), reaction);
      else if (commentId === '') await this.api.MergeRequestAwardEmojis.award(repo, number, reaction);
      else throw new ForgeError(`invalid note id ${JSON.stringify(commentId.slice(0, 40))}`, 422);
    } catch (e) {
      // GitLab answers 404 "has already been taken" when the emoji is already there: the goal is met.
      if (e instanceof GitlabApiError && e.status === 404 && /already been taken/i.test(e.gitlabMessage)) return;
      throw e;
    }
  }

  async setStatus(repo: string, status: CommitStatus): Promise<void> {
    assertRepo(repo);
    if (!SHA.test(status.sha)) throw new ForgeError('a status needs a full commit id', 422);
    const state = gitlabState(status.state);
    const description = Array.from(status.description).slice(0, 255).join('');
    const targetUrl = status.targetUrl ?? null;
    const raw = await this.api.Commits.allStatuses(repo, status.sha, { name: status.context });
    const latest = z.array(StatusSchema).parse(raw).find((s) => s.name === status.context);
    if (latest && latest.status === state && (latest.description ?? '') === description && (latest.target_url ?? null) === targetUrl) return;
    try {
      await this.api.Commits.editStatus(repo, status.sha, state, { name: status.context, description, ...(targetUrl !== null && { targetUrl }) });
    } catch (e) {
      // "Cannot transition status via :run from :running": the status is already in that state.
      if (e instanceof GitlabApiError && e.status === 400 && /cannot transition status/i.test(e.gitlabMessage)) return;
      throw e;
    }
  }

  async mergeRequestsForCommit(repo: string, sha: string): Promise<CommitMergeRequest[]> {
    assertRepo(repo);
    if (!/^[0-9a-f]{7,40}$/.test(sha)) throw new ForgeError('a commit lookup needs a hex commit id', 422);
    const raw = await this.api.Commits.allMergeRequests(repo, sha, { perPage: PAGE, maxPages: 1 });
    return z
      .array(CommitMergeRequestSchema)
      .parse(raw)
      .map((m) => ({
        number: m.iid,
        url: m.web_url,
        title: m.title,
        state: m.state === 'merged' ? 'merged' : m.state === 'opened' ? 'open' : 'closed',
        shas: [m.sha, m.merge_commit_sha, m.squash_commit_sha].filter((x): x is string => typeof x === 'string' && x !== ''),
      }));
  }

  async roleOf(repo: string, user: string): Promise<Role> {
    assertRepo(repo);
    if (!USERNAME.test(user)) return 'none';
    const users = z.array(UserSchema).parse(await this.api.Users.all({ username: user, maxPages: 1 }));
    const found = users.find((u) => u.username.toLowerCase() === user.toLowerCase());
    if (!found || (found.state !== undefined && found.state !== 'active')) return 'none';
    try {
      const member = MemberSchema.parse(await this.api.ProjectMembers.show(repo, found.id, { includeInherited: true }));
      if (member.state !== undefined && member.state !== 'active') return 'none';
      return roleFromAccessLevel(member.access_level);
    } catch (e) {
      if (e instanceof GitlabApiError && e.status === 404) return 'none';
      throw e;
    }
  }

  async mergeRequest(repo: string, number: number): Promise<ChatOpsMergeRequest> {
    assertRepo(repo);
    if (!Number.isSafeInteger(number) || number <= 0) throw new ForgeError(`invalid merge request number ${number}`, 422);
    const mr = MergeRequestDetailSchema.parse(await this.api.MergeRequests.show(repo, number));
    if (!mr.sha) throw new ForgeError(`merge request !${number} has no head commit yet`, 409);
    return {
      number: mr.iid,
      author: mr.author.username,
      headSha: mr.sha,
      fromFork: mr.source_project_id !== mr.target_project_id,
      state: mr.state === 'merged' ? 'merged' : mr.state === 'opened' ? 'open' : 'closed',
    };
  }

  /** The newest pipeline for the commit, and every commit status (jobs and external CI) beside it. */
  async resolveCommit(repo: string, sha: string): Promise<string | undefined> {
    assertRepo(repo);
    if (!/^[0-9a-f]{7,40}$/.test(sha)) return undefined;
    try {
      return z.object({ id: z.string().regex(SHA) }).parse(await this.api.Commits.show(repo, sha)).id;
    } catch (e) {
      if (e instanceof GitlabApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  async ciVerdict(repo: string, sha: string): Promise<CiVerdict> {
    assertRepo(repo);
    if (!SHA.test(sha)) throw new ForgeError('a CI check needs a full commit id', 422);
    const pipelines = z.array(PipelineSchema).parse(await this.api.Pipelines.all(repo, { sha, orderBy: 'id', sort: 'desc', perPage: 1, maxPages: 1 }));
    const statuses = z.array(JobStatusSchema).parse(await this.api.Commits.allStatuses(repo, sha));
    const pipeline = pipelines[0];
    const failed = [
      ...(pipeline && (pipeline.status === 'failed' || pipeline.status === 'canceled') ? [`pipeline #${pipeline.id}: ${pipeline.status}`] : []),
      ...statuses.filter((s) => (s.status === 'failed' || s.status === 'canceled') && s.allow_failure !== true).map((s) => `${s.name ?? 'default'}: ${s.status}`),
    ];
    const running = [
      ...(pipeline && GITLAB_RUNNING.has(pipeline.status) ? [`pipeline #${pipeline.id}`] : []),
      ...statuses.filter((s) => GITLAB_RUNNING.has(s.status)).map((s) => s.name ?? 'default'),
    ];
    const names = (xs: string[]): string => Array.from(xs.slice(0, 5).join(', ')).slice(0, 200).join('') + (xs.length > 5 ? ` and ${xs.length - 5} more` : '');
    if (failed.length > 0) return { state: 'failure', summary: names(failed) };
    if (running.length > 0) return { state: 'pending', summary: `waiting for ${names(running)}` };
    if (!pipeline && statuses.length === 0) return { state: 'none', summary: 'no pipeline or status' };
    return { state: 'success', summary: pipeline ? `pipeline #${pipeline.id} passed` : `${statuses.length} statuses passed` };
  }
}
