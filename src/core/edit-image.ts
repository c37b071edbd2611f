/**
 * Set one image in one file, byte-exactly: find every reference with the target kinds, change only
 * those scalars (adding a missing key where pinning needs one), then prove it by re-parsing.
 */

import { isDeepStrictEqual } from 'node:util'; // pure: structural equality, no I/O
import { CST, isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';
import type { Node, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { formatImageRef, isValidDigest, isValidTag, parseImageRef } from './image-ref.js';
import { targetKinds } from './targets/index.js';
import type { Found, ImageSelector, Insertion, Slot } from './targets/types.js';
import { columnOf, endOfLine, eolOf, lineStarts, parseYamlSource, pathKey, plainIsSafe, scalarsOf, setScalars, styleFor } from './yaml/source.js';
import type { YamlPath, YamlSource } from './yaml/source.js';
import { applySplices, endsCleanly, entryReadsBack, onlySplicesChanged, scalarReadsBack } from './yaml/splice.js';
import type { FlowScalarType, ScalarPosition, Splice } from './yaml/splice.js';

export interface ImageVersion {
  tag?: string;
  digest?: string;
}

export interface ImageChange {
  tag: string;
  digest?: string;
  digestMode: 'pin' | 'ignore';
}

export type EditOutcome =
  /** `proof`: how the edit was proven — on its splices alone, or by re-parsing the edited file. */
  | { status: 'changed'; text: string; from: ImageVersion; proof: 'splice' | 'reparse' }
  | { status: 'unchanged'; from: ImageVersion }
  | { status: 'not-found' }
  | { status: 'refused'; message: string };

/** A scalar the edit must leave holding `value`, by its place in the original file. */
export interface ExpectedValue {
  doc: number;
  path: YamlPath;
  value: string;
}

/** A key the edit adds to the map at `mapPath`. */
export interface ExpectedKey {
  doc: number;
  mapPath: YamlPath;
  key: string;
  value: string;
}

function findAll(src: YamlSource, want: ImageSelector): Found {
  const all: Found = { slots: [], insertions: [], problems: [] };
  for (const kind of targetKinds) {
    const f = kind.find(src, want);
    all.slots.push(...f.slots);
    all.insertions.push(...f.insertions);
    all.problems?.push(...(f.problems ?? []));
  }
  return all;
}

function refOf(slot: Pick<Slot, 'current' | 'prefix'>): ReturnType<typeof parseImageRef> {
  return parseImageRef(slot.current.slice(slot.prefix?.length ?? 0));
}

/** The version a file currently holds for the image (first reference wins), if it holds one. */
export function versionIn(slots: Slot[]): ImageVersion {
  const v: ImageVersion = {};
  for (const s of slots) {
    if (s.role === 'tag' && v.tag === undefined) v.tag = s.current;
    if (s.role === 'digest' && v.digest === undefined && s.current) v.digest = s.current;
    if (s.role === 'ref') {
      const ref = refOf(s);
      if (ref?.tag !== undefined && v.tag === undefined) v.tag = ref.tag;
      if (ref?.digest !== undefined && v.digest === undefined) v.digest = ref.digest;
    }
  }
  return v;
}

export function readImageVersion(text: string, want: ImageSelector): ImageVersion | undefined {
  const src = parseYamlSource(text);
  if (src.errors.length > 0) return undefined;
  const found = findAll(src, want);
  return found.slots.some((s) => s.role !== 'name') ? versionIn(found.slots) : undefined;
}

function valueFor(slot: Slot, change: ImageChange): string | undefined {
  switch (slot.role) {
    case 'tag':
      return change.tag;
    case 'digest':
      return change.digestMode === 'pin' ? change.digest : undefined;
    case 'name':
      // Baton moves versions, never repositories: the name stays as the file writes it.
      return undefined;
    case 'ref': {
      const ref = refOf(slot);
      if (!ref) return undefined;
      // With digest: ignore the old digest goes too, or it would keep pinning the old image.
      const digest = change.digestMode === 'pin' ? change.digest : undefined;
      return `${slot.prefix ?? ''}${formatImageRef({ name: ref.name, tag: change.tag, ...(digest !== undefined && { digest }) })}`;
    }
  }
}

function pathStartsWith(path: YamlPath, prefix: YamlPath): boolean {
  return prefix.every((p, i) => path[i] === p);
}

/** Insertions that this change needs: a digest when pinning, a tag only when the entry has neither. */
function neededInsertions(found: Found, paths: Map<Scalar, YamlPath>, change: ImageChange): Insertion[] {
  const hasSlot = (ins: Insertion, role: Slot['role']): boolean =>
    found.slots.some((s) => {
      const path = paths.get(s.node);
      return s.doc === ins.doc && s.role === role && path !== undefined && path.length === ins.mapPath.length + 1 && pathStartsWith(path, ins.mapPath);
    });
  return found.insertions.filter((ins) => {
    if (ins.role === 'digest') return change.digestMode === 'pin' && change.digest !== undefined;
    return !hasSlot(ins, 'digest');
  });
}

/** Write a new value in the quoting style of its neighbour, quoting only when plain would change its meaning. */
function renderLike(neighbour: Scalar, value: string): string {
  if (neighbour.type === 'QUOTE_SINGLE' && !value.includes("'")) return `'${value}'`;
  if (neighbour.type === 'QUOTE_DOUBLE' || !plainIsSafe(value)) return JSON.stringify(value);
  return value;
}

/** Add absent keys as new lines under their map, same indentation and line ending; bottom-up so offsets hold. */
function applyInsertions(src: YamlSource, insertions: Insertion[], change: ImageChange): { text: string; added: ExpectedKey[] } | { error: string } {
  const eol = eolOf(src.text);
  const splices: { at: number; text: string }[] = [];
  const added: ExpectedKey[] = [];
  for (const ins of insertions) {
    const map = src.docs[ins.doc]?.getIn(ins.mapPath, true);
    if (!isMap(map)) return { error: `cannot add ${ins.key}: ${ins.mapPath.join('.')} is not a map` };
    if (map.flow) return { error: `cannot add ${ins.key} to the flow-style map at ${ins.mapPath.join('.')} without restyling it` };
    const pair = map.items.find((p) => isScalar(p.key) && p.key.value === ins.afterKey);
    const keyNode = pair && isScalar(pair.key) ? pair.key : undefined;
    const valueNode = pair?.value;
    if (!keyNode?.range || !valueNode || !isScalar(valueNode) || !valueNode.range) {
      return { error: `cannot add ${ins.key} after ${ins.afterKey} at ${ins.mapPath.join('.')}` };
    }
    const value = ins.role === 'digest' ? change.digest : change.tag;
    if (value === undefined) continue;
    const indent = ' '.repeat(columnOf(src.text, keyNode.range[0]));
    const at = endOfLine(src.text, valueNode.range[1]);
    const needsBreak = at === src.text.length && !src.text.endsWith('\n');
    splices.push({ at, text: `${needsBreak ? eol : ''}${indent}${ins.key}: ${renderLike(valueNode, value)}${needsBreak ? '' : eol}` });
    added.push({ doc: ins.doc, mapPath: ins.mapPath, key: ins.key, value });
  }
  let text = src.text;
  // Bottom-up so offsets hold; at one spot, later keys first so they end up in the order listed (newTag, then digest).
  const order = splices.map((s, i) => ({ ...s, i })).sort((a, b) => b.at - a.at || b.i - a.i);
  for (const s of order) text = text.slice(0, s.at) + s.text + text.slice(s.at);
  return { text, added };
}

/** Where a scalar value is written: its document, path and the collection that holds it. */
interface Located {
  doc: number;
  path: YamlPath;
  parent: YAMLMap | YAMLSeq;
}

/**
 * Locate the given scalar nodes as values (map values and sequence items, as `scalarsOf` walks them;
 * aliases are not followed, so an anchored node is found where it is written).
 */
function locate(src: YamlSource, nodes: Iterable<Scalar>): Map<Scalar, Located> {
  const wanted = new Set(nodes);
  const out = new Map<Scalar, Located>();
  const path: YamlPath = [];
  const walk = (d: number, node: unknown, parent: YAMLMap | YAMLSeq | undefined): void => {
    if (out.size === wanted.size) return;
    if (isScalar(node)) {
      if (parent && wanted.has(node)) out.set(node, { doc: d, path: [...path], parent });
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        path.push(i);
        walk(d, item, node);
        path.pop();
      });
    } else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        path.push(pair.key.value as YamlPath[number]);
        walk(d, pair.value, node);
        path.pop();
      }
    }
  };
  src.docs.forEach((doc, d) => walk(d, doc.contents, undefined));
  return out;
}

function pathsOf(located: Map<Scalar, Located>): Map<Scalar, YamlPath> {
  return new Map([...located].map(([node, l]) => [node, l.path]));
}

/** Scalar nodes by `pathKey(doc, path)`. */
function nodesByPath(src: YamlSource): Map<string, Scalar> {
  const index = new Map<string, Scalar>();
  src.docs.forEach((doc, d) => {
    for (const { node, path } of scalarsOf(doc)) index.set(pathKey(d, path), node);
  });
  return index;
}

function describe(path: YamlPath): string {
  return path.length === 0 ? 'the document root' : path.map(String).join('.');
}

/**
 * Walk the old and new documents side by side: same structure, styles, anchors, tags and values,
 * except the expected scalars (which must now hold exactly their new string) and the added keys.
 */
function compareDocs(d: number, o: unknown, n: unknown, path: YamlPath, values: Map<string, string>, added: Map<string, ExpectedKey[]>): string | undefined {
  const where = `document ${d + 1} would change at ${describe(path)}`;
  if (o === null || o === undefined || n === null || n === undefined) return o === n ? undefined : where;
  if (isAlias(o)) return isAlias(n) && o.source === n.source ? undefined : where;
  const on = o as Node;
  const nn = n as Node;
  if (on.anchor !== nn.anchor || on.tag !== nn.tag) return `${where} (anchor or tag)`;
  if (isScalar(o)) {
    if (!isScalar(n)) return where;
    const want = values.get(pathKey(d, path));
    if (want !== undefined) {
      if (n.value !== want) return `${where}: it would read back as ${JSON.stringify(n.value)}, not the string ${want}`;
      // The only restyle allowed is the quoting a plain value needs to stay a string.
      const restyled = o.type !== n.type && !(o.type === 'PLAIN' && n.type === 'QUOTE_DOUBLE' && !plainIsSafe(want));
      return restyled ? `${where}: it would restyle the value from ${o.type ?? '?'} to ${n.type ?? '?'}` : undefined;
    }
    return isDeepStrictEqual(o.value, n.value) && o.type === n.type ? undefined : where;
  }
  if (isSeq(o)) {
    if (!isSeq(n) || o.flow !== n.flow || o.items.length !== n.items.length) return where;
    for (let i = 0; i < o.items.length; i++) {
      const problem = compareDocs(d, o.items[i], n.items[i], [...path, i], values, added);
      if (problem) return problem;
    }
    return undefined;
  }
  if (isMap(o)) {
    if (!isMap(n) || o.flow !== n.flow) return where;
    const extra = added.get(pathKey(d, path)) ?? [];
    const oldKeys = new Set(o.items.map((p) => (isScalar(p.key) ? p.key.value : p.key)));
    const kept = n.items.filter((p) => {
      const key: unknown = isScalar(p.key) ? p.key.value : undefined;
      const add = extra.find((e) => e.key === key && !oldKeys.has(e.key));
      return add === undefined;
    });
    for (const e of extra) {
      const pair = n.items.find((p) => isScalar(p.key) && p.key.value === e.key);
      if (!pair || !isScalar(pair.value) || pair.value.value !== e.value) return `${where}: ${e.key} was not added as ${e.value}`;
    }
    if (kept.length !== o.items.length) return `${where} (keys added or removed)`;
    for (let i = 0; i < o.items.length; i++) {
      const op = o.items[i];
      const np = kept[i];
      if (!isPair(op) || !isPair(np)) return where;
      const keyProblem = compareDocs(d, op.key, np.key, [...path, '(key)'], new Map(), new Map());
      if (keyProblem) return keyProblem;
      const seg = (isScalar(op.key) ? op.key.value : '(complex key)') as YamlPath[number];
      const problem = compareDocs(d, op.value, np.value, [...path, seg], values, added);
      if (problem) return problem;
    }
    return undefined;
  }
  return isDeepStrictEqual((o as { toJSON?: () => unknown }).toJSON?.(), (n as { toJSON?: () => unknown }).toJSON?.()) ? undefined : where;
}

/** The text with every given range replaced by a NUL (which YAML text cannot contain), and `cut` ranges removed. */
function strip(text: string, marks: [number, number][], cut: [number, number][]): string {
  const spans = [...marks.map(([a, b]) => ({ a, b, mark: true })), ...cut.map(([a, b]) => ({ a, b, mark: false }))].sort((x, y) => x.a - y.a);
  let out = '';
  let at = 0;
  for (const s of spans) {
    if (s.a < at) return '\u0001overlap';
    out += text.slice(at, s.a) + (s.mark ? '\u0000' : '');
    at = s.b;
  }
  return out + text.slice(at);
}

/**
 * Prove an edit: re-parse `after` and require (1) the same documents with exactly the expected
 * values set (as strings) and keys added, and (2) the same bytes everywhere outside those values
 * and the added lines — comments, quotes, indentation, separators, line endings and the last newline.
 * Returns why the edit is unsafe, or undefined when it is proven.
 */
export function verifyEdit(before: string | YamlSource, after: string, values: ExpectedValue[], added: ExpectedKey[] = []): string | undefined {
  const a = typeof before === 'string' ? parseYamlSource(before) : before;
  const b = parseYamlSource(after);
  if (b.errors.length > 0) return `the edited file does not parse: ${b.errors[0] ?? ''}`;
  if (a.docs.length !== b.docs.length) return 'the edit changed the number of YAML documents';
  const wanted = new Map(values.map((v) => [pathKey(v.doc, v.path), v.value]));
  const adds = new Map<string, ExpectedKey[]>();
  for (const k of added) adds.set(pathKey(k.doc, k.mapPath), [...(adds.get(pathKey(k.doc, k.mapPath)) ?? []), k]);
  for (let d = 0; d < a.docs.length; d++) {
    const problem = compareDocs(d, a.docs[d]?.contents, b.docs[d]?.contents, [], wanted, adds);
    if (problem) return problem;
  }

  const oldNodes = nodesByPath(a);
  const newNodes = nodesByPath(b);
  const oldMarks: [number, number][] = [];
  const newMarks: [number, number][] = [];
  for (const v of values) {
    const o = oldNodes.get(pathKey(v.doc, v.path))?.range;
    const n = newNodes.get(pathKey(v.doc, v.path))?.range;
    if (!o || !n) return `cannot locate ${describe(v.path)} to check the edit`;
    oldMarks.push([o[0], o[1]]);
    newMarks.push([n[0], n[1]]);
  }
  const cuts: [number, number][] = [];
  for (const k of added) {
    const map = b.docs[k.doc]?.getIn(k.mapPath, true);
    const pair = isMap(map) ? map.items.find((p) => isScalar(p.key) && p.key.value === k.key) : undefined;
    const keyRange = pair && isScalar(pair.key) ? pair.key.range : undefined;
    const valueRange = pair && isScalar(pair.value) ? pair.value.range : undefined;
    if (!keyRange || !valueRange) return `cannot locate the added ${k.key} to check the edit`;
    const lineStart = after.lastIndexOf('\n', keyRange[0] - 1) + 1;
    cuts.push([lineStart, endOfLine(after, valueRange[1])]);
  }
  if (!after.endsWith('\n')) {
    // At the end of a file without a final newline, the added lines there bring their break before them.
    cuts.sort((x, y) => x[0] - y[0]);
    let first = cuts.length;
    while (first > 0 && cuts[first - 1]?.[1] === (first === cuts.length ? after.length : cuts[first]?.[0])) first--;
    const start = cuts[first]?.[0];
    if (start !== undefined) cuts.splice(first, cuts.length - first, [start - (after[start - 2] === '\r' ? 2 : 1), after.length]);
  }
  if (strip(a.text, oldMarks, []) !== strip(after, newMarks, cuts)) return 'the edit would change bytes outside the image values';
  if (lineStarts(after).length !== lineStarts(a.text).length + added.length) return 'the edit would add or remove lines';
  return undefined;
}

const SPLICE_TYPES: Partial<Record<CST.Token['type'], FlowScalarType>> = { scalar: 'PLAIN', 'single-quoted-scalar': 'QUOTE_SINGLE', 'double-quoted-scalar': 'QUOTE_DOUBLE' };

function positionOf(parent: YAMLMap | YAMLSeq): ScalarPosition {
  return isMap(parent) ? (parent.flow ? 'flow-map' : 'block-map') : parent.flow ? 'flow-seq' : 'block-seq';
}

/** What may come right before a scalar value: the blank after `:`, `-` or indentation; in a flow sequence also `[` or `,`. */
function startsCleanly(text: string, at: number, position: ScalarPosition): boolean {
  const c = at > 0 ? text[at - 1] : '';
  return c === ' ' || c === '\t' || (position === 'flow-seq' && (c === '[' || c === ','));
}

/**
 * The edit as splices into the original text, proven without a second parse (see yaml/splice.ts):
 * each changed scalar is replaced in its own bytes and must read back as its new string in its
 * position; each added key is one new line at the indentation of its map. Returns undefined when
 * the file is outside what this proof covers (multi-line or block scalars, tags, style changes other
 * than quoting a value that plain would misread, …), and then the caller re-parses instead.
 */
function spliceEdit(src: YamlSource, slots: Slot[], insertions: Insertion[], change: ImageChange): { status: 'changed'; text: string } | { status: 'unchanged' } | undefined {
  const text = src.text;
  const values = new Map<Scalar, string>();
  for (const slot of slots) {
    const value = valueFor(slot, change);
    if (value === undefined || value === slot.current) continue;
    const prior = values.get(slot.node);
    if (prior !== undefined && prior !== value) return undefined;
    values.set(slot.node, value);
  }
  if (values.size === 0 && insertions.length === 0) return { status: 'unchanged' };
  const located = locate(src, values.keys());
  const splices: Splice[] = [];
  for (const [node, value] of values) {
    const token = node.srcToken;
    const where = located.get(node);
    const oldType = token ? SPLICE_TYPES[token.type] : undefined;
    if (!token || !CST.isScalar(token) || !oldType || !where || node.tag !== undefined) return undefined;
    const from = token.offset;
    const to = from + token.source.length;
    if (/[\r\n]/.test(token.source) || text.slice(from, to) !== token.source) return undefined;
    const position = positionOf(where.parent);
    if (!startsCleanly(text, from, position) || !endsCleanly(text, to, position)) return undefined;
    // Rendered as the CST would render it in place (the token itself is left untouched).
    const rendered = { ...token };
    const type = styleFor(node, value);
    CST.setScalarValue(rendered, value, type ? { type } : undefined);
    const newType = SPLICE_TYPES[rendered.type];
    if (!newType || (newType !== oldType && !(oldType === 'PLAIN' && newType === 'QUOTE_DOUBLE' && !plainIsSafe(value)))) return undefined;
    if (!scalarReadsBack(position, rendered.source, newType, value)) return undefined;
    splices.push({ from, to, text: rendered.source });
  }
  const eol = eolOf(text);
  for (const ins of insertions) {
    const value = ins.role === 'digest' ? change.digest : change.tag;
    if (value === undefined) continue;
    const map = src.docs[ins.doc]?.getIn(ins.mapPath, true);
    if (!isMap(map) || map.flow || map.has(ins.key)) return undefined;
    const pair = map.items.find((p) => isScalar(p.key) && p.key.value === ins.afterKey);
    const keyNode = pair && isScalar(pair.key) ? pair.key : undefined;
    const valueNode = pair && isScalar(pair.value) ? pair.value : undefined;
    if (!keyNode?.range || !valueNode?.range || valueNode.type === 'BLOCK_LITERAL' || valueNode.type === 'BLOCK_FOLDED') return undefined;
    const lineStart = text.lastIndexOf('\n', keyNode.range[0] - 1) + 1;
    // The neighbour pair is one line of its own (after indentation and any `- ` of a compact entry).
    if (text.slice(keyNode.range[0], valueNode.range[1]).includes('\n') || !/^(?: *- +)* *$/.test(text.slice(lineStart, keyNode.range[0]))) return undefined;
    const rendered = renderLike(valueNode, value);
    const type: FlowScalarType = rendered.startsWith("'") ? 'QUOTE_SINGLE' : rendered.startsWith('"') ? 'QUOTE_DOUBLE' : 'PLAIN';
    if (!entryReadsBack(ins.key, rendered, type, value)) return undefined;
    const at = endOfLine(text, valueNode.range[1]);
    const needsBreak = at === text.length && !text.endsWith('\n');
    const line = `${' '.repeat(keyNode.range[0] - lineStart)}${ins.key}: ${rendered}`;
    splices.push({ from: at, to: at, text: needsBreak ? `${eol}${line}` : `${line}${eol}` });
  }
  const out = applySplices(text, splices);
  if (out === undefined || onlySplicesChanged(text, out, splices) !== undefined) return undefined;
  return { status: 'changed', text: out };
}

export interface EditOptions {
  /** Always prove the edit by re-parsing the whole edited file (the tests compare both proofs). */
  reparse?: boolean;
}

export function editImage(text: string, want: ImageSelector, change: ImageChange, options: EditOptions = {}): EditOutcome {
  // Tags and digests arrive in webhook payloads: only well-formed ones are ever written.
  if (!isValidTag(change.tag)) return { status: 'refused', message: `${JSON.stringify(change.tag)} is not a valid image tag` };
  if (change.digest !== undefined && !isValidDigest(change.digest)) return { status: 'refused', message: `${JSON.stringify(change.digest)} is not a valid digest` };
  const first = parseYamlSource(text);
  if (first.errors.length > 0) return { status: 'refused', message: `not valid YAML: ${first.errors[0] ?? ''}` };
  const found = findAll(first, want);
  const problem = found.problems?.find((p) => !p.whenPinning || change.digestMode === 'pin');
  if (problem) return { status: 'refused', message: problem.message };
  if (found.slots.length === 0 && found.insertions.length === 0) return { status: 'not-found' };
  const from = versionIn(found.slots);
  if (change.digestMode === 'pin' && change.digest === undefined) {
    return { status: 'refused', message: `digest: pin is set but no digest is known for ${change.tag}` };
  }
  if (change.digestMode === 'ignore' && found.slots.some((s) => s.role === 'digest' && s.current !== '')) {
    return { status: 'refused', message: 'the file pins a digest but the image is configured with digest: ignore' };
  }
  const broken = found.slots.find((s) => s.role === 'ref' && !refOf(s));
  if (broken) return { status: 'refused', message: `${broken.current} is marked as the ${want.image} image but is not an image reference` };

  const firstPaths = found.insertions.length > 0 ? pathsOf(locate(first, found.slots.map((s) => s.node))) : new Map<Scalar, YamlPath>();
  const insertions = found.insertions.length > 0 ? neededInsertions(found, firstPaths, change) : [];
  // Most edits are proven on the splices themselves; anything unusual takes the full re-parse below.
  const fast = options.reparse ? undefined : spliceEdit(first, found.slots, insertions, change);
  if (fast) return fast.status === 'changed' ? { ...fast, from, proof: 'splice' } : { ...fast, from };
  let src = first;
  let added: ExpectedKey[] = [];
  if (insertions.length > 0) {
    const inserted = applyInsertions(first, insertions, change);
    if ('error' in inserted) return { status: 'refused', message: inserted.error };
    src = parseYamlSource(inserted.text);
    added = inserted.added;
    if (src.errors.length > 0) return { status: 'refused', message: 'adding a key would break the file' };
  }
  const slots = src === first ? found.slots : findAll(src, want).slots;
  const paths = pathsOf(locate(src, slots.map((s) => s.node)));

  // Several kinds (or aliases) can name the same scalar; it is edited once, and must agree with itself.
  const edits = new Map<Scalar, { value: string; path: YamlPath; doc: number }>();
  for (const slot of slots) {
    const value = valueFor(slot, change);
    if (value === undefined || value === slot.current) continue;
    const path = paths.get(slot.node);
    if (!path) return { status: 'refused', message: `cannot locate ${slot.current} in the file` };
    const prior = edits.get(slot.node);
    if (prior && prior.value !== value) return { status: 'refused', message: `${slot.current} is claimed as two different parts of the image (${prior.value} and ${value})` };
    if (slot.node.type === 'BLOCK_LITERAL' || slot.node.type === 'BLOCK_FOLDED') {
      return { status: 'refused', message: `${describe(path)} is a block scalar; rewriting it would restyle the file` };
    }
    if (!slot.node.srcToken || slot.node.range?.[0] === slot.node.range?.[1]) {
      // `digest:` with nothing after it: there are no value bytes to replace, and adding some means restyling the line.
      return { status: 'refused', message: `${describe(path)} has no value to replace; write "" there first` };
    }
    edits.set(slot.node, { value, path, doc: slot.doc });
  }
  if (edits.size === 0 && insertions.length === 0) return { status: 'unchanged', from };

  let out: string;
  try {
    out = setScalars(src, [...edits].map(([node, e]) => ({ node, value: e.value })));
  } catch (e) {
    // The planner must never crash on a strange file: whatever the CST cannot do is a refusal.
    return { status: 'refused', message: `the edit could not be made: ${(e as Error).message}` };
  }
  const values: ExpectedValue[] = [...edits.values()]
    .filter((e) => !added.some((k) => k.doc === e.doc && e.path.length === k.mapPath.length + 1 && pathStartsWith(e.path, k.mapPath) && e.path[e.path.length - 1] === k.key))
    .map((e) => ({ doc: e.doc, path: e.path, value: e.value }));
  const unsafe = verifyEdit(first, out, values, added);
  if (unsafe) return { status: 'refused', message: unsafe };
  return { status: 'changed', text: out, from, proof: 'reparse' };
}
