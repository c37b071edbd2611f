/**
 * Byte-exact edits proven on the edit itself, without parsing the edited file again.
 *
 * An edit is a list of splices into the original text: a scalar's source bytes replaced by new
 * scalar source, or one new `key: value` line inserted at a line boundary of a block map. The
 * proof has three parts, each local:
 * 1. the bytes outside the splices are the original bytes (checked on the output, not assumed);
 * 2. each new scalar source, written where the old one was (same kind of position: block map value,
 *    block sequence item, flow map value, flow sequence item), is read by YAML 1.2 and 1.1 as one
 *    untagged scalar of the same style spanning exactly those bytes and holding exactly the wanted
 *    string — checked by parsing a one-entry document of that position;
 * 3. the splice cannot reach past its own bytes: old and new sources are on one line, and what
 *    follows the old source on its line ends a scalar in that position whatever the scalar held.
 * Together these mean a full parse of the output would give the original documents with only those
 * values changed. Whatever does not meet the conditions is left to the full re-parse (`verifyEdit`).
 */

import { parseAllDocuments, isMap, isScalar, isSeq } from 'yaml';

/** Where a scalar sits; the same bytes can read differently in a flow collection than in a block one. */
export type ScalarPosition = 'block-map' | 'block-seq' | 'flow-map' | 'flow-seq';

export interface Splice {
  /** Original offsets: [from, to) is replaced by `text` (from === to for an insertion). */
  from: number;
  to: number;
  text: string;
}

const MEMO_LIMIT = 4096;
const memo = new Map<string, boolean>();

function remember(key: string, compute: () => boolean): boolean {
  const known = memo.get(key);
  if (known !== undefined) return known;
  const value = compute();
  // Bumps write the same few values into many files: a small bounded memo makes each check once per value.
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(key, value);
  return value;
}

const TOKEN_TYPE = { PLAIN: 'scalar', QUOTE_SINGLE: 'single-quoted-scalar', QUOTE_DOUBLE: 'double-quoted-scalar' } as const;
export type FlowScalarType = keyof typeof TOKEN_TYPE;

function wrap(position: ScalarPosition, source: string): string {
  switch (position) {
    case 'block-map':
      return `k: ${source}\n`;
    case 'block-seq':
      return `- ${source}\n`;
    case 'flow-map':
      return `{k: ${source}}\n`;
    case 'flow-seq':
      return `[${source}]\n`;
  }
}

/** The one entry of a one-entry document, if it is exactly that; keys must be the plain `expectKey`. */
function onlyEntry(text: string, version: '1.1' | '1.2', position: ScalarPosition | 'line', expectKey: string): unknown {
  const docs = parseAllDocuments(text, { version, keepSourceTokens: true });
  if (!Array.isArray(docs) || docs.length !== 1) return undefined;
  const doc = docs[0];
  if (!doc || doc.errors.length > 0 || doc.warnings.length > 0) return undefined;
  const root = doc.contents;
  const flow = position === 'flow-map' || position === 'flow-seq';
  if (position === 'block-seq' || position === 'flow-seq') {
    if (!isSeq(root) || Boolean(root.flow) !== flow || root.items.length !== 1) return undefined;
    return root.items[0];
  }
  if (!isMap(root) || Boolean(root.flow) !== flow || root.items.length !== 1) return undefined;
  const pair = root.items[0];
  const key = pair?.key;
  if (!pair || !isScalar(key) || key.value !== expectKey || key.srcToken?.type !== 'scalar' || key.srcToken.source !== expectKey || key.anchor || key.tag) return undefined;
  return pair.value;
}

function isExactly(node: unknown, source: string, type: FlowScalarType, want: string): boolean {
  return isScalar(node) && node.value === want && !node.anchor && !node.tag && node.srcToken?.type === TOKEN_TYPE[type] && node.srcToken.source === source;
}

/**
 * Whether `source`, written as a scalar of `type` at a `position`, reads back (YAML 1.2 and 1.1) as
 * exactly the string `want`, untagged, spanning all of `source` and nothing else.
 */
export function scalarReadsBack(position: ScalarPosition, source: string, type: FlowScalarType, want: string): boolean {
  if (/[\r\n]/.test(source)) return false;
  return remember(`s\u0000${position}\u0000${type}\u0000${want}\u0000${source}`, () =>
    (['1.2', '1.1'] as const).every((version) => isExactly(onlyEntry(wrap(position, source), version, position, 'k'), source, type, want)),
  );
}

/** Whether the line `key: source` is one plain key holding exactly the string `want`. */
export function entryReadsBack(key: string, source: string, type: FlowScalarType, want: string): boolean {
  if (/[\r\n]/.test(source) || /[\r\n]/.test(key)) return false;
  return remember(`l\u0000${key}\u0000${type}\u0000${want}\u0000${source}`, () =>
    (['1.2', '1.1'] as const).every((version) => isExactly(onlyEntry(`${key}: ${source}\n`, version, 'line', key), source, type, want)),
  );
}

/**
 * What may follow a scalar value on its line so that the scalar ends exactly where it ended before,
 * whatever it now holds: nothing, a line break, or blanks (then a comment or the line break); in a
 * flow collection also the indicator that closes the entry.
 */
export function endsCleanly(text: string, at: number, position: ScalarPosition): boolean {
  if (at >= text.length) return true;
  const c = text[at];
  if (c === ' ' || c === '\t' || c === '\n' || c === '\r') return true;
  return (position === 'flow-map' || position === 'flow-seq') && (c === ',' || c === ']' || c === '}');
}

/** Apply non-overlapping splices (original offsets); undefined when two overlap. */
export function applySplices(text: string, splices: Splice[]): string | undefined {
  const order = splices.map((s, i) => ({ ...s, i })).sort((a, b) => a.from - b.from || a.i - b.i);
  let out = '';
  let at = 0;
  for (const s of order) {
    if (s.from < at || s.to < s.from) return undefined;
    out += text.slice(at, s.from) + s.text;
    at = s.to;
  }
  return out + text.slice(at);
}

/**
 * Check an output against its splices: every byte outside them is the original byte, each splice
 * holds exactly its text, and nothing else differs. Returns the first offset that breaks this.
 */
export function onlySplicesChanged(before: string, after: string, splices: Splice[]): number | undefined {
  const order = [...splices].sort((a, b) => a.from - b.from);
  let from = 0;
  let shift = 0;
  for (const s of order) {
    if (!after.startsWith(before.slice(from, s.from), from + shift)) return from;
    if (!after.startsWith(s.text, s.from + shift)) return s.from;
    shift += s.text.length - (s.to - s.from);
    from = s.to;
  }
  if (after.length !== before.length + shift || !after.startsWith(before.slice(from), from + shift)) return from;
  return undefined;
}
