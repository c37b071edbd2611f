/**
 * A YAML file kept as its lossless CST, so that edits touch only the scalars they set:
 * comments, quoting, order, blank lines, anchors, separators and CRLF all come back byte for byte.
 */

import { CST, Composer, Parser, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node, Scalar } from 'yaml';

export type YamlPath = (string | number | boolean | null)[];

export interface YamlSource {
  text: string;
  tokens: CST.Token[];
  docs: Document.Parsed[];
  /** Parse errors, as messages; a file with errors is never edited. */
  errors: string[];
}

export function parseYamlSource(text: string): YamlSource {
  const tokens = [...new Parser().parse(text)];
  const docs = [...new Composer({ keepSourceTokens: true }).compose(tokens)] as Document.Parsed[];
  const errors = docs.flatMap((d) => d.errors.map((e) => e.message));
  return { text, tokens, docs, errors };
}

const plainSafety = new Map<string, boolean>();

/**
 * Whether `value` written as a plain scalar reads back as that same string, under YAML 1.2 (kustomize,
 * Argo CD) and YAML 1.1 (Helm's sigs.k8s.io/yaml reads `yes` as true and `0755` as octal).
 */
export function plainIsSafe(value: string): boolean {
  const known = plainSafety.get(value);
  if (known !== undefined) return known;
  let safe = true;
  for (const version of ['1.2', '1.1'] as const) {
    const doc = parseDocument(`v: ${value}`, { version });
    const read: unknown = doc.errors.length > 0 ? undefined : doc.get('v');
    if (read !== value) safe = false;
  }
  // A bump writes the same few values into many files: remember the answer (bounded).
  if (plainSafety.size >= 4096) plainSafety.clear();
  plainSafety.set(value, safe);
  return safe;
}

/** How a new value would be written in place of an existing scalar: the old style unless that changes its meaning. */
export function styleFor(node: Scalar, value: string): Scalar.Type | undefined {
  if (node.type === 'PLAIN') return plainIsSafe(value) ? undefined : 'QUOTE_DOUBLE';
  if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') return 'QUOTE_DOUBLE';
  return undefined;
}

export interface ScalarEdit {
  node: Scalar;
  value: string;
}

/** Apply scalar edits through the CST and render the file again. Nodes must come from `src`. */
export function setScalars(src: YamlSource, edits: ScalarEdit[]): string {
  for (const { node, value } of edits) {
    const token = node.srcToken;
    if (!token || !CST.isScalar(token)) throw new Error('scalar has no source token');
    const type = styleFor(node, value);
    CST.setScalarValue(token, value, type ? { type } : undefined);
  }
  return src.tokens.map((t) => CST.stringify(t)).join('');
}

/** The text of a scalar as a string: plain `1.10` is the string "1.10", not the number 1.1. */
export function scalarText(node: Scalar): string {
  if (typeof node.value === 'string') return node.value;
  if (node.type === 'PLAIN' && typeof node.source === 'string') return node.source;
  return String(node.value);
}

/** A string value of a scalar node, or undefined for anything else. */
export function stringAt(node: unknown): string | undefined {
  return isScalar(node) ? scalarText(node) : undefined;
}

/** Follow an alias to the node it names, so an edit lands on the anchor that every alias shares. */
export function resolveNode(doc: Document.Parsed, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

export interface LocatedScalar {
  path: YamlPath;
  node: Scalar;
}

/**
 * Every scalar value of a document (map values and sequence items, not keys) with its path.
 * Aliases are not followed: each node appears once, at the place it is written.
 */
export function scalarsOf(doc: Document.Parsed): LocatedScalar[] {
  const out: LocatedScalar[] = [];
  const walk = (node: Node | null | undefined, path: YamlPath): void => {
    if (!node) return;
    if (isScalar(node)) out.push({ path, node });
    else if (isSeq(node)) node.items.forEach((item, i) => walk(item as Node, [...path, i]));
    else if (isMap(node)) {
      for (const pair of node.items) {
        // A map key that is itself a collection has no path anyone could name; nothing there is edited.
        if (!isScalar(pair.key)) continue;
        walk(pair.value as Node, [...path, pair.key.value as YamlPath[number]]);
      }
    }
  };
  walk(doc.contents as Node | null, []);
  return out;
}

export function pathKey(doc: number, path: YamlPath): string {
  return JSON.stringify([doc, ...path]);
}

export interface SourceComment {
  offset: number;
  /** The comment text including its `#`. */
  source: string;
}

/** Every comment token of the file, found in the CST so a `#` inside a quoted string is never mistaken for one. */
export function commentsOf(src: YamlSource): SourceComment[] {
  const out: SourceComment[] = [];
  const seen = new Set<object>();
  const walk = (value: unknown): void => {
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    if (Array.isArray(value)) {
      for (const v of value) walk(v);
      return;
    }
    const rec = value as Record<string, unknown>;
    if (rec.type === 'comment' && typeof rec.offset === 'number' && typeof rec.source === 'string') {
      out.push({ offset: rec.offset, source: rec.source });
      return;
    }
    for (const v of Object.values(rec)) walk(v);
  };
  walk(src.tokens);
  return out.sort((a, b) => a.offset - b.offset);
}

/** Start offsets of every line, for offset → line lookups. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** 0-based line of `offset`, given `lineStarts(text)`. */
export function lineOf(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? 0) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The line ending the file uses (CRLF when its first line break is CRLF). */
export function eolOf(text: string): string {
  const i = text.indexOf('\n');
  return i > 0 && text[i - 1] === '\r' ? '\r\n' : '\n';
}

/** Column (0-based) of a source offset. */
export function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

/** Offset just past the line break that ends the line containing `offset` (or the end of text). */
export function endOfLine(text: string, offset: number): number {
  const nl = text.indexOf('\n', offset);
  return nl < 0 ? text.length : nl + 1;
}
