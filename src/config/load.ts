/** Parse and validate `.baton.yml` into messages that point at the offending path and line. */

import { closest, distance } from 'fastest-levenshtein';
import { LineCounter, isMap, isNode, isScalar, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';
import { exceedsBytes, utf8Length } from '../core/size.js';
import { ConfigSchema } from './schema.js';
import type { BatonConfig } from './schema.js';

export interface ConfigMessage {
  /** Dotted path, e.g. `images.web.policy` (empty for the whole file). */
  path: string;
  line?: number;
  column?: number;
  message: string;
}

export type LoadResult = { ok: true; config: BatonConfig } | { ok: false; messages: ConfigMessage[] };

export function formatMessage(file: string, m: ConfigMessage): string {
  const where = m.line !== undefined ? `${file}:${m.line}:${m.column ?? 1}` : file;
  return `${where}: ${m.path ? `${m.path}: ` : ''}${m.message}`;
}

/** Larger than any real `.baton.yml` by far; parsing YAML costs many times its size in time and memory. */
export const DEFAULT_MAX_CONFIG_BYTES = 512 * 1024;

export interface ParseOptions {
  /** Refuse a text larger than this (UTF-8 bytes) without parsing it; the setting is BATON_MAX_CONFIG_BYTES. */
  maxBytes?: number;
}

/** The message for a `.baton.yml` over the cap, or undefined when it fits. */
export function configTooLarge(text: string, maxBytes = DEFAULT_MAX_CONFIG_BYTES): ConfigMessage | undefined {
  if (!exceedsBytes(text, maxBytes)) return undefined;
  return { path: '', message: `the file is ${utf8Length(text)} bytes, over the ${maxBytes}-byte limit (BATON_MAX_CONFIG_BYTES); it was not parsed` };
}

export function parseConfig(text: string, options: ParseOptions = {}): LoadResult {
  const tooLarge = configTooLarge(text, options.maxBytes);
  if (tooLarge) return { ok: false, messages: [tooLarge] };
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const messages: ConfigMessage[] = [];
    const seenLines = new Set<number>();
    for (const e of doc.errors) {
      const pos = lineCounter.linePos(e.pos[0]);
      const lineText = text.split(/\r?\n/)[pos.line - 1] ?? '';
      // `range: >=1.0.0 <2.0.0` unquoted: `>` starts a folded block in YAML, so the parser's own words are no help.
      const unquoted = /^\s*(?:-\s+)?([A-Za-z0-9_$-]+):\s+([<>][^#]*?)\s*(?:#.*)?$/.exec(lineText);
      if (unquoted) {
        if (seenLines.has(pos.line)) continue;
        seenLines.add(pos.line);
        const key = unquoted[1] ?? '';
        const value = unquoted[2] ?? '';
        messages.push({ path: '', line: pos.line, column: lineText.indexOf(value) + 1, message: `quote the ${key === 'range' ? 'range' : 'value'}: ${key}: "${value}" (a value starting with > or < means something else in YAML)` });
        continue;
      }
      let message = e.message.split('\n')[0] ?? e.message;
      if (e.code === 'DUPLICATE_KEY') {
        const key = /^("[^"]*"|'[^']*'|[^:\n#]+?)\s*:/.exec(text.slice(e.pos[0]))?.[1];
        if (key) message = `${message}: ${key} appears twice in the same mapping`;
      }
      messages.push({ path: '', line: pos.line, column: pos.col, message });
    }
    return { ok: false, messages };
  }
  let data: unknown;
  try {
    // The yaml library refuses an alias bomb (a billion laughs) here by throwing: that is "invalid" too.
    data = doc.toJS();
  } catch (e) {
    return { ok: false, messages: [{ path: '', message: `cannot be read: ${(e as Error).message}` }] };
  }
  const result = ConfigSchema.safeParse(data ?? {});
  if (result.success) return { ok: true, config: result.data };
  return {
    ok: false,
    messages: result.error.issues.flatMap((issue): ConfigMessage[] => {
      const path = issue.path.map(String);
      // An unknown key is pointed at its own line, with the closest key the schema knows there.
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => {
          const pos = keyPosition(doc, lineCounter, path, key);
          const guess = closestKey(key, knownKeysAt(ConfigSchema, path));
          return { path: [...path, key].join('.'), ...(pos && { line: pos.line, column: pos.col }), message: `unknown key ${JSON.stringify(key)}${guess ? `; did you mean \`${guess}\`?` : ''}` };
        });
      }
      // Point at the deepest node that exists: a missing key is reported at its parent.
      let node: unknown;
      for (let n = path.length; n >= 0 && !node; n--) node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      const range = (node as Node | undefined)?.range;
      const pos = range ? lineCounter.linePos(range[0]) : undefined;
      // A bad record key (an environment or image name) carries the useful message one level down.
      const inner = issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined;
      const message = inner ? `invalid name ${JSON.stringify(path[path.length - 1])}: ${inner}` : issue.message;
      return [{ path: path.join('.'), ...(pos && { line: pos.line, column: pos.col }), message }];
    }),
  };
}

/** Where `key` is written in the mapping at `parent`. */
function keyPosition(doc: Document.Parsed, lineCounter: LineCounter, parent: string[], key: string): { line: number; col: number } | undefined {
  const map = parent.length === 0 ? doc.contents : doc.getIn(parent, true);
  if (!isMap(map)) return undefined;
  const pair = map.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === key);
  const range = (pair && isNode(pair.key) ? pair.key.range : undefined) ?? map.range;
  return range ? lineCounter.linePos(range[0]) : undefined;
}

/** The keys the schema accepts at `path` (through records, arrays, defaults and unions). */
function knownKeysAt(schema: unknown, path: string[]): string[] {
  type Def = { type?: string; shape?: Record<string, unknown>; valueType?: unknown; element?: unknown; innerType?: unknown; options?: unknown[]; in?: unknown };
  const defOf = (s: unknown): Def => ((s as { _zod?: { def?: Def } })?._zod?.def ?? {});
  const unwrap = (s: unknown): unknown[] => {
    const d = defOf(s);
    if (d.innerType !== undefined) return unwrap(d.innerType);
    if (d.type === 'pipe' && d.in !== undefined) return unwrap(d.in);
    if (d.type === 'union' && d.options) return d.options.flatMap(unwrap);
    return [s];
  };
  let current = unwrap(schema);
  for (const step of path) {
    current = current.flatMap((s) => {
      const d = defOf(s);
      if (d.type === 'object' && d.shape) return Object.hasOwn(d.shape, step) ? unwrap(d.shape[step]) : [];
      if (d.type === 'record' && d.valueType !== undefined) return unwrap(d.valueType);
      if (d.type === 'array' && d.element !== undefined && /^\d+$/.test(step)) return unwrap(d.element);
      return [];
    });
  }
  return [...new Set(current.flatMap((s) => Object.keys(defOf(s).type === 'object' ? (defOf(s).shape ?? {}) : {})))];
}

function closestKey(key: string, known: string[]): string | undefined {
  if (known.length === 0) return undefined;
  const best = closest(key, known);
  return distance(key.toLowerCase(), best.toLowerCase()) <= Math.max(2, Math.floor(key.length / 2)) ? best : undefined;
}

/**
 * Holds the config in force. A new text that does not validate leaves the last valid config in
 * place and hands back the messages, so a bad push to `.baton.yml` never stops Baton.
 */
export class ConfigStore {
  private current: { config: BatonConfig; revision: string; text: string } | undefined;

  get config(): BatonConfig | undefined {
    return this.current?.config;
  }

  get revision(): string | undefined {
    return this.current?.revision;
  }

  /** The text and revision in force, for keeping across restarts. */
  get text(): string | undefined {
    return this.current?.text;
  }

  update(text: string, revision: string): { ok: true; changed: boolean } | { ok: false; messages: ConfigMessage[] } {
    if (this.current?.revision === revision) return { ok: true, changed: false };
    return this.accept(text, this.unchanged(text) ?? parseConfig(text), revision);
  }

  /** `update` with another parser (e.g. one that runs on a worker thread for large files). */
  async updateWith(text: string, revision: string, parse: (text: string) => Promise<LoadResult>): Promise<{ ok: true; changed: boolean } | { ok: false; messages: ConfigMessage[] }> {
    if (this.current?.revision === revision) return { ok: true, changed: false };
    return this.accept(text, this.unchanged(text) ?? (await parse(text)), revision);
  }

  /** Every Baton commit moves the branch; the same text is not parsed again. */
  private last: { text: string; result: LoadResult } | undefined;

  private unchanged(text: string): LoadResult | undefined {
    return this.last?.text === text ? this.last.result : undefined;
  }

  private accept(text: string, result: LoadResult, revision: string): { ok: true; changed: boolean } | { ok: false; messages: ConfigMessage[] } {
    const same = this.last?.text === text;
    this.last = { text, result };
    if (!result.ok) return result;
    const changed = !same || this.current === undefined;
    this.current = { config: result.config, revision, text };
    return { ok: true, changed };
  }
}
