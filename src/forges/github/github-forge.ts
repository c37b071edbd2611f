/**
 * The GitHub forge: reads through one GraphQL query (files and head together) and writes a whole
 * Changeset as one `createCommitOnBranch` commit pinned to the planned head. No clone, no push race.
 * The rolling merge request is GraphQL too: one query reads both branches and the PR, a new branch
 * comes with its first commit in one request, a rebuild lands with an `updateRefs` compare-and-swap,
 * and the PR is opened or edited (`createPullRequest` / `updatePullRequest`) only when needed.
 */

import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type {
  AppRepoPort,
  BuildState,
  ChatOpsMergeRequest,
  CiVerdict,
  CommitMergeRequest,
  CommitStatus,
  LoggedCommit,
  Forge,
  MergeRequestInfo,
  MergeRequestRef,
  MergeRequestSpec,
  MergeRequestState,
  OpenMergeRequest,
  Reaction,
  ReviewPort,
  Role,
  RollingSnapshot,
  Snapshot,
  WriteRequest,
  WriteResult,
} from '../types.js';
import { ForgeError, MAX_MR_PAGES } from '../types.js';
import type { GitHubApi } from './client.js';
import { toForgeError } from './client.js';
import { assertBranch, isSafePath, isSha, isValidLogin, parseRepo } from './names.js';
import type { RepoName } from './names.js';

/** GitHub refuses issue and PR comment bodies longer than this many characters. */
export const GITHUB_COMMENT_LIMIT = 65_536;
/** Paths per GraphQL read; GitHub's node limits are far above this, responses stay small. */
const PATHS_PER_QUERY = 100;
const PAGE = 100;

export interface GitHubForgeOptions {
  /** The client for a repository (token mode: always the same; App mode: that repo's installation). */
  client(repo: RepoName): Promise<GitHubApi>;
  /** Baton's own login (`baton[bot]`, a machine user): only its comments are ever edited. */
  botLogin(): Promise<string | undefined>;
}

const BlobSchema = z.object({ oid: z.string(), text: z.string().nullable(), isBinary: z.boolean().nullable(), isTruncated: z.boolean() });
const EntrySchema = z.object({ object: BlobSchema.or(z.object({}).loose()).nullable() }).nullable();
const CommitFilesSchema = z.record(z.string(), z.unknown());

const ReadResultSchema = z.object({
  repository: z
    .object({
      id: z.string().optional(),
      ref: z.object({ target: z.object({ oid: z.string() }).loose() }).nullable().optional(),
      object: z.object({ oid: z.string() }).loose().nullable().optional(),
    })
    .nullable(),
});

const GraphqlPullSchema = z.object({
  id: z.string(),
  number: z.number(),
  url: z.string(),
  title: z.string(),
  body: z.string(),
  state: z.enum(['OPEN', 'CLOSED', 'MERGED']),
  baseRefName: z.string(),
  isCrossRepository: z.boolean(),
});
const PullNodesSchema = z.object({ nodes: z.array(GraphqlPullSchema.nullable()).nullable() });
const TargetSchema = z.object({ oid: z.string() }).loose();
const RollingResultSchema = z.object({
  repository: z
    .object({
      id: z.string(),
      base: z.object({ target: TargetSchema }).nullable(),
      rolling: z.object({ target: TargetSchema }).nullable(),
      pullRequests: PullNodesSchema,
    })
    .nullable(),
});
const OpenPullsResultSchema = z.object({ repository: z.object({ id: z.string(), pullRequests: PullNodesSchema }).nullable() });
const PullPayloadSchema = z.object({ pullRequest: GraphqlPullSchema });
const BranchCommitSchema = z.object({
  createRef: z.object({ ref: z.object({ id: z.string() }).nullable() }).nullable().optional(),
  createCommitOnBranch: z.object({ commit: z.object({ oid: z.string(), url: z.string().optional() }) }).nullable().optional(),
});

const RefSchema = z.object({ object: z.object({ sha: z.string(), type: z.string() }) });
const RepoSchema = z.object({ default_branch: z.string() });
const TreeSchema = z.object({ truncated: z.boolean(), tree: z.array(z.object({ path: z.string(), type: z.string() })) });
const CommitResultSchema = z.object({ createCommitOnBranch: z.object({ commit: z.object({ oid: z.string(), url: z.string().optional() }) }) });
const PullSchema = z.object({ number: z.number(), html_url: z.string(), title: z.string(), body: z.string().nullable(), base: z.object({ ref: z.string() }) });
const PullStateSchema = z.object({ state: z.string(), merged_at: z.string().nullable() });
const CommentSchema = z.object({ id: z.number(), body: z.string().optional(), user: z.object({ login: z.string() }).nullable() });
const StatusSchema = z.object({ context: z.string(), state: z.string(), description: z.string().nullable(), target_url: z.string().nullable() });
const PermissionSchema = z.object({ permission: z.string(), role_name: z.string().optional() });
const CommitPullSchema = z.object({
  number: z.number(),
  html_url: z.string(),
  title: z.string(),
  state: z.string(),
  merged_at: z.string().nullable(),
  merge_commit_sha: z.string().nullable(),
  head: z.object({ sha: z.string() }),
});
const ListedCommitSchema = z.object({ sha: z.string(), commit: z.object({ message: z.string() }) });
const BlobRestSchema = z.object({ content: z.string(), encoding: z.string() });
const PullDetailSchema = z.object({
  number: z.number(),
  state: z.string(),
  title: z.string(),
  user: z.object({ login: z.string() }).nullable(),
  head: z.object({ ref: z.string(), sha: z.string(), repo: z.object({ full_name: z.string() }).nullable() }),
  base: z.object({ repo: z.object({ full_name: z.string() }) }),
  labels: z.array(z.object({ name: z.string() })),
  merged_at: z.string().nullable(),
  updated_at: z.string(),
});
const SingleCommitSchema = z.object({ sha: z.string() });
const CombinedStatusSchema = z.object({ state: z.string(), total_count: z.number(), statuses: z.array(z.object({ context: z.string(), state: z.string() })) });
const CheckRunsSchema = z.object({ total_count: z.number(), check_runs: z.array(z.object({ name: z.string(), status: z.string(), conclusion: z.string().nullable() })) });

/** The REST responses the adapter reads, by route: tests hold these to GitHub's response schemas. */
export const REST_RESPONSE_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  'GET /repos/{owner}/{repo}/git/ref/{ref}': RefSchema,
  'GET /repos/{owner}/{repo}': RepoSchema,
  'GET /repos/{owner}/{repo}/git/trees/{tree_sha}': TreeSchema,
  'GET /repos/{owner}/{repo}/git/blobs/{file_sha}': BlobRestSchema,
  'GET /repos/{owner}/{repo}/pulls': z.array(PullSchema.extend(PullStateSchema.shape)),
  'GET /repos/{owner}/{repo}/issues/{issue_number}/comments': z.array(CommentSchema),
  'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': CommentSchema,
  'GET /repos/{owner}/{repo}/commits/{ref}/statuses': z.array(StatusSchema),
  'GET /repos/{owner}/{repo}/collaborators/{username}/permission': PermissionSchema,
  'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls': z.array(CommitPullSchema),
  'GET /repos/{owner}/{repo}/commits': z.array(ListedCommitSchema),
  'GET /repos/{owner}/{repo}/pulls/{pull_number}': PullDetailSchema,
  'GET /repos/{owner}/{repo}/commits/{ref}/check-runs': CheckRunsSchema,
  'GET /repos/{owner}/{repo}/commits/{ref}/status': CombinedStatusSchema,
  'GET /repos/{owner}/{repo}/commits/{ref}': SingleCommitSchema,
};

function mergeRequestInfo(p: z.infer<typeof PullDetailSchema>): MergeRequestInfo {
  return {
    number: p.number,
    state: p.merged_at !== null ? 'merged' : p.state === 'open' ? 'open' : 'closed',
    title: p.title,
    author: p.user?.login ?? 'ghost',
    headSha: p.head.sha,
    headBranch: p.head.ref,
    // A deleted fork leaves head.repo null: still not the base repository.
    fromFork: p.head.repo?.full_name.toLowerCase() !== p.base.repo.full_name.toLowerCase(),
    labels: p.labels.map((l) => l.name),
    updatedAt: p.updated_at,
  };
}

const PASSED = new Set(['success', 'neutral', 'skipped']);
const FAILED = new Set(['failure', 'cancelled', 'timed_out', 'action_required', 'startup_failure', 'stale']);

/** Check-run conclusions that mean "not green". */
const FAILED_CONCLUSIONS = FAILED;

function readQuery(count: number, byRef: boolean): string {
  const vars = Array.from({ length: count }, (_, i) => `$p${i}: String!`).join(', ');
  const files = Array.from({ length: count }, (_, i) => `f${i}: file(path: $p${i}) { object { ... on Blob { oid text isBinary isTruncated } } }`).join('\n          ');
  // An empty selection is a syntax error: with no paths, only the head is asked for.
  const commit = count === 0 ? 'oid' : `oid\n        ... on Commit {\n          ${files}\n        }`;
  return byRef
    ? `query BatonReadFiles($owner: String!, $name: String!, $ref: String!${vars ? `, ${vars}` : ''}) {
  repository(owner: $owner, name: $name) {
    id
    ref(qualifiedName: $ref) {
      target {
        ${commit}
      }
    }
  }
}`
    : `query BatonReadMoreFiles($owner: String!, $name: String!, $oid: GitObjectID!${vars ? `, ${vars}` : ''}) {
  repository(owner: $owner, name: $name) {
    object(oid: $oid) {
      ${commit}
    }
  }
}`;
}

const WRITE_MUTATION = `mutation BatonCommit($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) {
    commit { oid url }
  }
}`;

const PULL_FIELDS = 'id number url title body state baseRefName isCrossRepository';
/** Newest first, so the first same-repository one is what became of the rolling MR. */
const PULLS_FROM_HEAD = `pullRequests(headRefName: $head, first: 20, orderBy: { field: CREATED_AT, direction: DESC }) { nodes { ${PULL_FIELDS} } }`;

function filesSelection(count: number): string {
  return Array.from({ length: count }, (_, i) => `f${i}: file(path: $p${i}) { object { ... on Blob { oid text isBinary isTruncated } } }`).join('\n          ');
}

/** The base head and files, the rolling head and files, and the rolling MR: one document. */
function rollingQuery(count: number): string {
  const vars = Array.from({ length: count }, (_, i) => `, $p${i}: String!`).join('');
  const commit = count === 0 ? 'target { oid }' : `target {\n        oid\n        ... on Commit {\n          ${filesSelection(count)}\n        }\n      }`;
  return `query BatonReadRolling($owner: String!, $name: String!, $base: String!, $rolling: String!, $head: String!${vars}) {
  repository(owner: $owner, name: $name) {
    id
    base: ref(qualifiedName: $base) {
      ${commit}
    }
    rolling: ref(qualifiedName: $rolling) {
      ${commit}
    }
    ${PULLS_FROM_HEAD}
  }
}`;
}

const OPEN_PULLS_QUERY = `query BatonOpenPulls($owner: String!, $name: String!, $head: String!) {
  repository(owner: $owner, name: $name) {
    id
    pullRequests(headRefName: $head, states: [OPEN], first: 20, orderBy: { field: CREATED_AT, direction: DESC }) { nodes { ${PULL_FIELDS} } }
  }
}`;

const REPOSITORY_ID_QUERY = `query BatonRepositoryId($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) { id }
}`;

/** A new branch and its first commit in one round trip: GitHub runs the two mutations in order. */
const BRANCH_AND_COMMIT_MUTATION = `mutation BatonBranchAndCommit($ref: CreateRefInput!, $commit: CreateCommitOnBranchInput!) {
  createRef(input: $ref) { ref { id } }
  createCommitOnBranch(input: $commit) { commit { oid url } }
}`;

/** Compare-and-swap: the rolling branch moves only from the head it was read at; the scratch goes in the same step. */
const UPDATE_REFS_MUTATION = `mutation BatonMoveRefs($input: UpdateRefsInput!) {
  updateRefs(input: $input) { clientMutationId }
}`;

const DELETE_REF_MUTATION = `mutation BatonDeleteRef($input: DeleteRefInput!) {
  deleteRef(input: $input) { clientMutationId }
}`;

const CREATE_PULL_MUTATION = `mutation BatonOpenPull($input: CreatePullRequestInput!) {
  createPullRequest(input: $input) { pullRequest { ${PULL_FIELDS} } }
}`;

const UPDATE_PULL_MUTATION = `mutation BatonUpdatePull($input: UpdatePullRequestInput!) {
  updatePullRequest(input: $input) { pullRequest { ${PULL_FIELDS} } }
}`;

const ZERO_OID = '0'.repeat(40);

function openMergeRequest(p: z.infer<typeof GraphqlPullSchema>): OpenMergeRequest {
  return { id: p.id, number: p.number, url: p.url, title: p.title, body: p.body, targetBranch: p.baseRefName };
}

/** The newest same-repository pull request (a fork's branch may carry the same name). */
function newestOwn(nodes: z.infer<typeof PullNodesSchema>): z.infer<typeof GraphqlPullSchema> | undefined {
  return (nodes.nodes ?? []).find((p): p is z.infer<typeof GraphqlPullSchema> => p !== null && !p.isCrossRepository);
}

/** GitHub's answer to a document naming a mutation its schema does not have (older GitHub Enterprise Server). */
function lacksMutation(error: unknown, field: string): boolean {
  const errors = partialResult(error)?.errors ?? [];
  return errors.some((x) => (x as { extensions?: { code?: unknown } }).extensions?.code === 'undefinedField' || (x.message ?? '').includes(`Field '${field}' doesn't exist on type 'Mutation'`));
}

interface GraphqlPartial {
  data?: unknown;
  errors?: { type?: string; message?: string; path?: readonly (string | number)[] }[];
}

/** A document with several mutations may answer some and fail others: the data and the errors both. */
function partialResult(error: unknown): GraphqlPartial | undefined {
  if (typeof error !== 'object' || error === null || !Array.isArray((error as GraphqlPartial).errors) || (error as { status?: unknown }).status !== undefined) return undefined;
  return error as GraphqlPartial;
}

interface GraphqlErrorShape {
  errors?: { type?: string; message?: string }[];
}

function isStaleHeadError(error: unknown): boolean {
  const errors = (typeof error === 'object' && error !== null ? (error as GraphqlErrorShape).errors : undefined) ?? [];
  return errors.some((e) => e.type === 'STALE_DATA' || /expected branch to point to|expectedHeadOid/i.test(e.message ?? ''));
}

function graphqlNotFound(error: unknown): boolean {
  const errors = (typeof error === 'object' && error !== null ? (error as GraphqlErrorShape).errors : undefined) ?? [];
  return errors.some((e) => e.type === 'NOT_FOUND');
}

/** Cut to `limit` characters (code points, as GitHub counts) without splitting a surrogate pair. */
export function truncateComment(text: string, limit = GITHUB_COMMENT_LIMIT): string {
  const chars = Array.from(text);
  if (chars.length <= limit) return text;
  const note = '\n\n…\n\n_Truncated: this report is longer than GitHub allows in one comment._';
  return chars.slice(0, limit - Array.from(note).length).join('') + note;
}

function splitMessage(message: string): { headline: string; body: string } {
  const trimmed = message.replace(/\s+$/, '');
  const nl = trimmed.indexOf('\n');
  const headline = (nl < 0 ? trimmed : trimmed.slice(0, nl)).trim() || 'Baton update';
  const body = nl < 0 ? '' : trimmed.slice(nl + 1).replace(/^\n+/, '');
  return { headline, body };
}

const ROLES: readonly Role[] = ['admin', 'maintain', 'write', 'triage', 'read', 'none'];
const isRole = (s: string): s is Role => (ROLES as readonly string[]).includes(s);

const repoKey = (repo: RepoName): string => `${repo.owner}/${repo.name}`.toLowerCase();

function nullFiles(paths: string[]): Record<string, string | null> {
  const files: Record<string, string | null> = {};
  for (const p of paths) files[p] = null;
  return files;
}

/** Safe, distinct paths in chunks of PATHS_PER_QUERY; unsafe paths stay null. */
function chunked(paths: string[]): string[][] {
  const wanted = [...new Set(paths.filter(isSafePath))];
  const chunks: string[][] = [];
  for (let i = 0; i < wanted.length; i += PATHS_PER_QUERY) chunks.push(wanted.slice(i, i + PATHS_PER_QUERY));
  return chunks;
}

export class GitHubForge implements Forge, AppRepoPort, ReviewPort {
  readonly kind = 'github' as const;
  readonly reviews: ReviewPort = this;
  /** Repository node ids by `owner/name`, learnt from reads. */
  private readonly repoIds = new Map<string, string>();

  constructor(private readonly options: GitHubForgeOptions) {}

  /** The login Baton acts as (configured, or asked of GitHub once), for the webhook source's loop safety. */
  selfLogin(): Promise<string | undefined> {
    return this.options.botLogin();
  }

  private async call<T>(repo: RepoName, what: string, fn: (api: GitHubApi) => Promise<T>): Promise<T> {
    const api = await this.options.client(repo);
    try {
      return await fn(api);
    } catch (e) {
      throw toForgeError(what, e);
    }
  }

  private rest(repo: RepoName, route: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return this.call(repo, route, async (api) => (await api.request(route, { owner: repo.owner, repo: repo.name, ...params })).data);
  }

  /** A REST read where 404 means "absent" rather than failure. */
  private async restOrAbsent(repo: RepoName, route: string, params: Record<string, unknown> = {}): Promise<unknown> {
    try {
      return await this.rest(repo, route, params);
    } catch (e) {
      if (e instanceof ForgeError && e.status === 404) return undefined;
      throw e;
    }
  }

  async readFiles(repoText: string, branch: string, paths: string[]): Promise<Snapshot> {
    const repo = parseRepo(repoText);
    assertBranch(branch);
    const files = nullFiles(paths);
    const [first = [], ...rest] = chunked(paths);
    const vars: Record<string, unknown> = { owner: repo.owner, name: repo.name, ref: `refs/heads/${branch}` };
    first.forEach((p, i) => (vars[`p${i}`] = p));
    const data = ReadResultSchema.parse(await this.query(repo, repoText, 'read files', readQuery(first.length, true), vars));
    if (!data.repository) throw new ForgeError(`repository ${repoText} not found`, 404);
    if (data.repository.id) this.repoIds.set(repoKey(repo), data.repository.id);
    const target = data.repository.ref?.target;
    if (!target) throw new ForgeError(`branch ${branch} does not exist`, 404);
    await this.fillFiles(repo, target, first, files);
    // Later chunks (rare) are pinned to the commit the first one resolved.
    await this.readMore(repo, repoText, target.oid, rest, files);
    return { head: target.oid, files };
  }

  /** Base, rolling branch and the rolling pull request in one GraphQL query (two heads, their files, the newest PR). */
  async readRolling(repoText: string, baseBranch: string, rollingBranch: string, paths: string[]): Promise<RollingSnapshot> {
    const repo = parseRepo(repoText);
    assertBranch(baseBranch);
    assertBranch(rollingBranch);
    const [first = [], ...rest] = chunked(paths);
    const vars: Record<string, unknown> = { owner: repo.owner, name: repo.name, base: `refs/heads/${baseBranch}`, rolling: `refs/heads/${rollingBranch}`, head: rollingBranch };
    first.forEach((p, i) => (vars[`p${i}`] = p));
    const data = RollingResultSchema.parse(await this.query(repo, repoText, 'read rolling branch', rollingQuery(first.length), vars));
    if (!data.repository) throw new ForgeError(`repository ${repoText} not found`, 404);
    this.repoIds.set(repoKey(repo), data.repository.id);
    const baseTarget = data.repository.base?.target;
    if (!baseTarget) throw new ForgeError(`branch ${baseBranch} does not exist`, 404);
    const base: Snapshot = { head: baseTarget.oid, files: nullFiles(paths) };
    await this.fillFiles(repo, baseTarget, first, base.files);
    await this.readMore(repo, repoText, base.head, rest, base.files);
    const rollingTarget = data.repository.rolling?.target;
    let rolling: Snapshot | undefined;
    if (rollingTarget) {
      rolling = { head: rollingTarget.oid, files: nullFiles(paths) };
      await this.fillFiles(repo, rollingTarget, first, rolling.files);
      await this.readMore(repo, repoText, rolling.head, rest, rolling.files);
    }
    const newest = newestOwn(data.repository.pullRequests);
    const state: MergeRequestState = !newest ? 'none' : newest.state === 'OPEN' ? 'open' : newest.state === 'MERGED' ? 'merged' : 'closed';
    return { base, ...(rolling && { rolling }), state, open: newest?.state === 'OPEN' ? openMergeRequest(newest) : null };
  }

  /** One GraphQL query; a repository GitHub cannot resolve is a 404. */
  private async query(repo: RepoName, repoText: string, what: string, document: string, vars: Record<string, unknown>): Promise<unknown> {
    try {
      return await (await this.options.client(repo)).graphql(document, vars);
    } catch (e) {
      if (graphqlNotFound(e)) throw new ForgeError(`repository ${repoText} not found`, 404);
      throw toForgeError(what, e);
    }
  }

  /** The `fN` blobs of a commit read into `files` (large or binary ones through REST). */
  private async fillFiles(repo: RepoName, target: Record<string, unknown>, chunk: string[], files: Record<string, string | null>): Promise<void> {
    const entries = CommitFilesSchema.parse(target);
    for (const [i, p] of chunk.entries()) {
      const entry = EntrySchema.safeParse(entries[`f${i}`] ?? null);
      const blob = entry.success ? BlobSchema.safeParse(entry.data?.object) : undefined;
      if (!blob?.success) continue;
      files[p] = blob.data.text !== null && !blob.data.isTruncated ? blob.data.text : await this.blobText(repo, blob.data.oid);
    }
  }

  /** Paths beyond the first query's, read at commit `oid`. */
  private async readMore(repo: RepoName, repoText: string, oid: string, chunks: string[][], files: Record<string, string | null>): Promise<void> {
    for (const chunk of chunks) {
      const vars: Record<string, unknown> = { owner: repo.owner, name: repo.name, oid };
      chunk.forEach((p, i) => (vars[`p${i}`] = p));
      const data = ReadResultSchema.parse(await this.query(repo, repoText, 'read files', readQuery(chunk.length, false), vars));
      const target = data.repository?.object;
      if (!target) throw new ForgeError(`commit ${oid} not found in ${repoText}`, 404);
      await this.fillFiles(repo, target, chunk, files);
    }
  }

  /** The repository's node id (createRef, updateRefs and createPullRequest need it); it never changes, so it is kept. */
  private async repositoryId(repo: RepoName): Promise<string> {
    const known = this.repoIds.get(repoKey(repo));
    if (known) return known;
    const raw = await this.query(repo, `${repo.owner}/${repo.name}`, 'repository id', REPOSITORY_ID_QUERY, { owner: repo.owner, name: repo.name });
    const id = z.object({ repository: z.object({ id: z.string() }).nullable() }).parse(raw).repository?.id;
    if (!id) throw new ForgeError(`repository ${repo.owner}/${repo.name} not found`, 404);
    this.repoIds.set(repoKey(repo), id);
    return id;
  }

  /** One mutation document; GraphQL errors come back as they are (the caller reads them). */
  private async mutate(repo: RepoName, document: string, vars: Record<string, unknown>): Promise<unknown> {
    return (await this.options.client(repo)).graphql(document, vars);
  }

  /** Large or binary blobs, which GraphQL leaves out of `text`. */
  private async blobText(repo: RepoName, oid: string): Promise<string> {
    const blob = BlobRestSchema.parse(await this.rest(repo, 'GET /repos/{owner}/{repo}/git/blobs/{file_sha}', { file_sha: oid }));
    return Buffer.from(blob.content, blob.encoding === 'base64' ? 'base64' : 'utf8').toString('utf8');
  }

  async listFiles(repoText: string, branch: string, prefix?: string): Promise<{ head: string; paths: string[] }> {
    const repo = parseRepo(repoText);
    const head = await this.headOf(repoText, branch);
    if (!head) throw new ForgeError(`branch ${branch} does not exist`, 404);
    const tree = TreeSchema.parse(await this.rest(repo, 'GET /repos/{owner}/{repo}/git/trees/{tree_sha}', { tree_sha: head, recursive: '1' }));
    // A truncated listing would make missing files look deleted; refuse rather than guess.
    if (tree.truncated) throw new ForgeError(`the tree of ${branch} is too large to list in one request`, 507);
    const dir = prefix?.replace(/\/+$/, '');
    const paths = tree.tree
      .filter((e) => e.type === 'blob')
      .map((e) => e.path)
      .filter((p) => !dir || p === dir || p.startsWith(`${dir}/`))
      .sort();
    return { head, paths };
  }

  async write(repoText: string, req: WriteRequest): Promise<WriteResult> {
    const repo = parseRepo(repoText);
    assertBranch(req.branch);
    if (req.changes.length === 0) throw new ForgeError('refusing to write an empty changeset', 422);
    if (!isSha(req.expectedHead)) throw new ForgeError('expectedHead must be a full commit id', 422);
    for (const c of req.changes) if (!isSafePath(c.path)) throw new ForgeError(`unsafe path ${JSON.stringify(c.path.slice(0, 200))}`, 422);
    const additions = req.changes.flatMap((c) => (c.type === 'write' ? [{ path: c.path, contents: Buffer.from(c.contents, 'utf8').toString('base64') }] : []));
    const deletions = req.changes.flatMap((c) => (c.type === 'delete' ? [{ path: c.path }] : []));
    const commitInput = (branchName: string): Record<string, unknown> => ({
      branch: { repositoryNameWithOwner: `${repo.owner}/${repo.name}`, branchName },
      expectedHeadOid: req.expectedHead,
      message: splitMessage(req.message),
      fileChanges: { additions, deletions },
    });
    const commitOn = async (branchName: string): Promise<WriteResult> => {
      let raw: unknown;
      try {
        raw = await this.mutate(repo, WRITE_MUTATION, { input: commitInput(branchName) });
      } catch (e) {
        if (isStaleHeadError(e)) {
          const head = await this.headOf(repoText, branchName);
          return { status: 'stale', ...(head && { head }) };
        }
        throw toForgeError('createCommitOnBranch', e);
      }
      const commit = CommitResultSchema.parse(raw).createCommitOnBranch.commit;
      return { status: 'committed', commit: commit.oid, ...(commit.url && { url: commit.url }) };
    };
    if (req.replace === undefined) return commitOn(req.branch);
    const repositoryId = await this.repositoryId(repo);

    // A new branch and its commit in one round trip (createRef, then createCommitOnBranch). If the
    // branch appeared meanwhile, createRef fails and the commit, pinned to the base head, is stale.
    const branchAndCommit = async (branchName: string): Promise<{ result: WriteResult; refId?: string }> => {
      let raw: unknown;
      try {
        raw = await this.mutate(repo, BRANCH_AND_COMMIT_MUTATION, { ref: { repositoryId, name: `refs/heads/${branchName}`, oid: req.expectedHead }, commit: commitInput(branchName) });
      } catch (e) {
        const partial = partialResult(e);
        if (!partial) throw toForgeError('createRef + createCommitOnBranch', e);
        const data = BranchCommitSchema.safeParse(partial.data ?? {});
        const refId = data.success ? (data.data.createRef?.ref?.id ?? undefined) : undefined;
        const commit = data.success ? data.data.createCommitOnBranch?.commit : undefined;
        if (commit) return { result: { status: 'committed', commit: commit.oid, ...(commit.url && { url: commit.url }) }, ...(refId && { refId }) };
        const errors = partial.errors ?? [];
        const refError = errors.find((x) => x.path?.[0] === 'createRef');
        const commitError = errors.find((x) => x.path?.[0] === 'createCommitOnBranch');
        // The branch exists at another head (another replica made it first): overtaken, re-read and re-plan.
        if (commitError && isStaleHeadError({ errors: [commitError] })) return { result: { status: 'stale' }, ...(refId && { refId }) };
        if (refId) await this.deleteRef(repo, refId);
        throw toForgeError(refError ? 'createRef' : 'createCommitOnBranch', { errors: [refError ?? commitError ?? errors[0] ?? {}] });
      }
      const data = BranchCommitSchema.parse(raw);
      const commit = data.createCommitOnBranch?.commit;
      if (!commit) throw new ForgeError('createCommitOnBranch answered without a commit', 502);
      const refId = data.createRef?.ref?.id;
      return { result: { status: 'committed', commit: commit.oid, ...(commit.url && { url: commit.url }) }, ...(refId && { refId }) };
    };

    if (req.replace === null) return (await branchAndCommit(req.branch)).result;

    // Rebuilding the rolling branch on a new parent. The new commit is made on a scratch branch
    // first, then the rolling branch is moved to it only if it still points where it was read
    // (updateRefs' beforeOid: a compare-and-swap), and the scratch deleted, in one atomic step. The
    // rolling branch never points at the bare base in between, where GitHub would see the open PR
    // as having nothing left to merge.
    const scratch = `baton/scratch/${req.branch.replace(/[^A-Za-z0-9._-]/g, '-')}-${randomUUID().slice(0, 8)}`;
    const dropScratch = (): Promise<unknown> => this.rest(repo, 'DELETE /repos/{owner}/{repo}/git/refs/{ref}', { ref: `heads/${scratch}` }).catch(() => undefined);
    // A failure here may still have made the scratch branch (an answer lost on the way): remove it.
    const made = await branchAndCommit(scratch).catch(async (e: unknown) => {
      await dropScratch();
      throw e;
    });
    if (made.result.status !== 'committed') {
      if (made.refId) await this.deleteRef(repo, made.refId);
      else await dropScratch();
      return { status: 'stale' };
    }
    const commit = made.result.commit;
    try {
      await this.mutate(repo, UPDATE_REFS_MUTATION, {
        input: {
          repositoryId,
          refUpdates: [
            { name: `refs/heads/${req.branch}`, beforeOid: req.replace, afterOid: commit, force: true },
            { name: `refs/heads/${scratch}`, beforeOid: commit, afterOid: ZERO_OID, force: true },
          ],
        },
      });
      return made.result;
    } catch (e) {
      // Refused, or the answer lost: where the rolling branch is now tells which. Both updates are
      // one atomic step, so a moved rolling branch means the scratch is gone too.
      const now = await this.headOf(repoText, req.branch).catch(() => undefined);
      if (now === commit) return made.result;
      if (now === req.replace && lacksMutation(e, 'updateRefs')) {
        // An older GitHub Enterprise Server without updateRefs: move the branch over REST, its head
        // checked just before (no compare-and-swap there), then drop the scratch branch.
        try {
          await this.rest(repo, 'PATCH /repos/{owner}/{repo}/git/refs/{ref}', { ref: `heads/${req.branch}`, sha: commit, force: true });
          return made.result;
        } finally {
          await dropScratch();
        }
      }
      if (made.refId) await this.deleteRef(repo, made.refId);
      if (partialResult(e) && now !== req.replace) return { status: 'stale', ...(now && { head: now }) };
      throw toForgeError('updateRefs', e);
    }
  }

  /** Best effort: a scratch branch left behind holds nothing Baton needs; it is only clutter. */
  private async deleteRef(repo: RepoName, refId: string): Promise<void> {
    await this.mutate(repo, DELETE_REF_MUTATION, { input: { refId } }).catch(() => undefined);
  }

  async headOf(repoText: string, branch: string): Promise<string | undefined> {
    const repo = parseRepo(repoText);
    assertBranch(branch);
    const raw = await this.restOrAbsent(repo, 'GET /repos/{owner}/{repo}/git/ref/{ref}', { ref: `heads/${branch}` });
    const ref = RefSchema.safeParse(raw);
    return ref.success ? ref.data.object.sha : undefined;
  }

  async defaultBranch(repoText: string): Promise<string> {
    const repo = parseRepo(repoText);
    return RepoSchema.parse(await this.rest(repo, 'GET /repos/{owner}/{repo}')).default_branch;
  }

  async ensureBranch(repoText: string, branch: string, from: string): Promise<string> {
    const repo = parseRepo(repoText);
    assertBranch(branch);
    assertBranch(from);
    const existing = await this.headOf(repoText, branch);
    if (existing) return existing;
    const base = await this.headOf(repoText, from);
    if (!base) throw new ForgeError(`base branch ${from} does not exist`, 404);
    try {
      await this.rest(repo, 'POST /repos/{owner}/{repo}/git/refs', { ref: `refs/heads/${branch}`, sha: base });
      return base;
    } catch (e) {
      // Someone (another replica) created it first: theirs is as good as ours.
      if (e instanceof ForgeError && e.status === 422) {
        const now = await this.headOf(repoText, branch);
        if (now) return now;
      }
      throw e;
    }
  }

  // ---- ReviewPort ----

  async ensureMergeRequest(repoText: string, spec: MergeRequestSpec, seen?: OpenMergeRequest | null): Promise<MergeRequestRef> {
    const repo = parseRepo(repoText);
    assertBranch(spec.sourceBranch);
    assertBranch(spec.targetBranch);
    const title = Array.from(spec.title).slice(0, 256).join('');
    const body = truncateComment(spec.body);
    // Told by the caller's read (or asked here): the open pull request from the branch, if any.
    let open = seen === undefined ? await this.findOpenPull(repo, repoText, spec.sourceBranch) : (seen ?? undefined);
    if (!open) {
      try {
        const created = await this.pullMutation(repo, CREATE_PULL_MUTATION, 'createPullRequest', {
          repositoryId: await this.repositoryId(repo),
          baseRefName: spec.targetBranch,
          headRefName: spec.sourceBranch,
          title,
          body,
        });
        return { number: created.number, url: created.url, created: true };
      } catch (e) {
        // "A pull request already exists": a concurrent writer opened it; update that one instead.
        if (!(e instanceof ForgeError && e.status === 422)) throw e;
        open = await this.findOpenPull(repo, repoText, spec.sourceBranch);
        if (!open) throw e;
      }
    }
    if (open.title !== title || open.body !== body || open.targetBranch !== spec.targetBranch) {
      const input = { pullRequestId: open.id, title, body, ...(open.targetBranch !== spec.targetBranch && { baseRefName: spec.targetBranch }) };
      try {
        await this.pullMutation(repo, UPDATE_PULL_MUTATION, 'updatePullRequest', input);
      } catch (e) {
        // The pull request the read saw is gone (deleted with its repository's history?): look again, once.
        if (!(seen && e instanceof ForgeError && e.status === 404)) throw e;
        return this.ensureMergeRequest(repoText, spec);
      }
    }
    return { number: open.number, url: open.url, created: false };
  }

  /** The open same-repository pull request from `branch` (GraphQL; also learns the repository id). */
  private async findOpenPull(repo: RepoName, repoText: string, branch: string): Promise<OpenMergeRequest | undefined> {
    const data = OpenPullsResultSchema.parse(await this.query(repo, repoText, 'find pull request', OPEN_PULLS_QUERY, { owner: repo.owner, name: repo.name, head: branch }));
    if (!data.repository) throw new ForgeError(`repository ${repoText} not found`, 404);
    this.repoIds.set(repoKey(repo), data.repository.id);
    const found = newestOwn(data.repository.pullRequests);
    return found && found.state === 'OPEN' ? openMergeRequest(found) : undefined;
  }

  private async pullMutation(repo: RepoName, document: string, field: 'createPullRequest' | 'updatePullRequest', input: Record<string, unknown>): Promise<OpenMergeRequest> {
    let raw: unknown;
    try {
      raw = await this.mutate(repo, document, { input });
    } catch (e) {
      throw toForgeError(field, e);
    }
    const payload = z.record(z.string(), z.unknown()).parse(raw)[field];
    return openMergeRequest(PullPayloadSchema.parse(payload).pullRequest);
  }

  async mergeRequestState(repoText: string, sourceBranch: string): Promise<MergeRequestState> {
    const repo = parseRepo(repoText);
    assertBranch(sourceBranch);
    const raw = await this.rest(repo, 'GET /repos/{owner}/{repo}/pulls', { state: 'all', head: `${repo.owner}:${sourceBranch}`, sort: 'created', direction: 'desc', per_page: 1 });
    const newest = z.array(PullStateSchema).parse(raw)[0];
    if (!newest) return 'none';
    if (newest.state === 'open') return 'open';
    return newest.merged_at ? 'merged' : 'closed';
  }

  async upsertComment(repoText: string, number: number, marker: string, body: string): Promise<{ id: string; changed: boolean }> {
    const repo = parseRepo(repoText);
    if (!Number.isSafeInteger(number) || number <= 0) throw new ForgeError(`invalid pull request number ${number}`, 422);
    if (marker.trim() === '') throw new ForgeError('a sticky comment needs a marker', 422);
    // The marker leads, so truncation can never cut it off and orphan the comment.
    const text = truncateComment(body.startsWith(marker) ? body : `${marker}\n${body}`);
    const mine = await this.mine(repo, number, marker);
    if (mine) {
      if (mine.body === text) return { id: String(mine.id), changed: false };
      await this.rest(repo, 'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', { comment_id: mine.id, body: text });
      return { id: String(mine.id), changed: true };
    }
    const created = CommentSchema.parse(await this.rest(repo, 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { issue_number: number, body: text }));
    return { id: String(created.id), changed: true };
  }

  /** Baton's comment carrying `marker`: every page, since on a busy PR it can be far from the first 100. */
  private async mine(repo: RepoName, number: number, marker: string): Promise<z.infer<typeof CommentSchema> | undefined> {
    const me = await this.options.botLogin();
    for (let page = 1; ; page++) {
      const raw = await this.rest(repo, 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { issue_number: number, per_page: PAGE, page });
      const comments = z.array(CommentSchema).parse(raw);
      // Anyone can quote the marker; only a comment Baton wrote is Baton's to edit.
      const found = comments.find((c) => (c.body ?? '').includes(marker) && (me === undefined || c.user?.login === me));
      if (found || comments.length < PAGE) return found;
    }
  }

  async findComment(repoText: string, number: number, marker: string): Promise<{ id: string; body: string } | undefined> {
    const repo = parseRepo(repoText);
    if (!Number.isSafeInteger(number) || number <= 0) throw new ForgeError(`invalid pull request number ${number}`, 422);
    const mine = await this.mine(repo, number, marker);
    return mine ? { id: String(mine.id), body: mine.body ?? '' } : undefined;
  }

  async react(repoText: string, commentId: string, reaction: Reaction, number?: number): Promise<void> {
    const repo = parseRepo(repoText);
    if (/^\d{1,20}$/.test(commentId)) {
      await this.rest(repo, 'POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions', { comment_id: Number(commentId), content: reaction });
      return;
    }
    // No comment id: react on the pull request itself (its description).
    if (commentId === '' && number !== undefined && Number.isSafeInteger(number) && number > 0) {
      await this.rest(repo, 'POST /repos/{owner}/{repo}/issues/{issue_number}/reactions', { issue_number: number, content: reaction });
      return;
    }
    throw new ForgeError(`invalid comment id ${JSON.stringify(commentId.slice(0, 40))}`, 422);
  }

  async setStatus(repoText: string, status: CommitStatus): Promise<void> {
    const repo = parseRepo(repoText);
    if (!isSha(status.sha)) throw new ForgeError('a status needs a full commit id', 422);
    // GitHub keeps at most 140 characters of a description.
    const description = Array.from(status.description).slice(0, 140).join('');
    const targetUrl = status.targetUrl ?? null;
    const raw = await this.rest(repo, 'GET /repos/{owner}/{repo}/commits/{ref}/statuses', { ref: status.sha, per_page: PAGE });
    // Newest first: the first entry for this context is the one GitHub shows.
    const latest = z.array(StatusSchema).parse(raw).find((s) => s.context === status.context);
    if (latest && latest.state === status.state && (latest.description ?? '') === description && latest.target_url === targetUrl) return;
    await this.rest(repo, 'POST /repos/{owner}/{repo}/statuses/{sha}', {
      sha: status.sha,
      state: status.state,
      context: status.context,
      description,
      ...(targetUrl !== null && { target_url: targetUrl }),
    });
  }

  async mergeRequestsForCommit(repoText: string, sha: string): Promise<CommitMergeRequest[]> {
    const repo = parseRepo(repoText);
    if (!/^[0-9a-f]{7,40}$/.test(sha)) throw new ForgeError('a commit lookup needs a hex commit id', 422);
    const raw = await this.rest(repo, 'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls', { commit_sha: sha, per_page: PAGE });
    return z
      .array(CommitPullSchema)
      .parse(raw)
      .map((p) => ({
        number: p.number,
        url: p.html_url,
        title: p.title,
        state: p.merged_at !== null ? 'merged' : p.state === 'open' ? 'open' : 'closed',
        shas: [p.head.sha, ...(p.merged_at !== null && p.merge_commit_sha !== null ? [p.merge_commit_sha] : [])],
      }));
  }

  async recentCommits(repoText: string, branch: string, limit: number): Promise<LoggedCommit[]> {
    const repo = parseRepo(repoText);
    assertBranch(branch);
    const out: LoggedCommit[] = [];
    for (let page = 1; out.length < limit; page++) {
      const raw = await this.restOrAbsent(repo, 'GET /repos/{owner}/{repo}/commits', { sha: branch, per_page: Math.min(PAGE, limit), page });
      if (raw === undefined) break;
      const commits = z.array(ListedCommitSchema).parse(raw);
      out.push(...commits.map((c) => ({ sha: c.sha, message: c.commit.message })));
      if (commits.length < Math.min(PAGE, limit)) break;
    }
    return out.slice(0, limit);
  }

  async roleOf(repoText: string, user: string): Promise<Role> {
    const repo = parseRepo(repoText);
    if (!isValidLogin(user)) return 'none';
    const raw = await this.restOrAbsent(repo, 'GET /repos/{owner}/{repo}/collaborators/{username}/permission', { username: user });
    if (raw === undefined) return 'none';
    const p = PermissionSchema.parse(raw);
    // role_name names the fine-grained role; custom roles fall back to their base permission.
    if (p.role_name !== undefined && isRole(p.role_name)) return p.role_name;
    return isRole(p.permission) ? p.permission : 'none';
  }

  // ---- AppRepoPort (previews) ----

  async getMergeRequest(repoText: string, number: number): Promise<MergeRequestInfo | undefined> {
    const repo = parseRepo(repoText);
    if (!Number.isSafeInteger(number) || number <= 0) throw new ForgeError(`invalid pull request number ${number}`, 422);
    const raw = await this.restOrAbsent(repo, 'GET /repos/{owner}/{repo}/pulls/{pull_number}', { pull_number: number });
    return raw === undefined ? undefined : mergeRequestInfo(PullDetailSchema.parse(raw));
  }

  async listOpenMergeRequests(repoText: string): Promise<MergeRequestInfo[]> {
    const repo = parseRepo(repoText);
    const all: MergeRequestInfo[] = [];
    for (let page = 1; ; page++) {
      if (page > MAX_MR_PAGES) throw new ForgeError(`more than ${MAX_MR_PAGES * PAGE} open pull requests in ${repoText}; not answering with a partial list`, 413);
      const raw = await this.rest(repo, 'GET /repos/{owner}/{repo}/pulls', { state: 'open', per_page: PAGE, page });
      const pulls = z.array(PullDetailSchema).parse(raw);
      all.push(...pulls.map(mergeRequestInfo));
      if (pulls.length < PAGE) return all;
    }
  }

  async commitMergeRequests(repoText: string, sha: string): Promise<MergeRequestInfo[]> {
    const repo = parseRepo(repoText);
    if (!isSha(sha)) throw new ForgeError('a full commit id is needed', 422);
    const raw = await this.restOrAbsent(repo, 'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls', { commit_sha: sha, per_page: PAGE });
    return raw === undefined ? [] : z.array(PullDetailSchema).parse(raw).map(mergeRequestInfo);
  }

  /** Check runs (GitHub Actions and Checks apps) of the commit: all passed → success. */
  async buildState(repoText: string, sha: string): Promise<BuildState> {
    const repo = parseRepo(repoText);
    if (!isSha(sha)) throw new ForgeError('a full commit id is needed', 422);
    const runs = CheckRunsSchema.parse(await this.rest(repo, 'GET /repos/{owner}/{repo}/commits/{ref}/check-runs', { ref: sha, per_page: PAGE }));
    if (runs.total_count === 0) return this.legacyBuildState(repo, sha);
    if (runs.check_runs.some((r) => r.conclusion !== null && FAILED.has(r.conclusion))) return 'failure';
    if (runs.total_count > runs.check_runs.length) return 'pending';
    return runs.check_runs.every((r) => r.status === 'completed' && r.conclusion !== null && PASSED.has(r.conclusion)) ? 'success' : 'pending';
  }

  /** CI that reports commit statuses (Jenkins, CircleCI…): the newest status per context, Baton's own left out. */
  private async legacyBuildState(repo: RepoName, sha: string): Promise<BuildState> {
    const raw = await this.rest(repo, 'GET /repos/{owner}/{repo}/commits/{ref}/statuses', { ref: sha, per_page: PAGE });
    const latest = new Map<string, string>();
    // Newest first: the first entry of a context is its current state.
    for (const s of z.array(StatusSchema).parse(raw)) if (!s.context.startsWith('baton/') && !latest.has(s.context)) latest.set(s.context, s.state);
    const states = [...latest.values()];
    if (states.length === 0) return 'none';
    if (states.some((s) => s === 'failure' || s === 'error')) return 'failure';
    return states.every((s) => s === 'success') ? 'success' : 'pending';
  }

  // ---- ChatOps reads ----

  async resolveCommit(repoText: string, sha: string): Promise<string | undefined> {
    const repo = parseRepo(repoText);
    if (!/^[0-9a-f]{7,40}$/.test(sha)) return undefined;
    try {
      const raw = await this.restOrAbsent(repo, 'GET /repos/{owner}/{repo}/commits/{ref}', { ref: sha });
      return raw === undefined ? undefined : SingleCommitSchema.parse(raw).sha;
    } catch (e) {
      // GitHub answers 422 "No commit found for SHA" for a sha it does not know.
      if (e instanceof ForgeError && e.status === 422) return undefined;
      throw e;
    }
  }

  /** The pull request for ChatOps; unlike getMergeRequest, a missing one is an error. */
  async mergeRequest(repoText: string, number: number): Promise<ChatOpsMergeRequest> {
    const found = await this.getMergeRequest(repoText, number);
    if (!found) throw new ForgeError(`pull request #${number} not found in ${repoText}`, 404);
    return found;
  }

  /** Commit statuses and check runs together, as the pull request's merge box shows them. */
  async ciVerdict(repoText: string, sha: string): Promise<CiVerdict> {
    const repo = parseRepo(repoText);
    if (!isSha(sha)) throw new ForgeError('invalid commit sha', 422);
    const combined = CombinedStatusSchema.parse(await this.rest(repo, 'GET /repos/{owner}/{repo}/commits/{ref}/status', { ref: sha, per_page: 100 }));
    const runs = CheckRunsSchema.parse(await this.rest(repo, 'GET /repos/{owner}/{repo}/commits/{ref}/check-runs', { ref: sha, per_page: 100 }));
    const failed = [
      ...combined.statuses.filter((s) => s.state === 'failure' || s.state === 'error').map((s) => `${s.context}: ${s.state}`),
      ...runs.check_runs.filter((r) => r.status === 'completed' && r.conclusion !== null && FAILED_CONCLUSIONS.has(r.conclusion)).map((r) => `${r.name}: ${r.conclusion ?? ''}`),
    ];
    const pending = [
      ...combined.statuses.filter((s) => s.state === 'pending').map((s) => s.context),
      ...runs.check_runs.filter((r) => r.status !== 'completed').map((r) => r.name),
    ];
    const names = (xs: string[]): string => Array.from(xs.slice(0, 5).join(', ')).slice(0, 200).join('') + (xs.length > 5 ? ` and ${xs.length - 5} more` : '');
    if (failed.length > 0) return { state: 'failure', summary: names(failed) };
    if (pending.length > 0) return { state: 'pending', summary: `waiting for ${names(pending)}` };
    if (combined.total_count === 0 && runs.total_count === 0) return { state: 'none', summary: 'no checks or statuses' };
    return { state: 'success', summary: `${combined.total_count + runs.total_count} checks passed` };
  }

  async commitsTouching(repoText: string, branch: string, path: string, limit: number): Promise<{ sha: string; message: string }[]> {
    const repo = parseRepo(repoText);
    assertBranch(branch);
    if (!isSafePath(path)) throw new ForgeError(`unsafe path ${JSON.stringify(path.slice(0, 100))}`, 422);
    const raw = await this.rest(repo, 'GET /repos/{owner}/{repo}/commits', { sha: branch, path, per_page: Math.min(100, Math.max(1, limit)) });
    return z.array(ListedCommitSchema).parse(raw).map((c) => ({ sha: c.sha, message: c.commit.message }));
  }
}
