/**
 * `baton resync`: ask the registries instead of waiting for webhooks. For every configured image, list its
 * tags, keep those the image's policy accepts, pick the newest, and resolve its digest — the same
 * `ImagePushed` a webhook would have produced, so the normal route → plan → write path applies it.
 * Planning is idempotent, so a resync that finds nothing new writes nothing.
 */

import type { ImagePushed } from '../core/event.js';
import { normalizeRepository } from '../core/image-ref.js';
import { accepts, compareTags, isOrdered } from '../core/policy.js';
import type { TagPolicy } from '../core/policy.js';
import type { OciClient } from './client.js';

/** The parts of a `.baton.yml` image resync reads (the config's `ImageConfig` fits). */
export interface ResyncImage extends TagPolicy {
  repository: string;
  digest?: 'pin' | 'ignore';
}

export interface ResyncNote {
  image: string;
  message: string;
}

export interface ResyncResult {
  selections: ImagePushed[];
  notes: ResyncNote[];
}

export interface ResyncOptions {
  /** ISO time stamped on the selections (from the injected clock). */
  now: string;
  /** Registries asked at once. */
  concurrency?: number;
}

/** The newest accepted tag; undefined when none is accepted or the policy has no order to pick by. */
export function pickTag(policy: TagPolicy, tags: readonly string[]): { tag?: string; reason?: string } {
  if (!isOrdered(policy)) return { reason: `policy ${policy.policy} has no order, so there is no newest tag to pick` };
  let best: string | undefined;
  for (const tag of tags) {
    if (!accepts(policy, tag).ok) continue;
    // Ties (equal versions spelled differently) keep the first seen; tags come sorted from most registries.
    if (best === undefined || compareTags(policy, tag, best) > 0) best = tag;
  }
  return best === undefined ? { reason: 'no tag is accepted by the policy' } : { tag: best };
}

async function resyncOne(name: string, img: ResyncImage, client: OciClient, now: string): Promise<ImagePushed | ResyncNote> {
  const full = normalizeRepository(img.repository);
  const slash = full.indexOf('/');
  try {
    const tags = await client.listTags(img.repository);
    const pick = pickTag(img, tags);
    if (pick.tag === undefined) return { image: name, message: `${pick.reason ?? 'nothing to pick'} (${tags.length} tags)` };
    // The digest is resolved for every selection: pinning needs it, and it makes the delivery id exact.
    const digest = await client.resolveDigest(img.repository, pick.tag);
    return {
      type: 'image-pushed',
      source: 'registry/resync',
      deliveryId: `resync:${full}:${pick.tag}@${digest}`,
      registry: full.slice(0, slash),
      repository: full.slice(slash + 1),
      tag: pick.tag,
      digest,
      pushedAt: now,
    };
  } catch (e) {
    return { image: name, message: `registry error: ${(e as Error).message}` };
  }
}

export async function resync(images: Readonly<Record<string, ResyncImage>>, client: OciClient, options: ResyncOptions): Promise<ResyncResult> {
  const entries = Object.entries(images);
  const out: (ImagePushed | ResyncNote)[] = new Array<ImagePushed | ResyncNote>(entries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      const entry = entries[i];
      if (entry) out[i] = await resyncOne(entry[0], entry[1], client, options.now);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, entries.length)) }, worker));
  const selections: ImagePushed[] = [];
  const notes: ResyncNote[] = [];
  // Two images on one repository share one selection: the route fans it out to both.
  const seen = new Set<string>();
  for (const r of out) {
    if ('type' in r) {
      if (!seen.has(r.deliveryId)) selections.push(r);
      seen.add(r.deliveryId);
    } else notes.push(r);
  }
  return { selections, notes };
}
