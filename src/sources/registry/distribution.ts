/**
 * CNCF distribution registry notifications: the v1 envelope (`application/vnd.docker.distribution.events.v1+json`,
 * registry 2.x) and v2 (`…events.v2+json`, registry 3.x, adds `references`). One envelope carries many events;
 * only manifest pushes with a tag move images — blob pushes, pulls, mounts, deletes and digest-only pushes
 * (the platform manifests of a multi-arch push) are ignored.
 */

import { z } from 'zod';
import type { Parsed, SourceId } from '../../core/event.js';
import { MalformedPayload } from '../types.js';
import { buildImagePushed, isoOrUndefined, ParseResult } from './common.js';
import type { Source } from '../types.js';
import { verifyRegistryToken } from './common.js';

const MANIFEST_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
]);

const Str = z.string().max(2048);

const EventSchema = z.object({
  id: z.string().min(1).max(200),
  timestamp: Str.optional(),
  action: Str,
  target: z
    .object({
      mediaType: Str.optional(),
      digest: Str.optional(),
      repository: Str.optional(),
      tag: Str.optional(),
      url: Str.optional(),
    })
    .optional(),
  request: z.object({ host: Str.optional() }).optional(),
  actor: z.object({ name: Str.optional() }).optional(),
});

const EnvelopeSchema = z.object({ events: z.array(z.unknown()).max(1000) });

/** The registry host clients use: the request's Host, else the host of the target URL. */
function hostOf(e: z.infer<typeof EventSchema>): string | undefined {
  if (e.request?.host) return e.request.host;
  if (e.target?.url) {
    try {
      return new URL(e.target.url).host;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function parseDistributionEnvelope(body: unknown, source: SourceId): Parsed {
  const envelope = EnvelopeSchema.safeParse(body);
  if (!envelope.success) throw new MalformedPayload('expected a notification envelope {"events": [...]}');
  const result = new ParseResult();
  for (const raw of envelope.data.events) {
    const parsed = EventSchema.safeParse(raw);
    if (!parsed.success) throw new MalformedPayload('an event in the envelope is malformed');
    const e = parsed.data;
    const t = e.target;
    if (e.action !== 'push') result.ignore(`${e.action.slice(0, 40)} event`);
    else if (!t?.mediaType || !MANIFEST_TYPES.has(t.mediaType)) result.ignore('blob push');
    else if (!t.tag) result.ignore('manifest pushed by digest only');
    else if (!t.repository) result.ignore('event without repository');
    else {
      const registry = hostOf(e);
      if (!registry) result.ignore('event without registry host');
      else
        result.add(
          buildImagePushed(source, {
            deliveryId: e.id,
            registry,
            repository: t.repository,
            tag: t.tag,
            digest: t.digest,
            pushedAt: isoOrUndefined(e.timestamp),
            actor: e.actor?.name,
          }),
        );
    }
  }
  return result.done();
}

/** The registry sends the headers its `notifications.endpoints[].headers` config names: `Authorization: Bearer …`. */
export const distribution: Source = {
  id: 'registry/distribution',
  verify: (delivery, secrets) => verifyRegistryToken(delivery, secrets),
  precheck: (head, secrets) => verifyRegistryToken(head, secrets),
  parse: (body) => parseDistributionEnvelope(body, 'registry/distribution'),
};
