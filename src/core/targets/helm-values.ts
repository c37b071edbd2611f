/**
 * Helm values by path: the target's `key` (tag, or a whole `repo:tag` when that is what it holds) and
 * `digestKey`, in a plain values file, in a Flux `HelmRelease.spec.values`, or in an Argo CD
 * Application's `helm.valuesObject`.
 */

import { isMap, isScalar, isSeq } from 'yaml';
import type { Document } from 'yaml';
import { parseImageRef, sameRepository } from '../image-ref.js';
import { resolveNode } from '../yaml/source.js';
import type { YamlPath, YamlSource } from '../yaml/source.js';
import { slotOf, splitKeyPath } from './slots.js';
import type { Found, ImageSelector, TargetKind } from './types.js';
import { emptyFound } from './types.js';

/** Where values live in this document: the root of a values file, or inside a release object. */
function valueRoots(doc: Document.Parsed): YamlPath[] {
  const kind: unknown = doc.get('kind');
  if (kind === 'HelmRelease') return [['spec', 'values']];
  if (kind === 'Application') {
    const sources = doc.getIn(['spec', 'sources'], true);
    const many = isSeq(sources) ? sources.items.map((_, i): YamlPath => ['spec', 'sources', i, 'helm', 'valuesObject']) : [];
    return [['spec', 'source', 'helm', 'valuesObject'], ...many];
  }
  if (typeof kind === 'string' && doc.get('apiVersion') !== undefined) return [];
  return [[]];
}

/** Walk `segments` from `root`, following aliases; numeric segments index sequences. */
function nodeAt(doc: Document.Parsed, root: YamlPath, segments: string[]): { parent: unknown; parentPath: YamlPath; node: unknown } | undefined {
  let node: unknown = resolveNode(doc, root.length === 0 ? doc.contents : doc.getIn(root, true));
  let path: YamlPath = [...root];
  let parent: unknown;
  let parentPath: YamlPath = path;
  for (const seg of segments) {
    parent = node;
    parentPath = path;
    if (isMap(node)) {
      node = resolveNode(doc, node.get(seg, true));
      path = [...path, seg];
    } else if (isSeq(node) && /^\d+$/.test(seg)) {
      node = resolveNode(doc, node.get(Number(seg), true));
      path = [...path, Number(seg)];
    } else return undefined;
    if (node === undefined) return { parent, parentPath, node: undefined };
  }
  return { parent, parentPath, node };
}

export const helmValues: TargetKind = {
  id: 'helm-values',
  find(src: YamlSource, want: ImageSelector): Found {
    const found = emptyFound();
    if (want.key === undefined) return found;
    const tagPath = splitKeyPath(want.key);
    const digestPath = want.digestKey !== undefined ? splitKeyPath(want.digestKey) : undefined;
    src.docs.forEach((doc, d) => {
      for (const root of valueRoots(doc)) {
        const tag = nodeAt(doc, root, tagPath);
        if (!tag || !isScalar(tag.node)) continue;
        const tagSlot = slotOf('helm-values', doc, d, tag.node, 'tag');
        if (!tagSlot) continue;
        // Some charts take the whole reference in one value (`image: repo:tag`); then the key holds a ref.
        const asRef = parseImageRef(tagSlot.current);
        const holdsRef = asRef !== undefined && sameRepository(asRef.name, want.repository);
        found.slots.push(holdsRef ? { ...tagSlot, role: 'ref' } : tagSlot);
        if (!digestPath) continue;
        const digest = nodeAt(doc, root, digestPath);
        if (digest && isScalar(digest.node)) {
          const slot = slotOf('helm-values', doc, d, digest.node, 'digest');
          if (slot) found.slots.push(slot);
          continue;
        }
        const digestKey = digestPath[digestPath.length - 1];
        const tagKey = tagPath[tagPath.length - 1];
        const sameParent = digest !== undefined && digest.node === undefined && isMap(digest.parent) && digest.parent === tag.parent;
        if (sameParent && digestKey !== undefined && tagKey !== undefined) {
          // The digest goes next to the tag, where a reader of the values file would look for it.
          found.insertions.push({ kind: 'helm-values', doc: d, mapPath: digest.parentPath, afterKey: tagKey, key: digestKey, role: 'digest' });
        } else {
          found.problems?.push({ message: `digestKey ${want.digestKey ?? ''} is not in the file and cannot be added next to ${want.key}`, whenPinning: true });
        }
      }
    });
    return found;
  },
};
