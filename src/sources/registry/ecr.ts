/**
 * Amazon ECR "ECR Image Action" events, delivered by an EventBridge rule to an API destination. The
 * connection's auth (Basic, or API key as `Authorization` / `X-Baton-Token`) carries the token. A multi-arch
 * push reports each platform manifest without `image-tag`; those are ignored, the tagged index is the event.
 */

import { z } from 'zod';
import type { Parsed } from '../../core/event.js';
import { MalformedPayload } from '../types.js';
import { buildImagePushed, isoOrUndefined, ParseResult, verifyRegistryToken } from './common.js';
import type { Source } from '../types.js';

const Str = z.string().max(2048);

const EcrSchema = z.object({
  id: z.string().min(1).max(200),
  'detail-type': Str,
  source: Str,
  account: z.string().regex(/^\d{12}$/).optional(),
  region: z.string().regex(/^[a-z0-9-]{1,32}$/).optional(),
  time: Str.optional(),
  detail: z
    .object({
      result: Str.optional(),
      'action-type': Str.optional(),
      'repository-name': Str.optional(),
      'image-digest': Str.optional(),
      'image-tag': Str.optional(),
    })
    .optional(),
});

export function parseEcr(body: unknown): Parsed {
  const parsed = EcrSchema.safeParse(body);
  if (!parsed.success) throw new MalformedPayload('expected an EventBridge event from aws.ecr');
  const e = parsed.data;
  const d = e.detail;
  const result = new ParseResult();
  if (e.source !== 'aws.ecr' || e['detail-type'] !== 'ECR Image Action') result.ignore(`${e['detail-type'].slice(0, 60)} event`);
  else if (d?.['action-type'] !== 'PUSH') result.ignore(`${(d?.['action-type'] ?? 'unknown').slice(0, 40)} action`);
  else if (d.result !== 'SUCCESS') result.ignore('push did not succeed');
  else if (!d['image-tag']) result.ignore('manifest pushed by digest only');
  else if (!d['repository-name']) result.ignore('event without repository');
  else if (!e.account || !e.region) result.ignore('event without account or region');
  else
    result.add(
      buildImagePushed('registry/ecr', {
        deliveryId: e.id,
        // The private registry's host is derived, never taken from free text.
        registry: `${e.account}.dkr.ecr.${e.region}.amazonaws.com`,
        repository: d['repository-name'],
        tag: d['image-tag'],
        digest: d['image-digest'],
        pushedAt: isoOrUndefined(e.time),
      }),
    );
  return result.done();
}

export const ecr: Source = {
  id: 'registry/ecr',
  verify: (delivery, secrets) => verifyRegistryToken(delivery, secrets),
  precheck: (head, secrets) => verifyRegistryToken(head, secrets),
  parse: (body) => parseEcr(body),
};
