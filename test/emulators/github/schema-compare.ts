/**
 * Compare a zod schema (what Baton reads) with a JSON Schema from GitHub's published description
 * (what GitHub sends): every field read must exist there, and wherever GitHub may send null or
 * leave a field out, the zod schema must allow it.
 */

import type { z } from 'zod';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

interface ZodView {
  type: string;
  optional: boolean;
  nullable: boolean;
  inner: z.ZodType;
}

/** Peel optional/nullable wrappers off a zod schema. */
function view(schema: z.ZodType): ZodView {
  let s = schema;
  let optional = false;
  let nullable = false;
  for (;;) {
    const def = s.def as { type: string; innerType?: z.ZodType };
    if (def.type === 'optional' && def.innerType) optional = true;
    else if (def.type === 'nullable' && def.innerType) nullable = true;
    else return { type: def.type, optional, nullable, inner: s };
    s = def.innerType;
  }
}

/** The alternatives an OpenAPI schema allows (anyOf/oneOf), with null split out. */
function alternatives(oas: Json): { branches: JsonObject[]; nullable: boolean } {
  if (!isObject(oas)) return { branches: [], nullable: false };
  const list = Array.isArray(oas['anyOf']) ? oas['anyOf'] : Array.isArray(oas['oneOf']) ? oas['oneOf'] : undefined;
  if (list) {
    const out = { branches: [] as JsonObject[], nullable: false };
    for (const b of list) {
      const sub = alternatives(b);
      out.branches.push(...sub.branches);
      out.nullable ||= sub.nullable;
    }
    return out;
  }
  if (oas['type'] === 'null') return { branches: [], nullable: true };
  if (Array.isArray(oas['allOf'])) {
    // allOf: one object with every part's properties and requirements.
    const merged: JsonObject = { type: 'object', properties: {}, required: [] };
    for (const part of oas['allOf']) {
      for (const b of alternatives(part).branches) {
        Object.assign(merged['properties'] as JsonObject, isObject(b['properties']) ? b['properties'] : {});
        (merged['required'] as Json[]).push(...(Array.isArray(b['required']) ? b['required'] : []));
      }
    }
    return { branches: [merged], nullable: false };
  }
  return { branches: [oas], nullable: false };
}

export function compare(zod: z.ZodType, oas: Json, at: string, problems: string[]): void {
  const v = view(zod);
  const alt = alternatives(oas);
  if (alt.nullable && !v.nullable) problems.push(`${at}: GitHub may send null, the adapter does not accept it`);
  for (const branch of alt.branches) {
    if (v.type === 'object') {
      const props = isObject(branch['properties']) ? branch['properties'] : undefined;
      if (!props) {
        problems.push(`${at}: GitHub's schema is not an object with properties`);
        continue;
      }
      const required = Array.isArray(branch['required']) ? branch['required'] : [];
      for (const [key, child] of Object.entries((v.inner as z.ZodObject).shape as Record<string, z.ZodType>)) {
        const prop = props[key];
        if (prop === undefined) {
          // An optional field may belong to other actions of the same event (`label` on labeled only).
          if (!view(child).optional) problems.push(`${at}.${key}: not in GitHub's published schema`);
          continue;
        }
        if (!required.includes(key) && !view(child).optional) problems.push(`${at}.${key}: GitHub may leave it out, the adapter requires it`);
        compare(child, prop, `${at}.${key}`, problems);
      }
    } else if (v.type === 'array') {
      if (branch['type'] !== 'array') problems.push(`${at}: GitHub's schema is not an array`);
      else compare((v.inner as z.ZodArray<z.ZodType>).element, branch['items'] ?? {}, `${at}[]`, problems);
    } else {
      const want = v.type === 'number' ? ['number', 'integer'] : [v.type];
      const got = branch['type'];
      if (typeof got === 'string' && !want.includes(got)) problems.push(`${at}: GitHub sends ${got}, the adapter expects ${v.type}`);
    }
  }
}

