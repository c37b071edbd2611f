/**
 * GitLab's query complexity score, computed over the parsed document the way GitLab's graphql-ruby
 * setup does (app/graphql/types/base_field.rb, app/graphql/resolvers/base_resolver.rb):
 * - a field without a resolver costs its declared complexity (1 by default, 2 when it calls Gitaly)
 *   plus its children;
 * - a field backed by a resolver costs its children + the resolver's complexity (1, +1 with `sort`,
 *   +5 with `search`, + resolver-specific terms) + 1 when it calls Gitaly, and a connection adds
 *   `complexity × min(first, last, max page size) × 0.01` on top; the result is truncated to an integer;
 * - every alias is a separate field.
 * The schema does not carry these declarations, so the fields Baton's adapter touches are listed with
 * what GitLab declares for them; every other field costs 1 plus its children.
 */

import { Kind, getArgumentValues, getNamedType, isCompositeType, isObjectType } from 'graphql';
import type { FragmentDefinitionNode, GraphQLCompositeType, GraphQLSchema, OperationDefinitionNode, SelectionSetNode } from 'graphql';

/** GitLab's limits: 200 unauthenticated, 250 authenticated, 300 for administrators. */
export const AUTHENTICATED_MAX_COMPLEXITY = 250;
/** GitLab's default `max_page_size` for connections. */
const DEFAULT_MAX_PAGE_SIZE = 100;

type FieldRule =
  | { kind: 'constant'; complexity: number }
  | { kind: 'resolver'; callsGitaly: boolean; connection: boolean; extra?: (args: Record<string, unknown>) => number };

/** What GitLab declares for the fields the adapter queries (type.field → rule). */
const RULES: Record<string, FieldRule> = {
  // Resolvers::ProjectResolver
  'Query.project': { kind: 'resolver', callsGitaly: false, connection: false },
  'Project.repository': { kind: 'constant', complexity: 1 },
  'Repository.rootRef': { kind: 'constant', complexity: 2 },
  'Repository.empty': { kind: 'constant', complexity: 2 },
  'Repository.exists': { kind: 'constant', complexity: 2 },
  // Resolvers::BlobsResolver: calls_gitaly!, and "scales O(N) with the number of paths": + paths.size
  'Repository.blobs': { kind: 'resolver', callsGitaly: true, connection: true, extra: (args) => (Array.isArray(args['paths']) ? args['paths'].length : 0) },
  // Resolvers::ProjectMergeRequestsResolver (MergeRequestsResolver): a connection; `sort` defaults to created_desc (+1)
  'Project.mergeRequests': { kind: 'resolver', callsGitaly: false, connection: true },
  // Resolvers::TreeResolver: calls_gitaly!
  'Repository.tree': { kind: 'resolver', callsGitaly: true, connection: false },
  // "Complexity 10 as it triggers a Gitaly call on each render"
  'Tree.lastCommit': { kind: 'constant', complexity: 10 },
};

export interface ComplexityInput {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fragments: Record<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
}

export function queryComplexity(input: ComplexityInput): number {
  const root = input.operation.operation === 'mutation' ? input.schema.getMutationType() : input.schema.getQueryType();
  if (!root) return 0;
  return selectionCost(input, root, input.operation.selectionSet);
}

function selectionCost(input: ComplexityInput, parent: GraphQLCompositeType, set: SelectionSetNode): number {
  let total = 0;
  for (const sel of set.selections) {
    if (sel.kind === Kind.FRAGMENT_SPREAD) {
      const frag = input.fragments[sel.name.value];
      if (frag) total += selectionCost(input, (input.schema.getType(frag.typeCondition.name.value) as GraphQLCompositeType | undefined) ?? parent, frag.selectionSet);
      continue;
    }
    if (sel.kind === Kind.INLINE_FRAGMENT) {
      const on = sel.typeCondition ? (input.schema.getType(sel.typeCondition.name.value) as GraphQLCompositeType | undefined) : parent;
      total += selectionCost(input, on ?? parent, sel.selectionSet);
      continue;
    }
    if (sel.name.value.startsWith('__') || !isObjectType(parent)) {
      total += 1;
      continue;
    }
    const def = parent.getFields()[sel.name.value];
    if (!def) continue;
    const child = getNamedType(def.type);
    const children = sel.selectionSet && isCompositeType(child) ? selectionCost(input, child, sel.selectionSet) : 0;
    const rule = RULES[`${parent.name}.${sel.name.value}`] ?? { kind: 'constant', complexity: 1 };
    if (rule.kind === 'constant') {
      total += rule.complexity + children;
      continue;
    }
    const args = getArgumentValues(def, sel, input.variables);
    let c = children + 1 + (args['sort'] !== undefined ? 1 : 0) + (args['search'] !== undefined ? 5 : 0) + (rule.extra?.(args) ?? 0);
    if (rule.callsGitaly) c += 1;
    if (rule.connection) {
      const limits = [args['first'], args['last'], DEFAULT_MAX_PAGE_SIZE].filter((v): v is number => typeof v === 'number');
      // Ruby: `complexity += complexity * (limit_value * 0.01)`, in that order, then `to_i`.
      c += c * (Math.min(...limits) * 0.01);
    }
    total += Math.trunc(c);
  }
  return total;
}

/** The error GitLab answers (HTTP 200) for a query over the limit, as graphql-ruby words it. */
export function complexityError(score: number, limit: number): { message: string } {
  return { message: `Query has complexity of ${score}, which exceeds max complexity of ${limit}` };
}
