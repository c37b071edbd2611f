/** Kustomize `images:` entries: match by `name` or `newName`, set `newTag` and `digest`. */

import { isMap, isScalar, isSeq } from 'yaml';
import { sameRepository } from '../image-ref.js';
import type { Found, ImageSelector, TargetKind } from './types.js';
import type { YamlSource } from '../yaml/source.js';

function isKustomization(doc: YamlSource['docs'][number]): boolean {
  const kind: unknown = doc.get('kind');
  const api: unknown = doc.get('apiVersion');
  if (kind === 'Kustomization' || kind === 'Component') return typeof api !== 'string' || api.startsWith('kustomize.config.k8s.io');
  // kustomization.yaml files often omit apiVersion/kind entirely.
  return kind === undefined && isSeq(doc.get('images', true));
}

export const kustomize: TargetKind = {
  id: 'kustomize',
  find(src: YamlSource, want: ImageSelector): Found {
    const found: Found = { slots: [], insertions: [] };
    src.docs.forEach((doc, d) => {
      if (!isMap(doc.contents) || !isKustomization(doc)) return;
      const images = doc.get('images', true);
      if (!isSeq(images)) return;
      images.items.forEach((entry, i) => {
        if (!isMap(entry)) return;
        const name: unknown = entry.get('name');
        const newName: unknown = entry.get('newName');
        const matches =
          (typeof newName === 'string' && sameRepository(newName, want.repository)) ||
          (typeof newName !== 'string' && typeof name === 'string' && sameRepository(name, want.repository));
        if (!matches) return;
        const mapPath = ['images', i];
        for (const [key, role] of [['newTag', 'tag'], ['digest', 'digest']] as const) {
          const node = entry.get(key, true);
          if (isScalar(node)) {
            found.slots.push({ kind: 'kustomize', doc: d, path: [...mapPath, key], node, role, current: String(node.value) });
          } else if (node === undefined) {
            const afterKey = key === 'digest' && entry.has('newTag') ? 'newTag' : entry.has('newName') ? 'newName' : 'name';
            found.insertions.push({ kind: 'kustomize', doc: d, mapPath, afterKey, key, role });
          }
        }
      });
    });
    return found;
  },
};
