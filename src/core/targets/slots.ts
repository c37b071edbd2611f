/** Helpers the target kinds share: turning nodes into slots, following aliases, matching references. */

import { isMap, isScalar, isSeq } from 'yaml';
import type { Document, YAMLMap } from 'yaml';
import { parseImageRef, sameRepository } from '../image-ref.js';
import { resolveNode, scalarText } from '../yaml/source.js';
import type { Slot, SlotRole } from './types.js';

/** A slot for `node` (an alias is followed to its anchor), or undefined when it is not a scalar. */
export function slotOf(kind: string, doc: Document.Parsed, d: number, node: unknown, role: SlotRole, prefix?: string): Slot | undefined {
  const target = resolveNode(doc, node);
  if (!isScalar(target)) return undefined;
  const current = scalarText(target);
  if (prefix !== undefined && !current.startsWith(prefix)) return undefined;
  return { kind, doc: d, node: target, role, current, ...(prefix !== undefined && prefix !== '' && { prefix }) };
}

/** A `ref` slot when `node` holds a reference to `repository` (`repo`, `repo:tag`, `repo@digest`, `repo:tag@digest`). */
export function refSlotOf(kind: string, doc: Document.Parsed, d: number, node: unknown, repository: string): Slot | undefined {
  const slot = slotOf(kind, doc, d, node, 'ref');
  if (!slot) return undefined;
  const ref = parseImageRef(slot.current);
  return ref && sameRepository(ref.name, repository) ? slot : undefined;
}

/** Split a dotted values path; `\.` keeps a dot inside a key (`podAnnotations.app\.kubernetes\.io/name`). */
export function splitKeyPath(key: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < key.length; i++) {
    const c = key[i];
    if (c === '\\' && key[i + 1] === '.') {
      cur += '.';
      i++;
    } else if (c === '.') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/**
 * `map.get(key)`, also looking through YAML merge keys (`<<: *defaults`), which Kubernetes manifests
 * use to share container settings; the map's own key wins, as in YAML 1.1.
 */
export function getMerged(doc: Document.Parsed, map: YAMLMap, key: string, depth = 0): unknown {
  if (map.has(key)) return map.get(key, true);
  if (depth > 8) return undefined;
  const merge = resolveNode(doc, map.get('<<', true));
  const sources = isSeq(merge) ? merge.items.map((i) => resolveNode(doc, i)) : [merge];
  for (const source of sources) {
    if (!isMap(source)) continue;
    const found = getMerged(doc, source, key, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
