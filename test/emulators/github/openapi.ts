/**
 * Holds every REST request the emulator receives to GitHub's published description
 * (`@octokit/openapi`, api.github.com): the path must match a template, the method must exist there,
 * path and query parameters must fit their schemas (no unknown ones), and the JSON body must
 * validate against the operation's request body schema (ajv).
 */

import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonObject;
  'x-multi-segment'?: boolean;
}

interface Operation {
  method: string;
  template: string;
  operationId: string;
  regex: RegExp;
  literalSegments: number;
  pathParams: Parameter[];
  queryParams: Parameter[];
  body?: { required: boolean; validate: () => ValidateFunction };
}

export interface MatchedRequest {
  operationId: string;
  /** `GET /repos/{owner}/{repo}` */
  route: string;
  pathParams: Record<string, string>;
  query: Record<string, string>;
}

export type ValidationResult = { ok: true; match: MatchedRequest } | { ok: false; status: 404 | 405 | 422; problems: string[] };

const require = createRequire(import.meta.url);
// ajv-formats is CommonJS with a default export; its ESM shape differs between bundlers.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class OpenApiValidator {
  private readonly doc: JsonObject;
  private readonly operations: Operation[] = [];
  private readonly ajv: Ajv;

  constructor() {
    this.doc = require('@octokit/openapi/generated/api.github.com.json') as JsonObject;
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true, logger: false });
    addFormats(this.ajv);
    const paths = this.doc['paths'];
    if (!isObject(paths)) throw new Error('unexpected OpenAPI document');
    for (const [template, item] of Object.entries(paths)) {
      if (!isObject(item)) continue;
      const shared = Array.isArray(item['parameters']) ? item['parameters'] : [];
      for (const method of ['get', 'post', 'patch', 'put', 'delete']) {
        const op = item[method];
        if (!isObject(op)) continue;
        const params = [...shared, ...(Array.isArray(op['parameters']) ? op['parameters'] : [])].map((p) => this.resolve(p) as unknown as Parameter);
        const pathParams = params.filter((p) => p.in === 'path');
        let literalSegments = 0;
        const pattern = template
          .split('/')
          .map((seg) => {
            const m = /^\{(.+)\}$/.exec(seg);
            if (!m) {
              literalSegments++;
              return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
            }
            const p = pathParams.find((x) => x.name === m[1]);
            return p?.['x-multi-segment'] ? '(.+)' : '([^/]+)';
          })
          .join('/');
        const requestBody = isObject(op['requestBody']) ? (this.resolve(op['requestBody']) as JsonObject) : undefined;
        const content = requestBody && isObject(requestBody['content']) ? requestBody['content'] : undefined;
        const jsonSchema = content && isObject(content['application/json']) ? content['application/json']['schema'] : undefined;
        let compiled: ValidateFunction | undefined;
        this.operations.push({
          method: method.toUpperCase(),
          template,
          operationId: String(op['operationId'] ?? `${method} ${template}`),
          regex: new RegExp(`^${pattern}$`),
          literalSegments,
          pathParams,
          queryParams: params.filter((p) => p.in === 'query'),
          ...(jsonSchema !== undefined && {
            body: {
              required: requestBody?.['required'] === true,
              // Compiled on first use: only the few operations the emulator serves ever are.
              validate: () => (compiled ??= this.ajv.compile(this.toJsonSchema(jsonSchema) as object)),
            },
          }),
        });
      }
    }
  }

  /** The JSON Schema of the first 2xx JSON response of `METHOD /template`, refs inlined. */
  responseSchema(route: string): Json | undefined {
    const [method = '', template = ''] = route.split(' ');
    const paths = this.doc['paths'];
    const item = isObject(paths) ? paths[template] : undefined;
    const op = isObject(item) ? item[method.toLowerCase()] : undefined;
    const responses = isObject(op) ? op['responses'] : undefined;
    if (!isObject(responses)) return undefined;
    for (const [code, response] of Object.entries(responses)) {
      if (!code.startsWith('2')) continue;
      const resolved = this.resolve(response);
      const content = isObject(resolved) ? resolved['content'] : undefined;
      const json = isObject(content) ? content['application/json'] : undefined;
      if (isObject(json) && json['schema'] !== undefined) return this.toJsonSchema(json['schema']);
    }
    return undefined;
  }

  /** The payload schema GitHub publishes for a webhook (`x-webhooks`, e.g. `pull-request-opened`), refs inlined. */
  webhookSchema(key: string): Json | undefined {
    const hooks = this.doc['x-webhooks'];
    const item = isObject(hooks) ? hooks[key] : undefined;
    const post = isObject(item) ? item['post'] : undefined;
    const body = isObject(post) ? this.resolve(post['requestBody'] ?? null) : undefined;
    const content = isObject(body) ? body['content'] : undefined;
    const json = isObject(content) ? content['application/json'] : undefined;
    return isObject(json) && json['schema'] !== undefined ? this.toJsonSchema(json['schema']) : undefined;
  }

  /** Follow a local `$ref` (`#/components/...`). */
  private resolve(node: Json): Json {
    if (!isObject(node) || typeof node['$ref'] !== 'string') return node;
    let cur: Json = this.doc;
    for (const key of node['$ref'].replace(/^#\//, '').split('/')) cur = isObject(cur) ? (cur[key] ?? null) : null;
    return this.resolve(cur);
  }

  /** Inline refs and turn OpenAPI 3.0 `nullable` into JSON Schema, so ajv sees plain JSON Schema. */
  private toJsonSchema(node: Json, depth = 0): Json {
    if (depth > 40) return {};
    if (Array.isArray(node)) return node.map((n) => this.toJsonSchema(n, depth + 1));
    if (!isObject(node)) return node;
    const resolved = this.resolve(node);
    if (!isObject(resolved)) return resolved;
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(resolved)) {
      if (k === 'example' || k === 'examples' || k === 'description' || k.startsWith('x-') || k === 'nullable' || k === 'discriminator') continue;
      out[k] = k === 'properties' && isObject(v) ? Object.fromEntries(Object.entries(v).map(([pk, pv]) => [pk, this.toJsonSchema(pv, depth + 1)])) : this.toJsonSchema(v, depth + 1);
    }
    if (resolved['nullable'] === true) return { anyOf: [out, { type: 'null' }] };
    return out;
  }

  private checkValue(where: string, param: Parameter, value: string, problems: string[]): void {
    const schema = param.schema ?? {};
    const type = schema['type'];
    if (type === 'integer' && !/^-?\d+$/.test(value)) problems.push(`${where} parameter ${param.name}=${JSON.stringify(value)} is not an integer`);
    if (type === 'boolean' && value !== 'true' && value !== 'false') problems.push(`${where} parameter ${param.name}=${JSON.stringify(value)} is not a boolean`);
    const allowed = schema['enum'];
    if (Array.isArray(allowed) && !allowed.includes(value)) problems.push(`${where} parameter ${param.name}=${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  }

  /** Validate one request; `rawPath` is the undecoded path without query string. */
  validate(method: string, rawPath: string, searchParams: URLSearchParams, body: Json | undefined): ValidationResult {
    const candidates = this.operations
      .map((op) => ({ op, m: op.regex.exec(rawPath) }))
      .filter((c): c is { op: Operation; m: RegExpExecArray } => c.m !== null)
      .sort((a, b) => b.op.literalSegments - a.op.literalSegments);
    if (candidates.length === 0) return { ok: false, status: 404, problems: [`${method} ${rawPath} is not a path in GitHub's REST API description`] };
    const exact = candidates.find((c) => c.op.method === method);
    if (!exact) return { ok: false, status: 405, problems: [`${method} is not defined for ${candidates[0]?.op.template ?? rawPath}`] };
    const { op, m } = exact;
    const problems: string[] = [];
    const pathParams: Record<string, string> = {};
    const names = [...op.template.matchAll(/\{([^}]+)\}/g)].map((x) => x[1] ?? '');
    names.forEach((name, i) => {
      let value: string;
      try {
        value = decodeURIComponent(m[i + 1] ?? '');
      } catch {
        problems.push(`path parameter ${name} is not valid percent-encoding`);
        return;
      }
      pathParams[name] = value;
      const param = op.pathParams.find((p) => p.name === name);
      if (param) this.checkValue('path', param, value, problems);
    });
    const query: Record<string, string> = {};
    for (const [k, v] of searchParams) {
      const param = op.queryParams.find((p) => p.name === k);
      if (!param) problems.push(`query parameter ${k} is not defined for ${method} ${op.template}`);
      else this.checkValue('query', param, v, problems);
      query[k] = v;
    }
    for (const p of op.queryParams) if (p.required && !searchParams.has(p.name)) problems.push(`required query parameter ${p.name} is missing`);
    if (op.body) {
      if (body === undefined) {
        if (op.body.required) problems.push(`${method} ${op.template} needs a JSON body`);
      } else {
        const validate = op.body.validate();
        if (!validate(body)) for (const e of validate.errors ?? []) problems.push(`body${e.instancePath} ${e.message ?? 'is invalid'}${e.params && 'allowedValues' in e.params ? ` (${String(e.params['allowedValues'])})` : ''}`);
      }
    } else if (body !== undefined && method !== 'GET' && isObject(body) && Object.keys(body).length > 0) {
      problems.push(`${method} ${op.template} takes no request body`);
    }
    if (problems.length > 0) return { ok: false, status: 422, problems: problems.map((p) => `${method} ${op.template}: ${p}`) };
    return { ok: true, match: { operationId: op.operationId, route: `${method} ${op.template}`, pathParams, query } };
  }
}

let shared: OpenApiValidator | undefined;
/** The description is 13 MB; parse it once per test worker. */
export function openApiValidator(): OpenApiValidator {
  return (shared ??= new OpenApiValidator());
}
