/**
 * The GraphQL side of the GitLab emulator, on GitLab's real schema (./schema.ts): every document is
 * validated against it, scored with GitLab's complexity rules (./complexity.ts) and refused over the
 * limit, then executed by graphql-js with resolvers for the fields Baton reads. Scalars leave the way
 * GitLab serializes them: `BigInt` as a string, ids as `gid://gitlab/...`.
 */

import { GraphQLError, Kind, execute, getOperationAST, getVariableValues, parse, validate } from 'graphql';
import type { DocumentNode, FragmentDefinitionNode } from 'graphql';
import type { GitStore } from './git-store.js';
import { AUTHENTICATED_MAX_COMPLEXITY, complexityError, queryComplexity } from './complexity.js';
import { gitlabGraphqlSchema } from './schema.js';

/** GitLab's blobs connection pages at 100 nodes. */
const MAX_PAGE = 100;

/** A merge request as the GraphQL `MergeRequest` type shows it. */
export interface GraphqlMergeRequest {
  iid: number;
  state: 'opened' | 'closed' | 'merged' | 'locked';
  title: string;
  description: string | null;
  webUrl: string;
  sourceBranch: string;
  targetBranch: string;
}

export interface GraphqlProject {
  store: GitStore;
  defaultBranch: string;
  /** The project's merge requests, oldest first. */
  mergeRequests?: () => GraphqlMergeRequest[];
}

export interface GraphqlOptions {
  /** GitLab's limit for an authenticated request (250). */
  maxComplexity?: number;
}

export interface GraphqlOutcome {
  body: { data?: unknown; errors?: { message: string }[] };
  /** Why GitLab would not run the document at all: invalid for the schema, or over the complexity limit. */
  refusal?: string;
  /** The complexity score GitLab gives the document, when it could be scored. */
  complexity?: number;
}

function isText(content: Buffer): boolean {
  return !content.includes(0);
}

/** `Gitlab::GitRefValidator.validate(ref, skip_head_ref_check: true)`: the BlobsResolver refuses anything else ("Ref is not valid"). */
function validRef(ref: string): boolean {
  if (ref === '' || ref.startsWith('refs/heads/') || ref.startsWith('refs/remotes/') || ref.startsWith('-')) return false;
  if (/[\0-\x20\x7f~^:?*[\\]/.test(ref)) return false;
  if (ref.includes('..') || ref.includes('@{') || ref.includes('//') || ref.startsWith('/') || ref.endsWith('/') || ref.endsWith('.lock') || ref.endsWith('.')) return false;
  return !ref.split('/').some((c) => c.startsWith('.'));
}

function refused(message: string): GraphqlOutcome {
  return { body: { errors: [{ message }] }, refusal: message };
}

export async function executeGraphql(
  lookup: (fullPath: string) => GraphqlProject | undefined,
  query: string,
  variables: Record<string, unknown> | undefined,
  options: GraphqlOptions = {},
): Promise<GraphqlOutcome> {
  const schema = gitlabGraphqlSchema();
  let document: DocumentNode;
  try {
    document = parse(query);
  } catch (e) {
    return refused(e instanceof GraphQLError ? e.message : String(e));
  }
  const invalid = validate(schema, document);
  if (invalid.length > 0) return { body: { errors: invalid.map((e) => ({ message: e.message })) }, refusal: invalid.map((e) => e.message).join('; ') };
  const operation = getOperationAST(document);
  if (!operation) return refused('An operation name is required');
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {});
  if (coerced.errors) return { body: { errors: coerced.errors.map((e) => ({ message: e.message })) }, refusal: coerced.errors.map((e) => e.message).join('; ') };
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
  const complexity = queryComplexity({ schema, operation, fragments, variables: coerced.coerced });
  const limit = options.maxComplexity ?? AUTHENTICATED_MAX_COMPLEXITY;
  if (complexity > limit) {
    const error = complexityError(complexity, limit);
    return { body: { errors: [error] }, refusal: error.message, complexity };
  }

  const root = {
    project: ({ fullPath }: { fullPath: string }) => {
      const p = lookup(fullPath);
      if (!p) return null;
      const { store } = p;
      const at = async (ref: string | null | undefined, refType: string | null | undefined): Promise<string | undefined> => {
        const name = ref ?? p.defaultBranch;
        if (refType === 'tags') return undefined;
        return refType === 'heads' ? store.head(name) : store.resolve(name);
      };
      return {
        fullPath,
        // Resolvers::MergeRequestsResolver: MergeRequestsFinder filters, newest first by default (created_desc).
        mergeRequests: ({ sourceBranches, targetBranches, state, first, sort }: { sourceBranches?: string[] | null; targetBranches?: string[] | null; state?: string | null; first?: number | null; sort?: string | null }) => {
          let list = [...(p.mergeRequests?.() ?? [])];
          // An empty filter list means no results are possible (`some_argument_is_empty?`).
          if ((sourceBranches && sourceBranches.length === 0) || (targetBranches && targetBranches.length === 0)) list = [];
          if (sourceBranches) list = list.filter((m) => sourceBranches.includes(m.sourceBranch));
          if (targetBranches) list = list.filter((m) => targetBranches.includes(m.targetBranch));
          if (state && state !== 'all') list = list.filter((m) => m.state === state);
          if (!/asc$/i.test(sort ?? 'created_desc')) list.reverse();
          const limit = Math.min(first ?? MAX_PAGE, MAX_PAGE);
          const nodes = list.slice(0, limit).map((m) => ({ ...m, iid: String(m.iid), id: `gid://gitlab/MergeRequest/${m.iid}` }));
          return { nodes, count: list.length, pageInfo: { hasNextPage: list.length > limit, hasPreviousPage: false, startCursor: null, endCursor: null } };
        },
        repository: {
          rootRef: p.defaultBranch,
          exists: true,
          empty: false,
          blobs: async ({ paths, ref, refType, first }: { paths: string[]; ref?: string | null; refType?: string | null; first?: number | null }) => {
            if (ref !== undefined && ref !== null && !validRef(ref)) throw new GraphQLError('Ref is not valid');
            const commit = await at(ref, refType);
            const nodes: Record<string, unknown>[] = [];
            if (commit) {
              for (const path of paths) {
                const b = await store.blob(commit, path);
                if (!b) continue;
                const text = isText(b.content) ? b.content.toString('utf8') : null;
                nodes.push({ id: `gid://gitlab/Blob/${b.oid}`, oid: b.oid, path, name: path.split('/').pop(), size: b.content.length, rawSize: b.content.length, rawBlob: b.content.toString('utf8'), rawTextBlob: text });
              }
            }
            const limit = Math.min(first ?? MAX_PAGE, MAX_PAGE);
            return { nodes: nodes.slice(0, limit), pageInfo: { hasNextPage: nodes.length > limit, hasPreviousPage: false, startCursor: null, endCursor: null } };
          },
          tree: async ({ path, ref, refType }: { path?: string | null; ref?: string | null; refType?: string | null }) => {
            const commit = await at(ref, refType);
            // GitLab builds a Tree for any valid ref (its entries rescued to none); an unknown ref's last commit is null.
            if (!commit) return { lastCommit: null };
            return {
              lastCommit: async () => {
                // LastCommitResolver sends no path for the root ("so merge commits can be returned"): the commit itself.
                if (!path || path === '/') return { sha: commit, id: `gid://gitlab/CommitPresenter/${commit}`, shortId: commit.slice(0, 8) };
                const sha = await store.lastCommitFor(commit, path);
                return sha ? { sha, id: `gid://gitlab/CommitPresenter/${sha}`, shortId: sha.slice(0, 8) } : null;
              },
            };
          },
        },
      };
    },
  };
  const result = await execute({ schema, document, rootValue: root, variableValues: variables ?? {} });
  // Through JSON, as GitLab sends it: what the scalars serialized is what the adapter receives.
  return { body: JSON.parse(JSON.stringify(result)) as GraphqlOutcome['body'], complexity };
}
