/**
 * Line markers, for files no other kind understands: `# {"$baton": "web"}` (whole reference),
 * `web:tag`, `web:digest`, and Flux's `# {"$imagepolicy": "ns:web"}` with `:tag`, `:name`, `:digest`,
 * matched by the image's service name. The marker is a comment on the line of the scalar it marks.
 */

import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Node } from 'yaml';
import { commentsOf, lineOf, lineStarts } from '../yaml/source.js';
import type { YamlSource } from '../yaml/source.js';
import { slotOf } from './slots.js';
import type { Found, ImageSelector, SlotRole, TargetKind } from './types.js';
import { emptyFound } from './types.js';

interface Marker {
  image: string;
  role: SlotRole;
}

const ROLES = new Map<string, SlotRole>([
  ['tag', 'tag'],
  ['digest', 'digest'],
  ['name', 'name'],
]);

/** Read a marker comment; anything that is not exactly a marker object is an ordinary comment. */
export function parseMarker(comment: string): Marker | undefined {
  const body = comment.replace(/^#\s*/, '').trim();
  if (!body.startsWith('{') || !(body.includes('$baton') || body.includes('$imagepolicy'))) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const rec = parsed as Record<string, unknown>;
  const baton = rec.$baton;
  const flux = rec.$imagepolicy;
  if (typeof baton === 'string') {
    const [image, part, ...rest] = baton.split(':');
    if (!image || rest.length > 0) return undefined;
    if (part === undefined) return { image, role: 'ref' };
    const role = ROLES.get(part);
    return role && role !== 'name' ? { image, role } : undefined;
  }
  if (typeof flux === 'string') {
    // Flux: `namespace:policy[:tag|:name|:digest]`; the policy name is the image's name.
    const [ns, image, part, ...rest] = flux.split(':');
    if (!ns || !image || rest.length > 0) return undefined;
    if (part === undefined) return { image, role: 'ref' };
    const role = ROLES.get(part);
    return role ? { image, role } : undefined;
  }
  return undefined;
}

interface Placed {
  doc: number;
  node: Node;
}

/** Value nodes (map values and sequence items, aliases included) of every document, by the line they end on. */
function valuesByLine(src: YamlSource, starts: number[]): Map<number, Placed[]> {
  const byLine = new Map<number, Placed[]>();
  src.docs.forEach((doc, d) => {
    const add = (node: Node): void => {
      const range = node.range;
      if (!range) return;
      const line = lineOf(starts, Math.max(range[1] - 1, range[0]));
      byLine.set(line, [...(byLine.get(line) ?? []), { doc: d, node }]);
    };
    const walk = (node: unknown): void => {
      if (isScalar(node) || isAlias(node)) add(node);
      else if (isSeq(node)) for (const item of node.items) walk(item);
      else if (isMap(node)) for (const pair of node.items) walk(pair.value);
    };
    walk(doc.contents);
  });
  return byLine;
}

export const markers: TargetKind = {
  id: 'markers',
  find(src: YamlSource, want: ImageSelector): Found {
    const found = emptyFound();
    // Most files carry no markers: skip the CST walk for them.
    if (!src.text.includes('$baton') && !src.text.includes('$imagepolicy')) return found;
    const marks = commentsOf(src).flatMap((c) => {
      const marker = parseMarker(c.source);
      return marker?.image === want.image ? [{ offset: c.offset, marker }] : [];
    });
    if (marks.length === 0) return found;
    const starts = lineStarts(src.text);
    const byLine = valuesByLine(src, starts);
    for (const { offset, marker } of marks) {
      const line = lineOf(starts, offset);
      // The marked value is the last one on the comment's line that ends before the comment.
      const candidates = (byLine.get(line) ?? []).filter((p) => (p.node.range?.[1] ?? Infinity) <= offset);
      const placed = candidates[candidates.length - 1];
      const doc = placed ? src.docs[placed.doc] : undefined;
      const slot = placed && doc ? slotOf('markers', doc, placed.doc, placed.node, marker.role) : undefined;
      if (slot) found.slots.push(slot);
      else found.problems?.push({ message: `the ${marker.role} marker for ${want.image} on line ${line + 1} is not on the line of a value` });
    }
    return found;
  },
};
