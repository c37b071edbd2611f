/**
 * CNCF distribution registry notifications (`application/vnd.docker.distribution.events.v1+json`).
 * One envelope carries many events; only manifest pushes with a tag move images.
 */

import { z } from 'zod';
import type { ImagePushed, Parsed } from '../../core/event.js';
import { verifyAuthorizationHeader } from '../auth.js';
import type { Source } from '../types.js';
import { MalformedPayload } from '../types.js';

const MANIFEST_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
]);

const EventSchema = z.object({
  id: z.string().min(1).max(200),
  timestamp: z.string().optional(),
  action: z.string(),
  target: z
    .object({
      mediaType: z.string().optional(),
      digest: z.string().optional(),
      repository: z.string().optional(),
      tag: z.string().optional(),
      url: z.string().optional(),
    })
    .optional(),
  request: z.object({ host: z.string().optional() }).optional(),
  actor: z.object({ name: z.string().optional() }).optional(),
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

export function parseDistributionEnvelope(body: unknown, source: ImagePushed['source']): Parsed {
  const envelope = EnvelopeSchema.safeParse(body);
  if (!envelope.success) throw new MalformedPayload('expected a notification envelope {"events": [...]}');
  const events: ImagePushed[] = [];
  const reasons: string[] = [];
  for (const raw of envelope.data.events) {
    const parsed = EventSchema.safeParse(raw);
    if (!parsed.success) throw new MalformedPayload('an event in the envelope is malformed');
    const e = parsed.data;
    const t = e.target;
    if (e.action !== 'push') reasons.push(`${e.action} event`);
    else if (!t?.mediaType || !MANIFEST_TYPES.has(t.mediaType)) reasons.push('blob push');
    else if (!t.tag) reasons.push('manifest pushed by digest only');
    else if (!t.repository) reasons.push('event without repository');
    else {
      const registry = hostOf(e);
      if (!registry) reasons.push('event without registry host');
      else
        events.push({
          type: 'image-pushed',
          source,
          deliveryId: e.id,
          registry,
          repository: t.repository,
          tag: t.tag,
          ...(t.digest && { digest: t.digest }),
          ...(e.timestamp && { pushedAt: e.timestamp }),
          ...(e.actor?.name && { actor: e.actor.name }),
        });
    }
  }
  if (events.length > 0) return { kind: 'events', events };
  return { kind: 'ignored', reason: [...new Set(reasons)].join(', ') || 'no events' };
}

export const distribution: Source = {
  id: 'registry/distribution',
  verify: (delivery, secrets) => verifyAuthorizationHeader(delivery, secrets),
  parse: (body) => parseDistributionEnvelope(body, 'registry/distribution'),
};
