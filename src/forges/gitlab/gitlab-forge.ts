/**
 * The GitLab forge: REST v4 through @gitbeaker/rest, plus GraphQL to read branch heads, many files and
 * the rolling merge request at once.
 * `repo` is the project's full path (`group/sub/name`), which GitLab accepts URL-encoded as the project id.
 */

import { Gitlab } from '@gitbeaker/rest';
import { z } from 'zod';
import type { FileChange } from '../../core/changeset.js';
import type { ChatOpsMergeRequest, CiVerdict, CommitMergeRequest, CommitState, CommitStatus, Forge, LoggedCommit, MergeRequestRef, MergeRequestSpec, MergeRequestState, OpenMergeRequest, Reaction, ReviewPort, Role, RollingSnapshot, Snapshot, WriteRequest, WriteResult } from '../types.js';
import { ForgeError } from '../types.js';
import type { RetryPolicy } from './http.js';
import { DEFAULT_RETRY, GitlabApiError, gitbeakerRequester, requestWithRetry } from './http.js';
import type { ReadPlan } from './read-query.js';
import { BLOBS_MAX_PAGE, GITLAB_MAX_COMPLEXITY, buildReadQuery, complexityLimitFrom, packReads } from './read-query.js';

export interface GitlabForgeOptions {
  /** Instance URL, e.g. `https://gitlab.com` (no `/api/v4`). */
  url: string;
  token: string;
  /** Username of the token's user; asked of `GET /user` once when not given. */
  botUsername?: string;
  retry?: Partial<RetryPolicy>;
  /**
   * Upper bound on paths per `blobs` field of a GraphQL read (GitLab's page size, 100, at most). The
   * adapter already sends no more than GitLab's complexity limit allows (read-query.ts); this only
   * lowers it further.
   */
  pathsPerQuery?: number;
  now?: () => number;
}

/** GitLab note bodies are limited to 1,000,000 characters. */
export const GITLAB_NOTE_LIMIT = 1_000_000;
const PAGE = 100;
const DEFAULT_BRANCH_TTL_MS = 5 * 60_000;
const META_CACHE_LIMIT = 20_000;
/**
 * How long a head seen by a read stands for the current one: a rebuild's `force` write checks the
 * rolling branch against it instead of asking again. Longer than one read-plan-write cycle.
 */
const HEAD_FRESH_MS = 10_000;

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

const GraphqlMergeRequestSchema = z.object({ iid: Whole, state: z.string(), title: z.string(), description: z.string().nullish(), webUrl: z.string().nullish(), targetBranch: z.string() });
type GraphqlMergeRequest = z.infer<typeof GraphqlMergeRequestSchema>;
const MergeRequestConnection = z.object({ nodes: z.array(GraphqlMergeRequestSchema.nullable()).nullish() }).nullish();
const HeadSchema = z.object({ lastCommit: z.object({ sha: z.string() }).nullish() }).nullish();
const BlobsSchema = z.object({ nodes: z.array(z.object({ path: z.string(), size: Whole.nullish(), rawTextBlob: z.string().nullish() }).nullable()).nullish() }).nullish();
const GraphqlReadSchema = z.object({
  data: z
    .object({
      project: z
        .object({
          newest: MergeRequestConnection,
          open: MergeRequestConnection,
          // `hN` heads and `bN` blobs, told apart by the plan that asked for them.
          repository: z.record(z.string(), z.unknown()).nullish(),
        })
        .nullish(),
    })
    .nullish(),
  errors: z.array(z.object({ message: z.string(), path: z.array(z.union([z.string(), z.number()])).nullish() })).optional(),
});


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
  /** Whether a path exists at a commit (repo\0commit\0path), as reads found it: what write() needs. */
  private readonly meta = new Map<string, boolean>();
  private readonly defaults = new Map<string, { branch: string; at: number }>();
  /**
   * The head each branch had when the adapter last read or wrote it (repo\0branch → head, `null` when
   * it did not exist): the next read asks for the files at that commit in the same document as the
   * head, and is done in one request if the head has not moved.
   */
  private readonly heads = new Map<string, { head: string | null; at: number }>();
  private readonly pathsPerQuery: number;
  /** GitLab's complexity limit as the adapter knows it; lowered if GitLab ever names a lower one. */
  private complexityLimit = GITLAB_MAX_COMPLEXITY;
  /** Set only if GitLab refuses a document the cost model let through: then halve until one passes. */
  private learnedLimit: number | undefined;
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
   * The branch head and the files at that head. One GraphQL document asks for the head and, when the
   * adapter already knows a head of this branch (its last read or write), the blobs at that commit:
   * if the head has not moved, that is the whole read. Otherwise (or the first time) a second document
   * reads the blobs at the head it just learned. Blobs are always read at a commit sha, never at the
   * branch name, so the files and the head are from the same moment.
   */
  async readFiles(repo: string, branch: string, paths: string[]): Promise<Snapshot> {
    assertRepo(repo);
    assertBranch(branch);
    for (const p of paths) assertPath(p);
    const { snaps } = await this.readBranches(repo, [branch], [...new Set(paths)]);
    const snap = snaps.get(branch);
    if (!snap) throw new ForgeError(`branch ${JSON.stringify(branch)} does not exist in ${repo}`, 404);
    return { head: snap.head, files: Object.fromEntries(paths.map((p) => [p, snap.files[p] ?? null])) };
  }

  /**
   * Everything a rolling-MR write needs, in one GraphQL document where GitLab's complexity limit
   * allows (docs/gitlab.md): both heads, the newest and the open merge request from `rolling`, and the
   * files at both heads (at the heads the adapter last saw; a head that moved costs one more document).
   */
  async readRolling(repo: string, base: string, rolling: string, paths: string[]): Promise<RollingSnapshot> {
    assertRepo(repo);
    assertBranch(base);
    assertBranch(rolling);
    for (const p of paths) assertPath(p);
    const unique = [...new Set(paths)];
    const { snaps, mergeRequests } = await this.readBranches(repo, [base, rolling], unique, rolling);
    const baseSnap = snaps.get(base);
    if (!baseSnap) throw new ForgeError(`branch ${JSON.stringify(base)} does not exist in ${repo}`, 404);
    const rollSnap = snaps.get(rolling);
    const newest = mergeRequests?.newest;
    const state: MergeRequestState = !newest ? 'none' : newest.state === 'opened' || newest.state === 'locked' ? 'open' : newest.state === 'merged' ? 'merged' : 'closed';
    const open = mergeRequests?.open;
    // The open MR as the executor hands it back to ensureMergeRequest: compared there without a lookup.
    const seen: OpenMergeRequest | null = open?.webUrl ? { id: String(open.iid), number: open.iid, url: open.webUrl, title: open.title, body: open.description ?? '', targetBranch: open.targetBranch } : null;
    return { base: baseSnap, ...(rollSnap && { rolling: rollSnap }), state, ...((seen || !open) && { open: seen }) };
  }

  private headKey(repo: string, branch: string): string {
    return `${repo}\0${branch}`;
  }

  /** What the adapter last learned of a branch's head (`null`: it did not exist), and when. */
  private noteHead(repo: string, branch: string, head: string | null): void {
    const key = this.headKey(repo, branch);
    this.heads.delete(key);
    this.heads.set(key, { head, at: this.now() });
    if (this.heads.size > 1_000) {
      const oldest = this.heads.keys().next().value;
      if (oldest !== undefined) this.heads.delete(oldest);
    }
  }

  private metaKey(repo: string, commit: string, path: string): string {
    return `${repo}\0${commit}\0${path}`;
  }

  /** Whether each path exists at `commit`: all write() needs of a read (contents are not kept). */
  private remember(repo: string, commit: string, path: string, exists: boolean): void {
    this.meta.set(this.metaKey(repo, commit, path), exists);
    if (this.meta.size > META_CACHE_LIMIT) {
      const oldest = this.meta.keys().next().value;
      if (oldest !== undefined) this.meta.delete(oldest);
    }
  }

  /** The complexity limit reads are packed for: GitLab's, or lower once GitLab has refused a document. */
  private readLimit(): number {
    return Math.min(this.complexityLimit, this.learnedLimit ?? Number.POSITIVE_INFINITY);
  }

  /**
   * Heads of `branches`, the files `paths` at each existing head, and (with `mrBranch`) its merge
   * requests. A document GitLab still refuses as too complex re-packs the whole read for a lower limit.
   */
  private async readBranches(repo: string, branches: string[], paths: string[], mrBranch?: string): Promise<{ snaps: Map<string, Snapshot>; mergeRequests?: { newest?: GraphqlMergeRequest; open?: GraphqlMergeRequest } }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readBranchesOnce(repo, branches, paths, mrBranch);
      } catch (e) {
        // The documents were sized by GitLab's published rules; if GitLab still refuses one, believe the
        // limit it names, and if the rules themselves are off, halve until a document passes.
        if (!(e instanceof GraphqlComplexityError) || attempt >= 6) throw e;
        const named = complexityLimitFrom(e.message);
        if (named !== undefined && named < this.complexityLimit) this.complexityLimit = named;
        else this.learnedLimit = Math.max(30, Math.floor(this.readLimit() / 2));
      }
    }
  }

  private async readBranchesOnce(repo: string, branches: string[], paths: string[], mrBranch?: string): Promise<{ snaps: Map<string, Snapshot>; mergeRequests?: { newest?: GraphqlMergeRequest; open?: GraphqlMergeRequest } }> {
    const limit = this.readLimit();
    const maxPaths = Math.min(BLOBS_MAX_PAGE, this.pathsPerQuery);
    const files = new Map<string, Map<string, string | null>>(); // commit → path → contents
    const guesses = branches.map((b) => this.heads.get(this.headKey(repo, b))?.head ?? undefined);
    const guessed = [...new Set(guesses.filter((g): g is string => g !== undefined))].map((ref) => ({ ref, paths, withContent: true }));
    const first = paths.length > 0 ? packReads(repo, { heads: branches, ...(mrBranch !== undefined && { mergeRequests: mrBranch }) }, guessed, limit, maxPaths)[0] : undefined;
    const answer = await this.query(repo, first ?? { heads: branches, ...(mrBranch !== undefined && { mergeRequests: mrBranch }), blobs: [] }, files);
    const heads: (string | null)[] = [];
    for (const [i, b] of branches.entries()) heads.push(answer.heads[i] !== undefined ? answer.heads[i] : ((await this.headOf(repo, b)) ?? null));
    branches.forEach((b, i) => this.noteHead(repo, b, heads[i] ?? null));
    // What is still missing at the actual heads: everything of a head that moved (or was not known).
    const needed = [...new Set(heads.filter((h): h is string => h !== null))]
      .map((ref) => ({ ref, paths: paths.filter((p) => !files.get(ref)?.has(p)), withContent: true }))
      .filter((b) => b.paths.length > 0);
    for (const plan of packReads(repo, { heads: [] }, needed, limit, maxPaths)) await this.query(repo, plan, files);
    const snaps = new Map<string, Snapshot>();
    branches.forEach((b, i) => {
      const head = heads[i];
      if (!head) return;
      const at = files.get(head);
      snaps.set(b, { head, files: Object.fromEntries(paths.map((p) => [p, at?.get(p) ?? null])) });
    });
    return { snaps, ...(answer.mergeRequests && { mergeRequests: answer.mergeRequests }) };
  }

  /** Send one read document; blob contents land in `files` (commit → path → text, null when absent). */
  private async query(repo: string, plan: ReadPlan, files: Map<string, Map<string, string | null>>): Promise<{ heads: (string | null | undefined)[]; mergeRequests?: { newest?: GraphqlMergeRequest; open?: GraphqlMergeRequest } }> {
    const { query, variables } = buildReadQuery(repo, plan);
    const res = await requestWithRetry(
      new URL(`${this.base}/api/graphql`),
      { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` }, body: JSON.stringify({ query, variables }) },
      this.policy,
    );
    const parsed = GraphqlReadSchema.safeParse(res.body);
    if (!parsed.success) throw new ForgeError('GitLab GraphQL answered with an unexpected shape', 502);
    const errors = parsed.data.errors ?? [];
    if (errors.some((e) => /complexity|too many/i.test(e.message))) throw new GraphqlComplexityError(errors[0]?.message ?? '');
    // An error confined to a head (`hN`) leaves that head unknown, to be asked over REST; any other fails the read.
    const headErrors = new Set(errors.map((e) => e.path?.[2]).filter((a): a is string => typeof a === 'string' && /^h\d+$/.test(a)));
    const other = errors.find((e) => !(typeof e.path?.[2] === 'string' && headErrors.has(e.path[2])));
    if (other) throw new ForgeError(`GitLab GraphQL: ${other.message.slice(0, 300)}`, 502);
    const project = parsed.data.data?.project;
    if (!project || (plan.heads.length + plan.blobs.length > 0 && !project.repository)) throw new ForgeError(`project ${repo} not found, or the token cannot read its repository`, 404);
    const repository = project.repository ?? {};
    const heads = plan.heads.map((_, i): string | null | undefined => {
      if (headErrors.has(`h${i}`)) return undefined;
      const sha = HeadSchema.safeParse(repository[`h${i}`]).data?.lastCommit?.sha;
      return sha && SHA.test(sha) ? sha : null;
    });
    plan.blobs.forEach((part, i) => {
      const nodes = BlobsSchema.safeParse(repository[`b${i}`]);
      if (!nodes.success) throw new ForgeError('GitLab GraphQL answered with an unexpected shape', 502);
      const found = new Map<string, { size: number | null | undefined; text: string | null | undefined }>();
      for (const n of nodes.data?.nodes ?? []) if (n) found.set(n.path, { size: n.size, text: n.rawTextBlob });
      const at = files.get(part.ref) ?? new Map<string, string | null>();
      files.set(part.ref, at);
      for (const p of part.paths) {
        const blob = found.get(p);
        this.remember(repo, part.ref, p, blob !== undefined);
        if (!part.withContent) continue;
        if (!blob) {
          at.set(p, null);
          continue;
        }
        if (blob.text === null || blob.text === undefined) throw new ForgeError(`${p} is not a text file`, 422);
        // GitLab may cut large blobs short; writing back a truncated file would destroy it.
        if (blob.size !== null && blob.size !== undefined && Buffer.byteLength(blob.text, 'utf8') !== blob.size) throw new ForgeError(`${p} is too large to read through GitLab's GraphQL API`, 413);
        at.set(p, blob.text);
      }
    });
    if (plan.mergeRequests === undefined) return { heads };
    const newest = project.newest?.nodes?.[0] ?? undefined;
    const open = project.open?.nodes?.[0] ?? undefined;
    return { heads, mergeRequests: { ...(newest && { newest }), ...(open && { open }) } };
  }

  /** Whether each path exists at `commit`: from the read that planned the write, else one small query. */
  private async existence(repo: string, commit: string, paths: string[]): Promise<Map<string, boolean>> {
    const missing = paths.filter((p) => !this.meta.has(this.metaKey(repo, commit, p)));
    if (missing.length > 0) {
      const files = new Map<string, Map<string, string | null>>();
      for (const plan of packReads(repo, { heads: [] }, [{ ref: commit, paths: missing, withContent: false }], this.readLimit(), Math.min(BLOBS_MAX_PAGE, this.pathsPerQuery))) await this.query(repo, plan, files);
    }
    return new Map(paths.map((p) => [p, this.meta.get(this.metaKey(repo, commit, p)) === true]));
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
   * One commit through the Commits API, one request after a read. Extending a branch: every update
   * and delete names the planned head as `last_commit_id`, and GitLab refuses the commit (400, nothing
   * written, reported as stale) if the file's last commit on the branch differs from its last commit
   * as of that head, i.e. if anyone changed it since; a create fails if the file appeared since.
   * Creating or rebuilding a branch: `start_sha` is the planned head, so the files are exactly as
   * read; without `force` GitLab refuses if the branch exists (someone created it since).
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
    const exists = await this.existence(repo, req.expectedHead, [...last.keys()]);
    const guard = req.replace === undefined ? { lastCommitId: req.expectedHead } : {};
    const actions: { action: 'create' | 'update' | 'delete'; filePath: string; content?: string; lastCommitId?: string }[] = [];
    for (const [path, c] of last) {
      const present = exists.get(path) === true;
      if (c.type === 'write') actions.push(present ? { action: 'update', filePath: path, content: c.contents, ...guard } : { action: 'create', filePath: path, content: c.contents });
      else if (present) actions.push({ action: 'delete', filePath: path, ...guard });
    }
    if (actions.length === 0) return { status: 'committed', commit: req.expectedHead };
    if (req.replace !== undefined && req.replace !== null) {
      // Rebuilding a rolling branch: `start_sha` with `force` moves it in the same call. GitLab cannot
      // make that conditional on the branch's head, so the head is checked here: against the read
      // moments ago when there was one (a head that moved since is then caught by that read's
      // successor), else by asking.
      const known = this.heads.get(this.headKey(repo, req.branch));
      const now = known && this.now() - known.at < HEAD_FRESH_MS ? known.head : ((await this.headOf(repo, req.branch)) ?? null);
      if (now !== req.replace) return { status: 'stale', ...(now && { head: now }) };
    }
    const start = req.replace === undefined ? undefined : { startSha: req.expectedHead, ...(req.replace !== null && { force: true }) };
    try {
      const created = CommitSchema.parse(await this.api.Commits.create(repo, req.branch, req.message, actions, start));
      this.noteHead(repo, req.branch, created.id);
      return { status: 'committed', commit: created.id, ...(created.web_url && { url: created.web_url }) };
    } catch (e) {
      if (e instanceof GitlabApiError && e.status === 400) {
        if (/has changed since you started editing it|already exists|doesn't exist|does not exist/i.test(e.gitlabMessage)) {
          this.heads.delete(this.headKey(repo, req.branch));
          return { status: 'stale' };
        }
        if (/on a branch/i.test(e.gitlabMessage)) throw new ForgeError(`branch ${JSON.stringify(req.branch)} does not exist in ${repo}`, 404);
      }
      throw e;
    }
  }

  /** The branch's head, creating it from `from` if absent; the next read of it starts from that head. */
  async ensureBranch(repo: string, branch: string, from: string): Promise<string> {
    const existing = await this.headOf(repo, branch);
    if (existing) return this.learned(repo, branch, existing);
    if (!SHA.test(from)) assertBranch(from);
    try {
      return this.learned(repo, branch, BranchSchema.parse(await this.api.Branches.create(repo, branch, from)).commit.id);
    } catch (e) {
      // Another writer created it between the two calls.
      if (e instanceof GitlabApiError && e.status === 400 && /already exists/i.test(e.gitlabMessage)) return this.learned(repo, branch, await this.requireHead(repo, branch));
      throw e;
    }
  }

  private learned(repo: string, branch: string, head: string): string {
    this.noteHead(repo, branch, head);
    return head;
  }
}

class GraphqlComplexityError extends ForgeError {
  constructor(message: string) {
    super(`GitLab GraphQL: ${message.slice(0, 300)}`, 400);
  }
}

type OpenRestMergeRequest = z.infer<typeof MergeRequestSchema>;

class GitlabReviews implements ReviewPort {
  /** The open rolling MR per source branch as last seen (repo\0branch → MR), so a later bump edits it directly. */
  private readonly openMrs = new Map<string, OpenRestMergeRequest>();

  constructor(private readonly forge: GitlabForge) {}

  private rememberOpen(key: string, mr: OpenRestMergeRequest): void {
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

  /**
   * Open the MR or bring its text up to date, with as few calls as what is known allows. With `seen`
   * (what the caller's read of the rolling branch found, moments ago): an unchanged MR costs nothing,
   * a changed one a `PUT`, none open a `POST`. Without it: a `PUT` to the MR seen last time when the
   * text changed (its answer says whether it is still open), else a lookup first.
   */
  async ensureMergeRequest(repo: string, spec: MergeRequestSpec, seen?: OpenMergeRequest | null): Promise<MergeRequestRef> {
    assertRepo(repo);
    assertBranch(spec.sourceBranch);
    assertBranch(spec.targetBranch);
    // GitLab caps titles at 255 characters and descriptions at 1,048,576.
    const title = Array.from(spec.title).slice(0, 255).join('');
    const description = truncateNote(spec.body, GITLAB_NOTE_LIMIT);
    const key = `${repo}\0${spec.sourceBranch}`;
    const differs = (mr: OpenRestMergeRequest): boolean => mr.title !== title || (mr.description ?? '') !== description || mr.target_branch !== spec.targetBranch;
    const fromRead: OpenRestMergeRequest | undefined = seen ? { iid: seen.number, web_url: seen.url, title: seen.title, description: seen.body, target_branch: seen.targetBranch, source_branch: spec.sourceBranch, state: 'opened' } : undefined;
    if (fromRead && !differs(fromRead)) {
      this.rememberOpen(key, fromRead);
      return { number: fromRead.iid, url: fromRead.web_url, created: false };
    }
    const known = seen === undefined ? this.openMrs.get(key) : fromRead;
    if (known && differs(known)) {
      // Edit the MR seen last time without listing first. GitLab answers with the MR's state; if it was
      // closed or merged meanwhile, forget it and look for (or open) the current one.
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
    const findOpen = async (): Promise<OpenRestMergeRequest | undefined> => {
      const raw = await this.api.MergeRequests.all({ projectId: repo, state: 'opened', sourceBranch: spec.sourceBranch, perPage: PAGE, maxPages: 1 });
      return z.array(MergeRequestSchema).parse(raw)[0];
    };
    // The caller's read found none open: open one without looking again (a 409 says someone else did).
    let open = seen === null ? undefined : await findOpen();
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
    if (differs(open)) open = MergeRequestSchema.parse(await this.api.MergeRequests.edit(repo, open.iid, { title, description, targetBranch: spec.targetBranch }));
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
