/**
 * Set one image in one file, byte-exactly: find every reference with the target kinds, change only
 * those scalars (adding a missing key where pinning needs one), then prove it by re-parsing.
 */

import { isDeepStrictEqual } from 'node:util'; // pure: structural equality, no I/O
import { formatImageRef, parseImageRef } from './image-ref.js';
import { targetKinds } from './targets/index.js';
import type { Found, ImageSelector, Insertion, Slot } from './targets/types.js';
import { columnOf, endOfLine, eolOf, parseYamlSource, setScalars } from './yaml/source.js';
import type { YamlPath, YamlSource } from './yaml/source.js';
import { isMap, isScalar } from 'yaml';

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
  | { status: 'changed'; text: string; from: ImageVersion }
  | { status: 'unchanged'; from: ImageVersion }
  | { status: 'not-found' }
  | { status: 'refused'; message: string };

function findAll(src: YamlSource, want: ImageSelector): Found {
  const all: Found = { slots: [], insertions: [] };
  for (const kind of targetKinds) {
    const f = kind.find(src, want);
    all.slots.push(...f.slots);
    all.insertions.push(...f.insertions);
  }
  return all;
}

/** The version a file currently holds for the image (first reference wins), if it holds one. */
export function versionIn(slots: Slot[]): ImageVersion {
  const v: ImageVersion = {};
  for (const s of slots) {
    if (s.role === 'tag' && v.tag === undefined) v.tag = s.current;
    if (s.role === 'digest' && v.digest === undefined && s.current) v.digest = s.current;
    if (s.role === 'ref') {
      const ref = parseImageRef(s.current);
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
  return found.slots.length > 0 ? versionIn(found.slots) : undefined;
}

function valueFor(slot: Pick<Slot, 'role' | 'current'>, change: ImageChange): string | undefined {
  switch (slot.role) {
    case 'tag':
      return change.tag;
    case 'digest':
      return change.digestMode === 'pin' ? change.digest : undefined;
    case 'ref': {
      const ref = parseImageRef(slot.current);
      if (!ref) return undefined;
      return formatImageRef({ name: ref.name, tag: change.tag, ...(change.digestMode === 'pin' && change.digest ? { digest: change.digest } : {}) });
    }
  }
}

/** Insertions that this change needs: a digest when pinning, a tag only when the entry has neither. */
function neededInsertions(found: Found, change: ImageChange): Insertion[] {
  const hasSlot = (ins: Insertion, role: Slot['role']): boolean =>
    found.slots.some((s) => s.doc === ins.doc && s.role === role && pathStartsWith(s.path, ins.mapPath) && s.path.length === ins.mapPath.length + 1);
  return found.insertions.filter((ins) => {
    if (ins.role === 'digest') return change.digestMode === 'pin' && change.digest !== undefined;
    return !hasSlot(ins, 'digest');
  });
}

function pathStartsWith(path: YamlPath, prefix: YamlPath): boolean {
  return prefix.every((p, i) => path[i] === p);
}

function renderPlain(value: string): string {
  return /^[A-Za-z0-9_][A-Za-z0-9._:@/-]*$/.test(value) && !/^[0-9.]+$/.test(value) && !/^(true|false|null|yes|no|on|off|~)$/i.test(value)
    ? value
    : JSON.stringify(value);
}

/** Add absent keys as new lines under their map, same indentation and line ending; bottom-up so offsets hold. */
function applyInsertions(src: YamlSource, insertions: Insertion[], change: ImageChange): { text: string } | { error: string } {
  const eol = eolOf(src.text);
  const splices: { at: number; text: string }[] = [];
  for (const ins of insertions) {
    const map = src.docs[ins.doc]?.getIn(ins.mapPath, true);
    if (!isMap(map)) return { error: `cannot add ${ins.key}: ${ins.mapPath.join('.')} is not a map` };
    if (map.flow) return { error: `cannot add ${ins.key} to the flow-style entry at ${ins.mapPath.join('.')}` };
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
    splices.push({ at, text: `${needsBreak ? eol : ''}${indent}${ins.key}: ${renderPlain(value)}${needsBreak ? '' : eol}` });
  }
  let text = src.text;
  for (const s of splices.sort((a, b) => b.at - a.at)) text = text.slice(0, s.at) + s.text + text.slice(s.at);
  return { text };
}

type Plain = unknown;

function setIn(root: Plain, path: YamlPath, value: string): Plain {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (Array.isArray(root)) {
    const copy = [...root] as Plain[];
    copy[head as number] = setIn(copy[head as number], rest, value);
    return copy;
  }
  const obj = (root ?? {}) as Record<string, Plain>;
  return { ...obj, [String(head)]: setIn(obj[String(head)], rest, value) };
}

/**
 * Re-parse both texts and require that the new documents equal the old ones with exactly the
 * intended values set, and that no line changed except those holding an edited value.
 */
export function verifyEdit(before: string, after: string, expected: { doc: number; path: YamlPath; value: string }[], insertedLines: number): string | undefined {
  const a = parseYamlSource(before);
  const b = parseYamlSource(after);
  if (b.errors.length > 0) return `the edited file does not parse: ${b.errors[0] ?? ''}`;
  if (a.docs.length !== b.docs.length) return 'the edit changed the number of YAML documents';
  for (let d = 0; d < a.docs.length; d++) {
    let want: Plain = a.docs[d]?.toJS({ maxAliasCount: -1 }) as Plain;
    for (const e of expected.filter((x) => x.doc === d)) want = setIn(want, e.path, e.value);
    const got: Plain = b.docs[d]?.toJS({ maxAliasCount: -1 }) as Plain;
    if (!isDeepStrictEqual(want, got)) return `document ${d + 1} would change beyond the image values`;
  }
  const la = before.split('\n');
  const lb = after.split('\n');
  if (lb.length !== la.length + insertedLines) return 'the edit would add or remove lines';
  return undefined;
}

export function editImage(text: string, want: ImageSelector, change: ImageChange): EditOutcome {
  const first = parseYamlSource(text);
  if (first.errors.length > 0) return { status: 'refused', message: `not valid YAML: ${first.errors[0] ?? ''}` };
  const found = findAll(first, want);
  if (found.slots.length === 0 && found.insertions.length === 0) return { status: 'not-found' };
  const from = versionIn(found.slots);
  if (change.digestMode === 'pin' && change.digest === undefined) {
    return { status: 'refused', message: `digest: pin is set but no digest is known for ${change.tag}` };
  }
  if (change.digestMode === 'ignore' && found.slots.some((s) => s.role === 'digest' && s.current !== '')) {
    return { status: 'refused', message: 'the file pins a digest but the image is configured with digest: ignore' };
  }

  const insertions = neededInsertions(found, change);
  let src = first;
  if (insertions.length > 0) {
    const inserted = applyInsertions(first, insertions, change);
    if ('error' in inserted) return { status: 'refused', message: inserted.error };
    src = parseYamlSource(inserted.text);
    if (src.errors.length > 0) return { status: 'refused', message: 'adding a key would break the file' };
  }
  const slots = findAll(src, want).slots;
  const edits = slots.flatMap((slot) => {
    const value = valueFor(slot, change);
    return value === undefined || value === slot.current ? [] : [{ slot, value }];
  });
  if (edits.length === 0 && insertions.length === 0) return { status: 'unchanged', from };

  const out = setScalars(src, edits.map((e) => ({ node: e.slot.node, value: e.value })));
  const expected = [
    ...slots.flatMap((slot) => {
      const value = valueFor(slot, change);
      return value === undefined ? [] : [{ doc: slot.doc, path: slot.path, value }];
    }),
  ];
  const problem = verifyEdit(text, out, expected, insertions.length);
  if (problem) return { status: 'refused', message: problem };
  return { status: 'changed', text: out, from };
}
