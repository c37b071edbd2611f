/**
 * Argo CD: an `Application`'s (or an `ApplicationSet` template's) `source`/`sources[]`, and the
 * `.argocd-source-<app>.yaml` override files Argo CD Image Updater writes (the same `helm`/`kustomize`
 * blocks at the root). Kustomize images are strings (`repo:tag`, `old=repo:tag`); Helm parameters are
 * `name`/`value` pairs.
 */

import { isMap, isSeq } from 'yaml';
import type { Document, YAMLMap } from 'yaml';
import { parseImageRef, sameRepository } from '../image-ref.js';
import { resolveNode, stringAt } from '../yaml/source.js';
import type { YamlSource } from '../yaml/source.js';
import { refSlotOf, slotOf } from './slots.js';
import type { Found, ImageSelector, Slot, TargetKind } from './types.js';
import { emptyFound } from './types.js';

/** The source blocks of an Application, an ApplicationSet template, or an override file's root. */
function sourcesOf(doc: Document.Parsed): YAMLMap[] {
  const kind: unknown = doc.get('kind');
  const api: unknown = doc.get('apiVersion');
  const spec =
    kind === 'Application' && typeof api === 'string' && api.startsWith('argoproj.io/')
      ? resolveNode(doc, doc.get('spec', true))
      : kind === 'ApplicationSet' && typeof api === 'string' && api.startsWith('argoproj.io/')
        ? resolveNode(doc, doc.getIn(['spec', 'template', 'spec'], true))
        : undefined;
  if (spec !== undefined) {
    if (!isMap(spec)) return [];
    const one = resolveNode(doc, spec.get('source', true));
    const many = resolveNode(doc, spec.get('sources', true));
    const list = [one, ...(isSeq(many) ? many.items.map((s) => resolveNode(doc, s)) : [])];
    return list.filter((s): s is YAMLMap => isMap(s));
  }
  // An override file has no kind, only the helm/kustomize blocks of one source.
  if (kind === undefined && isMap(doc.contents) && (doc.has('helm') || doc.has('kustomize'))) return [doc.contents];
  return [];
}

/** `old=new:tag` or `new:tag`: the slot edits only the part after `=`, and matches on the new name. */
function kustomizeImageSlot(doc: Document.Parsed, d: number, node: unknown, want: ImageSelector): Slot | undefined {
  const text = stringAt(resolveNode(doc, node));
  if (text === undefined) return undefined;
  const eq = text.indexOf('=');
  const prefix = eq >= 0 ? text.slice(0, eq + 1) : '';
  const ref = parseImageRef(text.slice(prefix.length));
  if (!ref || !sameRepository(ref.name, want.repository)) return undefined;
  return slotOf('argocd', doc, d, node, 'ref', prefix);
}

/** Helm parameters: by the target's key/digestKey, else the `image.name`/`image.repository` + `image.tag` convention. */
function helmParameterSlots(doc: Document.Parsed, d: number, params: unknown[], want: ImageSelector): Slot[] {
  const byName = new Map<string, YAMLMap>();
  for (const p of params) {
    const param = resolveNode(doc, p);
    if (!isMap(param)) continue;
    const name = stringAt(param.get('name', true));
    if (name !== undefined) byName.set(name, param);
  }
  const valueSlot = (name: string, role: Slot['role']): Slot | undefined => {
    const param = byName.get(name);
    return param ? slotOf('argocd', doc, d, param.get('value', true), role) : undefined;
  };
  const slots: Slot[] = [];
  if (want.key !== undefined) {
    const tag = valueSlot(want.key, 'tag');
    if (tag) slots.push(tag);
    const digest = want.digestKey !== undefined ? valueSlot(want.digestKey, 'digest') : undefined;
    if (digest) slots.push(digest);
    if (tag) return slots;
  }
  for (const [name, param] of byName) {
    // A parameter holding a whole reference to this repository (`image=repo:tag`).
    const ref = refSlotOf('argocd', doc, d, param.get('value', true), want.repository);
    if (ref && /[:@]/.test(ref.current.slice(ref.current.lastIndexOf('/') + 1))) {
      slots.push(ref);
      continue;
    }
    // `<prefix>tag` next to `<prefix>repository` or `<prefix>name` naming this repository.
    if (!name.endsWith('tag')) continue;
    const prefix = name.slice(0, -'tag'.length);
    if (prefix !== '' && !prefix.endsWith('.')) continue;
    const repo = [`${prefix}repository`, `${prefix}name`].map((n) => stringAt(byName.get(n)?.get('value', true))).find((v) => v !== undefined);
    if (repo === undefined || !sameRepository(repo, want.repository)) continue;
    const tag = valueSlot(name, 'tag');
    if (tag) slots.push(tag);
    const digest = valueSlot(`${prefix}digest`, 'digest');
    if (digest) slots.push(digest);
  }
  return slots;
}

export const argocd: TargetKind = {
  id: 'argocd',
  find(src: YamlSource, want: ImageSelector): Found {
    const found = emptyFound();
    src.docs.forEach((doc, d) => {
      for (const source of sourcesOf(doc)) {
        const images = resolveNode(doc, source.getIn(['kustomize', 'images'], true));
        if (isSeq(images)) {
          for (const item of images.items) {
            const slot = kustomizeImageSlot(doc, d, item, want);
            if (slot) found.slots.push(slot);
          }
        }
        const params = resolveNode(doc, source.getIn(['helm', 'parameters'], true));
        if (isSeq(params)) found.slots.push(...helmParameterSlots(doc, d, params.items, want));
      }
    });
    return found;
  },
};
