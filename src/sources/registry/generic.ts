/**
 * The generic endpoint for anything else (a CI step, a script): `{repository, tag, digest?}`, where
 * `repository` may start with the registry host (`registry.example.com/team/web`); without one it is Docker Hub.
 */

import { z } from 'zod';
import type { Parsed } from '../../core/event.js';
import { MalformedPayload } from '../types.js';
import type { Delivery } from '../types.js';
import { bodyHash, buildImagePushed, ParseResult, splitRegistry, verifyRegistryToken } from './common.js';
import type { Source } from '../types.js';

const GenericSchema = z.object({
  repository: z.string().min(1).max(512),
  tag: z.string().min(1).max(256),
  digest: z.string().max(256).optional(),
});

export function parseGeneric(body: unknown, delivery: Delivery): Parsed {
  const parsed = GenericSchema.safeParse(body);
  if (!parsed.success) throw new MalformedPayload('expected {"repository": "...", "tag": "...", "digest"?: "sha256:..."}');
  const p = parsed.data;
  const ref = splitRegistry(p.repository);
  let repository = ref.repository;
  const registry = ref.registry ?? 'docker.io';
  if (!ref.registry && !repository.includes('/')) repository = `library/${repository}`;
  const result = new ParseResult();
  result.add(
    buildImagePushed('registry/generic', {
      deliveryId: `generic:${bodyHash(delivery.rawBody)}`,
      registry,
      repository,
      tag: p.tag,
      digest: p.digest,
    }),
  );
  return result.done();
}

export const generic: Source = {
  id: 'registry/generic',
  verify: (delivery, secrets) => verifyRegistryToken(delivery, secrets),
  precheck: (head, secrets) => verifyRegistryToken(head, secrets),
  parse: parseGeneric,
};
