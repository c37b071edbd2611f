/**
 * The GraphQL documents the GitLab adapter reads with, their cost by GitLab's complexity rules, and the
 * packing of a read into as few documents as GitLab accepts, so reads are sized up front instead of
 * being refused and retried (docs/gitlab.md, "Query complexity").
 *
 * One read may ask for three kinds of things, in one document where the limit allows:
 * - branch heads: `hN: tree(ref: $hN) { lastCommit { sha } }` (the root's last commit is the head);
 * - blobs at a commit: `bN: blobs(ref: $rN, paths: $pN, first: n) { nodes { path size rawTextBlob } }`;
 * - the merge requests from a source branch: the newest (any state) and the open one.
 * Branch names, commits and paths travel as variables, never in the text.
 */

/** GitLab's limit for an authenticated request ("Maximum query complexity"). */
export const GITLAB_MAX_COMPLEXITY = 250;
/** GitLab's limit on the query text ("Maximum query size": 10,000 characters). */
export const GITLAB_MAX_QUERY_LENGTH = 10_000;
/** GitLab's default maximum page size, which `Repository.blobs` uses. */
export const BLOBS_MAX_PAGE = 100;

/** Blobs of `paths` at commit `ref`; without content only `path` is asked (does it exist?). */
export interface BlobPart {
  ref: string;
  paths: string[];
  withContent: boolean;
}

/** What one document asks for. */
export interface ReadPlan {
  heads: string[];
  /** The source branch whose newest and open merge requests are asked for. */
  mergeRequests?: string;
  blobs: BlobPart[];
}

const MR_FIELDS = 'iid state title description webUrl targetBranch';

/**
 * Cost of one `blobs` field (GitLab's Resolvers::BlobsResolver: calls Gitaly, a connection, and one
 * more per path): `(nodes 1 + its fields + 1 + n + 1) × (1 + min(first, 100) × 0.01)`, truncated.
 */
export function blobsComplexity(n: number, withContent: boolean): number {
  const base = 1 + (withContent ? 3 : 1) + 1 + n + 1;
  return Math.trunc(base + base * (Math.min(n, BLOBS_MAX_PAGE) * 0.01));
}

/** `tree` (resolver, Gitaly: 1 + 1) around `lastCommit` (declared 10) and `sha` (1). */
export const HEAD_COMPLEXITY = 13;

/**
 * One `mergeRequests(sourceBranches:, first: 1)` field: a resolver with `sort` (default `created_desc`,
 * +1) over `nodes` (1) and six scalars, times 1.01 for `first: 1`, truncated.
 */
export const MERGE_REQUESTS_COMPLEXITY = Math.trunc((1 + 6 + 1 + 1) * 1.01);

/**
 * The score GitLab gives the document for `plan` (rules in app/graphql/types/base_field.rb and
 * app/graphql/resolvers/base_resolver.rb): `project` 1 + children (a resolver); `repository` 1 +
 * children; each head 13; each `blobs` as above; each `mergeRequests` alias 9. The GitLab emulator
 * scores the real document independently and the tests compare the two.
 */
export function readPlanComplexity(plan: ReadPlan): number {
  const repo = plan.heads.length * HEAD_COMPLEXITY + plan.blobs.reduce((s, b) => s + blobsComplexity(b.paths.length, b.withContent), 0);
  const mrs = plan.mergeRequests !== undefined ? 2 * MERGE_REQUESTS_COMPLEXITY : 0;
  return 1 + mrs + (plan.heads.length + plan.blobs.length > 0 ? 1 + repo : 0);
}

/** The document and its variables for `plan`. */
export function buildReadQuery(fullPath: string, plan: ReadPlan): { query: string; variables: Record<string, unknown> } {
  const decls = ['$fullPath: ID!'];
  const variables: Record<string, unknown> = { fullPath };
  const repoFields: string[] = [];
  plan.heads.forEach((branch, i) => {
    decls.push(`$h${i}: String!`);
    variables[`h${i}`] = branch;
    repoFields.push(`h${i}: tree(ref: $h${i}) { lastCommit { sha } }`);
  });
  plan.blobs.forEach((b, i) => {
    decls.push(`$r${i}: String!`, `$p${i}: [String!]!`);
    variables[`r${i}`] = b.ref;
    variables[`p${i}`] = b.paths;
    repoFields.push(`b${i}: blobs(ref: $r${i}, paths: $p${i}, first: ${b.paths.length}) { nodes { ${b.withContent ? 'path size rawTextBlob' : 'path'} } }`);
  });
  const projectFields: string[] = [];
  if (plan.mergeRequests !== undefined) {
    decls.push('$mr: [String!]');
    variables['mr'] = [plan.mergeRequests];
    projectFields.push(`newest: mergeRequests(sourceBranches: $mr, first: 1) { nodes { ${MR_FIELDS} } }`);
    projectFields.push(`open: mergeRequests(sourceBranches: $mr, state: opened, first: 1) { nodes { ${MR_FIELDS} } }`);
  }
  if (repoFields.length > 0) projectFields.push(`repository { ${repoFields.join(' ')} }`);
  return { query: `query BatonRead(${decls.join(', ')}) { project(fullPath: $fullPath) { ${projectFields.join(' ')} } }`, variables };
}

/**
 * Split a read into documents under `limit`: the heads and merge requests go in the first, with as many
 * blobs as fit beside them; the rest fill further documents, each `blobs` field at most a page (100).
 * A document always carries at least one path, so the plan terminates whatever the limit.
 */
export function packReads(fullPath: string, first: Omit<ReadPlan, 'blobs'>, blobs: BlobPart[], limit = GITLAB_MAX_COMPLEXITY, maxPaths = BLOBS_MAX_PAGE): ReadPlan[] {
  const plans: ReadPlan[] = [{ ...first, blobs: [] }];
  const fits = (plan: ReadPlan): boolean => readPlanComplexity(plan) <= limit && buildReadQuery(fullPath, plan).query.length <= GITLAB_MAX_QUERY_LENGTH;
  for (const group of blobs) {
    let rest = group.paths;
    while (rest.length > 0) {
      let plan = plans[plans.length - 1] as ReadPlan;
      const withPart = (n: number): ReadPlan => ({ ...plan, blobs: [...plan.blobs, { ...group, paths: rest.slice(0, n) }] });
      let n = 0;
      while (n < Math.min(rest.length, BLOBS_MAX_PAGE, maxPaths) && fits(withPart(n + 1))) n++;
      if (n === 0) {
        const empty = plan.heads.length === 0 && plan.mergeRequests === undefined && plan.blobs.length === 0;
        if (!empty) {
          plan = { heads: [], blobs: [] };
          plans.push(plan);
          continue;
        }
        n = 1; // one path over the limit on its own: send it and let GitLab say so
      }
      plans[plans.length - 1] = withPart(n);
      rest = rest.slice(n);
    }
  }
  return plans.filter((p) => p.heads.length > 0 || p.mergeRequests !== undefined || p.blobs.length > 0);
}

/** `Query has complexity of 301, which exceeds max complexity of 250` → 250. */
export function complexityLimitFrom(message: string): number | undefined {
  const m = /exceeds max complexity of (\d{1,6})/i.exec(message);
  return m?.[1] ? Number(m[1]) : undefined;
}
