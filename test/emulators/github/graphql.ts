/**
 * The GraphQL side of the emulator: documents are validated against GitHub's published schema
 * (`@octokit/graphql-schema`) and executed by graphql-js on that same schema, with resolvers for
 * just the fields Baton reads (repository → ref → commit → file → blob) and `createCommitOnBranch`.
 */

import { schema as githubSchema } from '@octokit/graphql-schema';
import { GraphQLError, buildClientSchema, execute, parse, validate } from 'graphql';
import type { DocumentNode, ExecutionResult, GraphQLSchema, IntrospectionQuery } from 'graphql';
import { CommitConflict, MissingPath } from './git-store.js';
import type { StoreChange } from './git-store.js';
import type { EmuRepo, EmulatorState } from './state.js';

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
}

export interface GraphqlOutcome {
  body: { data?: unknown; errors?: { message: string; type?: string; path?: readonly (string | number)[] }[] };
  /** Problems with the document itself: the adapter drifted from GitHub's schema. */
  violations: string[];
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

function repositoryObject(repo: EmuRepo): Record<string, unknown> {
  return {
    __typename: 'Repository',
    id: `R_${repo.id}`,
    name: repo.name,
    nameWithOwner: `${repo.owner}/${repo.name}`,
    ref: async ({ qualifiedName }: { qualifiedName: string }) => {
      const branch = qualifiedName.startsWith('refs/heads/') ? qualifiedName.slice('refs/heads/'.length) : qualifiedName.startsWith('refs/') ? undefined : qualifiedName;
      if (branch === undefined) return null;
      const oid = await repo.git.refHead(branch);
      if (!oid) return null;
      return { __typename: 'Ref', name: branch, prefix: 'refs/heads/', target: await commitObject(repo, oid) };
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
  const invalid = validate(schema, document);
  if (invalid.length > 0) {
    return { body: { errors: invalid.map((e) => ({ message: e.message })) }, violations: invalid.map((e) => `GraphQL schema: ${e.message}`) };
  }
  const variables = typeof req.variables === 'object' && req.variables !== null ? (req.variables as Record<string, unknown>) : {};
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
  return { body: { ...(result.data !== undefined && { data: result.data }), ...(errors && { errors }) }, violations };
}
