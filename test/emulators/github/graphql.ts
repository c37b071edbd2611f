/**
 * The GraphQL side of the emulator: documents are validated against GitHub's published schema
 * (`@octokit/graphql-schema`) and executed by graphql-js on that same schema, with resolvers for
 * just the fields Baton reads (repository → ref → commit → file → blob, repository → pullRequests) and
 * the mutations it makes: `createCommitOnBranch`, `createRef`, `updateRefs`, `deleteRef`,
 * `createPullRequest`, `updatePullRequest`. Several mutations in one document run one after the
 * other, as on GitHub; a failed one leaves its field null with an error, and the next still runs.
 */

import { schema as githubSchema } from '@octokit/graphql-schema';
import { GraphQLError, Kind, buildClientSchema, execute, parse, validate } from 'graphql';
import type { DocumentNode, ExecutionResult, GraphQLSchema, IntrospectionQuery } from 'graphql';
import { CommitConflict, MissingPath } from './git-store.js';
import type { StoreChange } from './git-store.js';
import type { EmuPull, EmuRepo, EmulatorState } from './state.js';

/** GitHub's limit for a pull request body, in characters. */
const BODY_LIMIT = 65_536;
const ZERO_OID = '0'.repeat(40);

let built: GraphQLSchema | undefined;
export function githubGraphqlSchema(): GraphQLSchema {
  return (built ??= buildClientSchema(githubSchema.json as unknown as IntrospectionQuery));
}

/** An error GitHub reports with a top-level `type` (NOT_FOUND, STALE_DATA, UNPROCESSABLE, FORBIDDEN). */
class TypedError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export interface GraphqlContext {
  login: string;
  state: EmulatorState;
  /** Mutations this server does not have (an older GitHub Enterprise Server): refused as its schema would. */
  missingMutations?: ReadonlySet<string>;
}

export interface GraphqlOutcome {
  body: { data?: unknown; errors?: { message: string; type?: string; path?: readonly (string | number)[] }[] };
  /** Problems with the document itself: the adapter drifted from GitHub's schema. */
  violations: string[];
  /** The root fields the operation asked for (`repository`, `createRef+createCommitOnBranch`). */
  fields?: string;
}

async function blobObject(repo: EmuRepo, oid: string): Promise<Record<string, unknown>> {
  const bytes = await repo.git.blob(oid);
  const binary = bytes.includes(0);
  const truncated = bytes.length > repo.blobTextLimit;
  const text = binary ? null : bytes.subarray(0, repo.blobTextLimit).toString('utf8');
  return { __typename: 'Blob', oid, byteSize: bytes.length, isBinary: binary, isTruncated: truncated, text, abbreviatedOid: oid.slice(0, 7) };
}

function treeObject(oid: string): Record<string, unknown> {
  return { __typename: 'Tree', oid, abbreviatedOid: oid.slice(0, 7) };
}

async function commitObject(repo: EmuRepo, oid: string): Promise<Record<string, unknown>> {
  return {
    __typename: 'Commit',
    oid,
    abbreviatedOid: oid.slice(0, 7),
    url: `https://github.com/${repo.owner}/${repo.name}/commit/${oid}`,
    message: async () => (await repo.git.commitInfo(oid)).message,
    file: async ({ path }: { path: string }) => {
      const entry = await repo.git.entry(oid, path);
      if (!entry) return null;
      const object = entry.type === 'blob' ? await blobObject(repo, entry.oid) : entry.type === 'tree' ? treeObject(entry.oid) : null;
      return { name: path.split('/').pop(), path, mode: Number.parseInt(entry.mode, 8), type: entry.type, oid: entry.oid, object };
    },
  };
}

async function anyObject(repo: EmuRepo, oid: string): Promise<Record<string, unknown> | null> {
  const type = await repo.git.objectType(oid);
  if (type === 'commit') return commitObject(repo, oid);
  if (type === 'blob') return blobObject(repo, oid);
  if (type === 'tree') return treeObject(oid);
  return null;
}

/** Opaque node ids, as GitHub's are: the emulator can resolve them back. */
const refId = (repo: EmuRepo, branch: string): string => `REF_${Buffer.from(`${repo.id}:${branch}`).toString('base64url')}`;
const pullId = (repo: EmuRepo, number: number): string => `PR_${Buffer.from(`${repo.id}:${number}`).toString('base64url')}`;
const repoId = (repo: EmuRepo): string => `R_${repo.id}`;

function decodeId(prefix: string, id: string): [number, string] | undefined {
  if (!id.startsWith(prefix)) return undefined;
  const text = Buffer.from(id.slice(prefix.length), 'base64url').toString('utf8');
  const colon = text.indexOf(':');
  const n = Number(text.slice(0, colon));
  return colon > 0 && Number.isSafeInteger(n) ? [n, text.slice(colon + 1)] : undefined;
}

function repoById(state: EmulatorState, id: number | string): EmuRepo | undefined {
  for (const r of state.repos.values()) if (r.id === id || repoId(r) === id) return r;
  return undefined;
}

function unresolvable(id: string): TypedError {
  return new TypedError('NOT_FOUND', `Could not resolve to a node with the global id of '${id}'`);
}

async function refObject(repo: EmuRepo, branch: string, oid: string): Promise<Record<string, unknown>> {
  return { __typename: 'Ref', id: refId(repo, branch), name: branch, prefix: 'refs/heads/', target: await commitObject(repo, oid) };
}

function pullState(p: EmuPull): 'OPEN' | 'CLOSED' | 'MERGED' {
  return p.mergedAt !== undefined ? 'MERGED' : p.state === 'open' ? 'OPEN' : 'CLOSED';
}

function pullObject(repo: EmuRepo, p: EmuPull): Record<string, unknown> {
  return {
    __typename: 'PullRequest',
    id: pullId(repo, p.number),
    number: p.number,
    url: `https://github.com/${repo.owner}/${repo.name}/pull/${p.number}`,
    title: p.title,
    body: p.body,
    state: pullState(p),
    merged: p.mergedAt !== undefined,
    closed: p.state === 'closed',
    baseRefName: p.base,
    headRefName: p.head,
    isCrossRepository: p.fork !== undefined,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt ?? p.createdAt,
  };
}

/** A connection's page bounds, refused as GitHub refuses them. */
function pageSize(connection: string, args: { first?: number | null; last?: number | null }): { take: number; fromEnd: boolean } {
  const first = args.first ?? undefined;
  const last = args.last ?? undefined;
  if (first === undefined && last === undefined) throw new TypedError('MISSING_PAGINATION_BOUNDARIES', `You must provide a \`first\` or \`last\` value to properly paginate the \`${connection}\` connection.`);
  const n = first ?? last ?? 0;
  if (n < 0 || n > 100) throw new TypedError('EXCESSIVE_PAGINATION', `Requesting ${n} records on the \`${connection}\` connection exceeds the \`${first !== undefined ? 'first' : 'last'}\` limit of 100 records.`);
  return { take: n, fromEnd: first === undefined };
}

function repositoryObject(repo: EmuRepo): Record<string, unknown> {
  return {
    __typename: 'Repository',
    id: repoId(repo),
    name: repo.name,
    nameWithOwner: `${repo.owner}/${repo.name}`,
    ref: async ({ qualifiedName }: { qualifiedName: string }) => {
      const branch = qualifiedName.startsWith('refs/heads/') ? qualifiedName.slice('refs/heads/'.length) : qualifiedName.startsWith('refs/') ? undefined : qualifiedName;
      if (branch === undefined) return null;
      const oid = await repo.git.refHead(branch);
      if (!oid) return null;
      return refObject(repo, branch, oid);
    },
    pullRequests: (args: { states?: string[] | null; headRefName?: string | null; baseRefName?: string | null; orderBy?: { field: string; direction: string } | null; first?: number | null; last?: number | null }) => {
      const { take, fromEnd } = pageSize('pullRequests', args);
      // Without orderBy GitHub lists oldest first; CREATED_AT/UPDATED_AT order by that time.
      const key = (p: EmuPull): string => (args.orderBy?.field === 'UPDATED_AT' ? (p.updatedAt ?? p.createdAt) : p.createdAt) + String(p.number).padStart(10, '0');
      const all = repo.pulls
        .filter((p) => !args.states || args.states.includes(pullState(p)))
        .filter((p) => args.headRefName == null || p.head === args.headRefName)
        .filter((p) => args.baseRefName == null || p.base === args.baseRefName)
        .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      if (args.orderBy?.direction === 'DESC') all.reverse();
      const nodes = (fromEnd ? all.slice(Math.max(0, all.length - take)) : all.slice(0, take)).map((p) => pullObject(repo, p));
      return { totalCount: all.length, nodes, pageInfo: { hasNextPage: !fromEnd && all.length > take, hasPreviousPage: fromEnd && all.length > take, startCursor: null, endCursor: null } };
    },
    object: async ({ oid, expression }: { oid?: string; expression?: string }) => {
      if (oid) return anyObject(repo, oid);
      if (expression) {
        const colon = expression.indexOf(':');
        const rev = colon < 0 ? expression : expression.slice(0, colon);
        const path = colon < 0 ? '' : expression.slice(colon + 1);
        const commit = /^[0-9a-f]{40}$/.test(rev) ? rev : await repo.git.refHead(rev);
        if (!commit) return null;
        if (!path) return anyObject(repo, commit);
        const entry = await repo.git.entry(commit, path);
        return entry ? anyObject(repo, entry.oid) : null;
      }
      return null;
    },
  };
}

interface CommitInput {
  branch: { repositoryNameWithOwner?: string; branchName?: string; id?: string };
  expectedHeadOid: string;
  message: { headline: string; body?: string | null };
  fileChanges?: { additions?: { path: string; contents: string }[] | null; deletions?: { path: string }[] | null } | null;
}

function rootValue(ctx: GraphqlContext): Record<string, unknown> {
  return {
    repository: ({ owner, name }: { owner: string; name: string }) => {
      const repo = ctx.state.repo(owner, name);
      if (!repo) throw new TypedError('NOT_FOUND', `Could not resolve to a Repository with the name '${owner}/${name}'.`);
      return repositoryObject(repo);
    },
    createCommitOnBranch: async ({ input }: { input: CommitInput }) => {
      const full = input.branch.repositoryNameWithOwner ?? '';
      const [owner = '', name = ''] = full.split('/');
      const repo = ctx.state.repo(owner, name);
      if (!repo || !input.branch.branchName) throw new TypedError('NOT_FOUND', `Could not resolve to a Repository with the name '${full}'.`);
      if (!ctx.state.canWrite(repo, ctx.login)) throw new TypedError('FORBIDDEN', `${ctx.login} does not have permission to push to ${full}.`);
      const branch = input.branch.branchName.replace(/^refs\/heads\//, '');
      const head = await repo.git.refHead(branch);
      if (!head) throw new TypedError('NOT_FOUND', `A ref named "refs/heads/${branch}" does not exist.`);
      if (/[\r\n]/.test(input.message.headline)) throw new TypedError('UNPROCESSABLE', 'The commit headline must be a single line.');
      const changes: StoreChange[] = [];
      for (const d of input.fileChanges?.deletions ?? []) changes.push({ type: 'delete', path: d.path });
      for (const a of input.fileChanges?.additions ?? []) {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(a.contents)) throw new TypedError('UNPROCESSABLE', `The contents of ${a.path} are not valid Base64.`);
        changes.push({ type: 'write', path: a.path, contents: Buffer.from(a.contents, 'base64') });
      }
      const message = input.message.body ? `${input.message.headline}\n\n${input.message.body}\n` : `${input.message.headline}\n`;
      try {
        const oid = await repo.git.commit(branch, input.expectedHeadOid, changes, message, { name: ctx.login, email: `${ctx.login}@users.noreply.github.com` });
        return { commit: await commitObject(repo, oid), ref: { __typename: 'Ref', name: branch, prefix: 'refs/heads/' } };
      } catch (e) {
        if (e instanceof CommitConflict) throw new TypedError('STALE_DATA', `Expected branch to point to "${input.expectedHeadOid}" but it did not. Pull and try again.`);
        if (e instanceof MissingPath) throw new TypedError('UNPROCESSABLE', `A path was requested for deletion which does not exist as of commit oid \`${input.expectedHeadOid}\``);
        throw e;
      }
    },
    createRef: async ({ input }: { input: { repositoryId: string; name: string; oid: string } }) => {
      const repo = repoById(ctx.state, input.repositoryId);
      if (!repo) throw unresolvable(input.repositoryId);
      if (!ctx.state.canWrite(repo, ctx.login)) throw new TypedError('FORBIDDEN', `${ctx.login} does not have permission to create a ref in ${repo.owner}/${repo.name}.`);
      // Only a fully qualified name makes a branch; GitHub refuses `my-branch` and `heads/my-branch`.
      if (!/^refs\/[^/]+\/.+/.test(input.name)) throw new TypedError('UNPROCESSABLE', `Reference name "${input.name}" is not a fully qualified reference name (refs/…)`);
      if (!input.name.startsWith('refs/heads/')) throw new TypedError('UNPROCESSABLE', `The emulator only creates branches, not ${input.name}`);
      if ((await repo.git.objectType(input.oid)) !== 'commit') throw new TypedError('UNPROCESSABLE', 'Object does not exist');
      const branch = input.name.slice('refs/heads/'.length);
      if (!(await repo.git.createBranch(branch, input.oid))) throw new TypedError('UNPROCESSABLE', `Reference ${input.name} already exists`);
      return { ref: await refObject(repo, branch, input.oid) };
    },
    updateRefs: async ({ input }: { input: { repositoryId: string; refUpdates: { name: string; afterOid: string; beforeOid?: string | null; force?: boolean | null }[] } }) => {
      const repo = repoById(ctx.state, input.repositoryId);
      if (!repo) throw unresolvable(input.repositoryId);
      if (!ctx.state.canWrite(repo, ctx.login)) throw new TypedError('FORBIDDEN', `${ctx.login} does not have permission to update refs in ${repo.owner}/${repo.name}.`);
      const updates = input.refUpdates.map((u) => {
        if (!u.name.startsWith('refs/heads/')) throw new TypedError('UNPROCESSABLE', `The emulator only updates branches, not ${u.name}`);
        return {
          branch: u.name.slice('refs/heads/'.length),
          ...(u.beforeOid != null && { before: u.beforeOid === ZERO_OID ? null : u.beforeOid }),
          after: u.afterOid === ZERO_OID ? null : u.afterOid,
          force: u.force === true,
        };
      });
      const done = await repo.git.updateRefs(updates);
      if (!done.ok) throw new TypedError('UNPROCESSABLE', `Reference update failed: ${done.reason}`);
      return { clientMutationId: null };
    },
    deleteRef: async ({ input }: { input: { refId: string } }) => {
      const decoded = decodeId('REF_', input.refId);
      const repo = decoded && repoById(ctx.state, decoded[0]);
      if (!decoded || !repo || !(await repo.git.refHead(decoded[1]))) throw unresolvable(input.refId);
      if (!ctx.state.canWrite(repo, ctx.login)) throw new TypedError('FORBIDDEN', `${ctx.login} does not have permission to delete refs in ${repo.owner}/${repo.name}.`);
      await repo.git.deleteBranch(decoded[1]);
      return { clientMutationId: null };
    },
    createPullRequest: async ({ input }: { input: { repositoryId: string; baseRefName: string; headRefName: string; title: string; body?: string | null; headRepositoryId?: string | null; draft?: boolean | null } }) => {
      const repo = repoById(ctx.state, input.repositoryId);
      if (!repo) throw unresolvable(input.repositoryId);
      if (!ctx.state.canWrite(repo, ctx.login)) throw new TypedError('FORBIDDEN', `${ctx.login} does not have permission to create a pull request in ${repo.owner}/${repo.name}.`);
      const head = input.headRefName.replace(/^refs\/heads\//, '');
      const base = input.baseRefName.replace(/^refs\/heads\//, '');
      const headOid = await repo.git.refHead(head);
      const baseOid = await repo.git.refHead(base);
      const problems: string[] = [];
      if (!headOid) problems.push('Head sha can\'t be blank', 'Head ref must be a branch');
      if (!baseOid) problems.push('Base sha can\'t be blank', 'Base ref must be a branch');
      if (problems.length > 0) throw new TypedError('UNPROCESSABLE', problems.join(', '));
      if (input.title.trim() === '') throw new TypedError('UNPROCESSABLE', 'Title can\'t be blank');
      if (Array.from(input.body ?? '').length > BODY_LIMIT) throw new TypedError('UNPROCESSABLE', `Body is too long (maximum is ${BODY_LIMIT} characters)`);
      if (repo.pulls.some((x) => x.state === 'open' && !x.fork && x.head === head && x.base === base)) throw new TypedError('UNPROCESSABLE', `A pull request already exists for ${repo.owner}:${head}.`);
      if (await repo.git.isAncestor(headOid ?? '', baseOid ?? '')) throw new TypedError('UNPROCESSABLE', `No commits between ${base} and ${head}`);
      const now = new Date().toISOString();
      const pull: EmuPull = { number: repo.nextNumber++, title: input.title, body: input.body ?? '', head, base, state: 'open', user: ctx.login, createdAt: now };
      repo.pulls.push(pull);
      return { pullRequest: pullObject(repo, pull) };
    },
    updatePullRequest: async ({ input }: { input: { pullRequestId: string; title?: string | null; body?: string | null; baseRefName?: string | null; state?: string | null } }) => {
      const decoded = decodeId('PR_', input.pullRequestId);
      const repo = decoded && repoById(ctx.state, decoded[0]);
      const pull = decoded && repo?.pulls.find((x) => x.number === Number(decoded[1]));
      if (!repo || !pull) throw unresolvable(input.pullRequestId);
      if (!ctx.state.canWrite(repo, ctx.login) && pull.user !== ctx.login) throw new TypedError('FORBIDDEN', `${ctx.login} does not have permission to update pull request #${pull.number}.`);
      if (input.title != null && input.title.trim() === '') throw new TypedError('UNPROCESSABLE', 'Title can\'t be blank');
      if (input.body != null && Array.from(input.body).length > BODY_LIMIT) throw new TypedError('UNPROCESSABLE', `Body is too long (maximum is ${BODY_LIMIT} characters)`);
      if (input.baseRefName != null && input.baseRefName !== pull.base) {
        if (pull.state !== 'open') throw new TypedError('UNPROCESSABLE', 'Cannot change the base branch of a closed pull request.');
        if (!(await repo.git.refHead(input.baseRefName))) throw new TypedError('UNPROCESSABLE', `Proposed base branch '${input.baseRefName}' was not found`);
      }
      if (input.state === 'OPEN' && pull.mergedAt !== undefined) throw new TypedError('UNPROCESSABLE', 'Cannot reopen a merged pull request.');
      if (input.title != null) pull.title = input.title;
      if (input.body != null) pull.body = input.body;
      if (input.baseRefName != null) pull.base = input.baseRefName;
      if (input.state === 'OPEN' || input.state === 'CLOSED') pull.state = input.state === 'OPEN' ? 'open' : 'closed';
      pull.updatedAt = new Date().toISOString();
      return { pullRequest: pullObject(repo, pull) };
    },
  };
}

/** Validate and run one GraphQL request body. */
export async function runGraphql(body: unknown, ctx: GraphqlContext): Promise<GraphqlOutcome> {
  const req = (typeof body === 'object' && body !== null ? body : {}) as { query?: unknown; variables?: unknown; operationName?: unknown };
  if (typeof req.query !== 'string') return { body: { errors: [{ message: 'A query attribute must be specified and must be a string.' }] }, violations: ['GraphQL request without a query string'] };
  const schema = githubGraphqlSchema();
  let document: DocumentNode;
  try {
    document = parse(req.query);
  } catch (e) {
    const message = e instanceof GraphQLError ? e.message : String(e);
    return { body: { errors: [{ message }] }, violations: [`GraphQL syntax: ${message}`] };
  }
  // An older server's schema lacks some mutations: it refuses the document as GitHub does, which is
  // not drift on Baton's side (the field exists in the published schema).
  for (const d of document.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION || d.operation !== 'mutation') continue;
    for (const f of d.selectionSet.selections) {
      if (f.kind === Kind.FIELD && ctx.missingMutations?.has(f.name.value)) {
        const fields = d.selectionSet.selections.flatMap((x) => (x.kind === Kind.FIELD ? [x.name.value] : [])).join('+');
        return { body: { errors: [{ message: `Field '${f.name.value}' doesn't exist on type 'Mutation'` }] }, violations: [], fields };
      }
    }
  }
  const invalid = validate(schema, document);
  if (invalid.length > 0) {
    return { body: { errors: invalid.map((e) => ({ message: e.message })) }, violations: invalid.map((e) => `GraphQL schema: ${e.message}`) };
  }
  const variables = typeof req.variables === 'object' && req.variables !== null ? (req.variables as Record<string, unknown>) : {};
  const operation = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && (typeof req.operationName !== 'string' || d.name?.value === req.operationName));
  const fields = operation?.kind === Kind.OPERATION_DEFINITION ? operation.selectionSet.selections.flatMap((f) => (f.kind === Kind.FIELD ? [f.name.value] : [])).join('+') : undefined;
  const result: ExecutionResult = await execute({
    schema,
    document,
    rootValue: rootValue(ctx),
    contextValue: ctx,
    variableValues: variables,
    ...(typeof req.operationName === 'string' && { operationName: req.operationName }),
  });
  const violations: string[] = [];
  const errors = result.errors?.map((e) => {
    const original = e.originalError;
    if (original instanceof TypedError) return { message: original.message, type: original.type, ...(e.path && { path: e.path }) };
    // Variable coercion failures and resolver crashes: GitHub would refuse these too.
    violations.push(`GraphQL execution: ${e.message}`);
    return { message: e.message, ...(e.path && { path: e.path }) };
  });
  return { body: { ...(result.data !== undefined && { data: result.data }), ...(errors && { errors }) }, violations, ...(fields && { fields }) };
}
