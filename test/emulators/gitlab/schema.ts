/**
 * GitLab's GraphQL schema for the emulator, built from GitLab's own published description rather than
 * written by hand: the introspection of gitlab.com shipped in `gitlab-graphql-types` (GitLab 15.0/15.1,
 * mid-2022), brought up to date with the changes GitLab's current GraphQL reference
 * (`doc/api/graphql/reference/_index.md` in GitLab's repository) documents for the types Baton uses.
 */

import { createRequire } from 'node:module';
import { GraphQLScalarType, Kind, buildASTSchema, buildClientSchema, parse, printSchema, visit } from 'graphql';
import type { DocumentNode, FieldDefinitionNode, GraphQLSchema, InputValueDefinitionNode, IntrospectionQuery, ObjectTypeDefinitionNode, TypeNode, ValueNode } from 'graphql';

const named = (name: string): TypeNode => ({ kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: name } });

function argument(name: string, type: string, description: string): InputValueDefinitionNode {
  return { kind: Kind.INPUT_VALUE_DEFINITION, name: { kind: Kind.NAME, value: name }, type: named(type), description: { kind: Kind.STRING, value: description } };
}

/**
 * The changes since the 2022 introspection, each as GitLab's reference states it today:
 * - `RepositoryBlob.size` and `RepositoryBlob.rawSize` are `BigInt` (they were `Int`; GitLab changed
 *   them after `Integer out of bounds` errors on blobs over 2 GiB, gitlab-org/gitlab#382621).
 * - `Repository.blobs`, `Repository.tree` and `Repository.paginatedTree` take `refType: RefType`.
 * - the `RefType` enum: `HEADS` (branches), `TAGS` (tags).
 */
const RETYPED_FIELDS: Record<string, Record<string, string>> = {
  RepositoryBlob: { size: 'BigInt', rawSize: 'BigInt' },
};
const ADDED_ARGUMENTS: Record<string, Record<string, InputValueDefinitionNode[]>> = {
  Repository: {
    blobs: [argument('refType', 'RefType', 'Type of ref.')],
    tree: [argument('refType', 'RefType', 'Type of ref.')],
    paginatedTree: [argument('refType', 'RefType', 'Type of ref.')],
  },
};
const ADDED_TYPES = /* GraphQL */ `
  "Type of ref"
  enum RefType {
    "Ref type for branches."
    HEADS
    "Ref type for tags."
    TAGS
  }
`;

/** The published introspection of gitlab.com (GitLab 15.0/15.1, 2022), as shipped. */
export function gitlab2022Introspection(): IntrospectionQuery {
  return createRequire(import.meta.url)('gitlab-graphql-types/graphql.schema.json') as IntrospectionQuery;
}

/** The 2022 schema as a document, with the documented changes applied through graphql-js's AST visitor. */
export function currentGitlabSchemaDocument(): DocumentNode {
  const base = parse(printSchema(buildClientSchema(gitlab2022Introspection())));
  const updated = visit(base, {
    ObjectTypeDefinition(node: ObjectTypeDefinitionNode) {
      const retype = RETYPED_FIELDS[node.name.value];
      const addArgs = ADDED_ARGUMENTS[node.name.value];
      if (!retype && !addArgs) return undefined;
      const fields = (node.fields ?? []).map((f: FieldDefinitionNode): FieldDefinitionNode => {
        const newType = retype?.[f.name.value];
        const extra = addArgs?.[f.name.value] ?? [];
        const have = new Set((f.arguments ?? []).map((a) => a.name.value));
        const args = [...(f.arguments ?? []), ...extra.filter((a) => !have.has(a.name.value))];
        return { ...f, ...(newType && { type: named(newType) }), arguments: args };
      });
      return { ...node, fields };
    },
  });
  const types = new Set(updated.definitions.flatMap((d) => ('name' in d && d.name ? [d.name.value] : [])));
  const additions = parse(ADDED_TYPES).definitions.filter((d) => 'name' in d && d.name && !types.has(d.name.value));
  return { ...updated, definitions: [...updated.definitions, ...additions] };
}

/**
 * GitLab serializes `BigInt` as a JSON string ("Since the value may exceed the size of a 32-bit
 * integer, it's encoded as a string"), and accepts a string or a number as input.
 */
function bigIntText(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return value;
  throw new TypeError(`BigInt cannot represent ${String(value)}`);
}

let built: GraphQLSchema | undefined;

/** The schema the emulator validates and executes against (built once per process, well under a second). */
export function gitlabGraphqlSchema(): GraphQLSchema {
  if (built) return built;
  const schema = buildASTSchema(currentGitlabSchemaDocument());
  const bigint = schema.getType('BigInt');
  if (!(bigint instanceof GraphQLScalarType)) throw new Error('the GitLab schema has no BigInt scalar');
  // buildASTSchema gives custom scalars an identity serializer. Every field and argument holds this one
  // instance, so GitLab's coercion is installed on it in place rather than by rebuilding the schema.
  Object.assign(bigint, {
    serialize: bigIntText,
    parseValue: bigIntText,
    parseLiteral: (ast: ValueNode) => {
      if (ast.kind === Kind.INT || ast.kind === Kind.STRING) return bigIntText(ast.value);
      throw new TypeError('BigInt must be an integer or a string of digits');
    },
  });
  built = schema;
  return built;
}
