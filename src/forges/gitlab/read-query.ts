/**
 * The one GraphQL document the GitLab adapter sends, its cost by GitLab's complexity rules, and the
 * largest number of paths per document that GitLab accepts, so reads are chunked up front instead of
 * being refused and retried (docs/gitlab.md, "Query complexity").
 */

/** GitLab's limit for an authenticated request ("Maximum query complexity"). */
export const GITLAB_MAX_COMPLEXITY = 250;
/** GitLab's limit on the query text ("Maximum query size": 10,000 characters). */
export const GITLAB_MAX_QUERY_LENGTH = 10_000;
/** GitLab's default maximum page size, which `Repository.blobs` uses. */
export const BLOBS_MAX_PAGE = 100;

/**
 * The read document for `n` paths. Paths travel as variables (`$paths` for the blobs, `$p<i>` for each
 * path's last commit), never in the text, so the text depends only on `n` and `withContent`.
 */
export function readQuery(n: number, withContent: boolean): string {
  const decls = ['$fullPath: ID!', '$ref: String!', '$paths: [String!]!'];
  const trees: string[] = [];
  for (let i = 0; i < n; i++) {
    decls.push(`$p${i}: String!`);
    trees.push(`c${i}: tree(ref: $ref, path: $p${i}) { lastCommit { sha } }`);
  }
  const fields = withContent ? 'path size rawTextBlob' : 'path size';
  return `query BatonRead(${decls.join(', ')}) { project(fullPath: $fullPath) { repository { blobs(ref: $ref, paths: $paths, first: ${n}) { nodes { ${fields} } } ${trees.join(' ')} } } }`;
}

/**
 * The score GitLab gives `readQuery(n, withContent)`. GitLab's rules (app/graphql/types/base_field.rb,
 * app/graphql/resolvers/base_resolver.rb): a plain field costs 1 plus its children; a field backed by a
 * resolver costs its children + 1 (+1 when it calls Gitaly, + resolver-specific terms), and a connection
 * then adds `complexity × (min(first, max page size) × 0.01)`, truncated to an integer.
 *
 * - `project` (resolver): 1 + children; `repository`: 1 + children.
 * - `blobs` (resolver, Gitaly, connection, + one per path): `nodes` (1) and its scalar fields (1 each),
 *   + 1 + n + 1, times (1 + first/100).
 * - each `tree` alias (resolver, Gitaly): `lastCommit` (declared complexity 10) + `sha` (1) + 1 + 1 = 13.
 */
export function readQueryComplexity(n: number, withContent: boolean): number {
  const nodes = 1 + (withContent ? 3 : 2);
  const blobsBase = nodes + 1 + n + 1;
  const blobs = Math.trunc(blobsBase + blobsBase * (Math.min(n, BLOBS_MAX_PAGE) * 0.01));
  const tree = 10 + 1 + 1 + 1;
  return 1 + 1 + blobs + n * tree;
}

/** The most paths one read document may carry under `limit` (at least 1, at most a blobs page). */
export function pathsPerReadQuery(withContent: boolean, limit = GITLAB_MAX_COMPLEXITY): number {
  let n = 1;
  while (n < BLOBS_MAX_PAGE && readQueryComplexity(n + 1, withContent) <= limit && readQuery(n + 1, withContent).length <= GITLAB_MAX_QUERY_LENGTH) n++;
  return n;
}

/** `Query has complexity of 301, which exceeds max complexity of 250` → 250. */
export function complexityLimitFrom(message: string): number | undefined {
  const m = /exceeds max complexity of (\d{1,6})/i.exec(message);
  return m?.[1] ? Number(m[1]) : undefined;
}
