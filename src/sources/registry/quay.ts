/**
 * Quay (quay.io and Red Hat Quay) "Repository Push" notifications. Quay's webhook method cannot set headers,
 * so the token rides in the URL (`?token=`). One notification lists every tag the push updated; each is an event.
 */

import { z } from 'zod';
import { MalformedPayload } from '../types.js';
import { bodyHash, buildImagePushed, ParseResult, splitRegistry, verifyRegistryToken } from './common.js';
import type { Source } from '../types.js';

const Str = z.string().max(2048);

const QuaySchema = z.object({
  repository: Str.optional(),
  docker_url: Str.optional(),
  // Quay documents a list; old quay.io payloads sent {tag: imageId}. Both are read as tag names.
  updated_tags: z.union([z.array(Str).max(1000), z.record(Str, z.unknown())]),
});

export const quay: Source = {
  id: 'registry/quay',
  verify: (delivery, secrets) => verifyRegistryToken(delivery, secrets, { allowQuery: true }),
  precheck: (head, secrets) => verifyRegistryToken(head, secrets, { allowQuery: true }),
  parse: (body, delivery) => {
    const parsed = QuaySchema.safeParse(body);
    if (!parsed.success) throw new MalformedPayload('expected a Quay repository push notification with updated_tags');
    const p = parsed.data;
    const tags = Array.isArray(p.updated_tags) ? p.updated_tags : Object.keys(p.updated_tags).slice(0, 1000);
    const result = new ParseResult();
    // docker_url is what `docker pull` uses (quay.io/ns/repo, or the on-prem host); it carries the registry host.
    const ref = p.docker_url ? splitRegistry(p.docker_url) : undefined;
    const registry = ref?.registry ?? 'quay.io';
    const repository = ref?.registry ? ref.repository : p.repository;
    if (!repository) result.ignore('payload names no repository');
    else if (tags.length === 0) result.ignore('push updated no tags');
    const base = `quay:${bodyHash(delivery.rawBody)}`;
    if (repository) {
      for (const tag of tags) {
        result.add(buildImagePushed('registry/quay', { deliveryId: `${base}:${tag.slice(0, 128)}`, registry, repository, tag }));
      }
    }
    return result.done();
  },
};
