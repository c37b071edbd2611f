/**
 * The slice of GitLab's GraphQL schema the adapter queries, with GitLab's field names and argument
 * types, executed by graphql-js so a query the real schema would refuse is refused here too.
 */

import { buildSchema, graphql } from 'graphql';
import type { GitStore } from './git-store.js';

const SDL = /* GraphQL */ `
  type Query {
    project(fullPath: ID!): Project
  }
  type Project {
    fullPath: ID!
    repository: Repository
  }
  type Repository {
    rootRef: String
    blobs(paths: [String!]!, ref: String, first: Int, after: String): RepositoryBlobConnection
    tree(path: String, ref: String, recursive: Boolean): Tree
  }
  type RepositoryBlobConnection {
    nodes: [RepositoryBlob]
    pageInfo: PageInfo!
  }
  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }
  type RepositoryBlob {
    id: ID!
    oid: String!
    path: String!
    name: String
    size: Int
    rawBlob: String
    rawTextBlob: String
  }
  type Tree {
    lastCommit: Commit
  }
  type Commit {
    sha: String!
    id: ID!
  }
`;

const schema = buildSchema(SDL);

/** GitLab's blobs connection pages at 100 nodes. */
const MAX_PAGE = 100;

export interface GraphqlProject {
  store: GitStore;
  defaultBranch: string;
}

function isText(content: Buffer): boolean {
  return !content.includes(0);
}

export async function executeGraphql(
  lookup: (fullPath: string) => GraphqlProject | undefined,
  query: string,
  variables: Record<string, unknown> | undefined,
): Promise<Record<string, unknown>> {
  const root = {
    project: ({ fullPath }: { fullPath: string }) => {
      const p = lookup(fullPath);
      if (!p) return null;
      const { store } = p;
      return {
        fullPath,
        repository: {
          rootRef: p.defaultBranch,
          blobs: async ({ paths, ref, first }: { paths: string[]; ref?: string; first?: number }) => {
            const commit = await store.resolve(ref ?? p.defaultBranch);
            const nodes: Record<string, unknown>[] = [];
            if (commit) {
              for (const path of paths) {
                const b = await store.blob(commit, path);
                if (!b) continue;
                const text = isText(b.content) ? b.content.toString('utf8') : null;
                nodes.push({ id: `gid://gitlab/Blob/${b.oid}`, oid: b.oid, path, name: path.split('/').pop(), size: b.content.length, rawBlob: text, rawTextBlob: text });
              }
            }
            const limit = Math.min(first ?? MAX_PAGE, MAX_PAGE);
            return { nodes: nodes.slice(0, limit), pageInfo: { hasNextPage: nodes.length > limit, endCursor: null } };
          },
          tree: async ({ path, ref }: { path?: string; ref?: string }) => {
            const commit = await store.resolve(ref ?? p.defaultBranch);
            if (!commit) return null;
            return {
              lastCommit: async () => {
                const sha = await store.lastCommitFor(commit, path ?? '.');
                return sha ? { sha, id: `gid://gitlab/CommitPresenter/${sha}` } : null;
              },
            };
          },
        },
      };
    },
  };
  const result = await graphql({ schema, source: query, rootValue: root, ...(variables && { variableValues: variables }) });
  return JSON.parse(JSON.stringify(result)) as Record<string, unknown>;
}
