/**
 * Kubernetes manifests: every `image:` of a container list (`containers`, `initContainers`,
 * `ephemeralContainers`) wherever it sits, so Pods, workload templates, CronJob job templates and
 * custom resources that embed a pod spec are all covered without a list of kinds to keep up to date.
 */

import { isMap, isPair, isSeq } from 'yaml';
import type { Document, Node } from 'yaml';
import { resolveNode } from '../yaml/source.js';
import type { YamlSource } from '../yaml/source.js';
import { getMerged, refSlotOf } from './slots.js';
import type { Found, ImageSelector, TargetKind } from './types.js';
import { emptyFound } from './types.js';

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);

function visitContainerLists(doc: Document.Parsed, onList: (list: Node) => void): void {
  const walk = (node: unknown): void => {
    if (isSeq(node)) for (const item of node.items) walk(item);
    else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key: unknown = (pair.key as { value?: unknown } | null)?.value;
        if (typeof key === 'string' && CONTAINER_LISTS.has(key) && isSeq(pair.value)) onList(pair.value);
        else walk(pair.value);
      }
    }
  };
  walk(doc.contents);
}

export const manifest: TargetKind = {
  id: 'manifest',
  find(src: YamlSource, want: ImageSelector): Found {
    const found = emptyFound();
    src.docs.forEach((doc, d) => {
      visitContainerLists(doc, (list) => {
        if (!isSeq(list)) return;
        for (const item of list.items) {
          const container = resolveNode(doc, item);
          if (!isMap(container)) continue;
          const slot = refSlotOf('manifest', doc, d, getMerged(doc, container, 'image'), want.repository);
          if (slot) found.slots.push(slot);
        }
      });
    });
    return found;
  },
};
