/** Kustomize `images:` entries (kustomization.yaml, Flux Kustomization): match by `newName` (or `name` when there is none), set `newTag` and `digest`. */

import { isMap, isSeq } from 'yaml';
import type { Document } from 'yaml';
import { sameRepository } from '../image-ref.js';
import { stringAt } from '../yaml/source.js';
import type { YamlPath, YamlSource } from '../yaml/source.js';
import { slotOf } from './slots.js';
import type { Found, ImageSelector, TargetKind } from './types.js';
import { emptyFound } from './types.js';

/**
 * Where the `images:` list lives: at the root of a kustomization.yaml, or under `spec` of a Flux
 * `Kustomization` (kustomize.toolkit.fluxcd.io), which takes the same entries.
 */
function imagesPath(doc: Document.Parsed): YamlPath | undefined {
  const kind: unknown = doc.get('kind');
  const api: unknown = doc.get('apiVersion');
  if (kind === 'Kustomization' && typeof api === 'string' && api.startsWith('kustomize.toolkit.fluxcd.io')) return ['spec', 'images'];
  if (kind === 'Kustomization' || kind === 'Component') return typeof api !== 'string' || api.startsWith('kustomize.config.k8s.io') ? ['images'] : undefined;
  // kustomization.yaml files often omit apiVersion/kind entirely.
  return kind === undefined && isSeq(doc.get('images', true)) ? ['images'] : undefined;
}

export const kustomize: TargetKind = {
  id: 'kustomize',
  find(src: YamlSource, want: ImageSelector): Found {
    const found = emptyFound();
    src.docs.forEach((doc, d) => {
      const path = isMap(doc.contents) ? imagesPath(doc) : undefined;
      if (!path) return;
      const images = doc.getIn(path, true);
      if (!isSeq(images)) return;
      images.items.forEach((entry, i) => {
        if (!isMap(entry)) return;
        const name = stringAt(entry.get('name', true));
        const newName = stringAt(entry.get('newName', true));
        // newName is what the cluster pulls; name is only the placeholder it replaces.
        const pulled = newName ?? name;
        if (pulled === undefined || !sameRepository(pulled, want.repository)) return;
        for (const [key, role] of [['newTag', 'tag'], ['digest', 'digest']] as const) {
          const node = entry.get(key, true);
          if (node !== undefined && node !== null) {
            const slot = slotOf('kustomize', doc, d, node, role);
            if (slot) found.slots.push(slot);
          } else {
            const afterKey = key === 'digest' && entry.has('newTag') ? 'newTag' : entry.has('newName') ? 'newName' : 'name';
            found.insertions.push({ kind: 'kustomize', doc: d, mapPath: [...path, i], afterKey, key, role });
          }
        }
      });
    });
    return found;
  },
};
