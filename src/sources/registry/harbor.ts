/**
 * Harbor project webhooks, in both payload formats: "Default" (`{type: PUSH_ARTIFACT, event_data}`) and
 * "CloudEvents" (`{specversion, id, type: harbor.artifact.pushed, data}`). Harbor sends its "Auth Header"
 * field verbatim as `Authorization`. A multi-arch push also reports each child manifest with the digest in
 * place of a tag; those are ignored, the index (with the real tag) is the event.
 */

import { z } from 'zod';
import type { Parsed } from '../../core/event.js';
import { MalformedPayload } from '../types.js';
import type { Delivery } from '../types.js';
import { bodyHash, buildImagePushed, isoOrUndefined, ParseResult, splitRegistry, unixToIso, verifyRegistryToken } from './common.js';
import type { Source } from '../types.js';

const Str = z.string().max(2048);

const Resource = z.object({ digest: Str.optional(), tag: Str.optional(), resource_url: Str.optional() });
const EventData = z.object({
  resources: z.array(Resource).max(1000).optional(),
  repository: z.object({ repo_full_name: Str.optional(), namespace: Str.optional(), name: Str.optional() }).optional(),
});

const DefaultSchema = z.object({ type: Str, occur_at: z.number().optional(), operator: Str.optional(), event_data: EventData.optional() });
const CloudEventSchema = z.object({
  specversion: Str,
  id: z.string().min(1).max(200),
  type: Str,
  time: Str.optional(),
  operator: Str.optional(),
  data: EventData.optional(),
});

const PUSH_TYPES = new Set(['PUSH_ARTIFACT', 'harbor.artifact.pushed']);

function toEvents(
  data: z.infer<typeof EventData> | undefined,
  baseId: string,
  pushedAt: string | undefined,
  actor: string | undefined,
): Parsed {
  const result = new ParseResult();
  const repo = data?.repository;
  const repository = repo?.repo_full_name ?? (repo?.namespace && repo.name ? `${repo.namespace}/${repo.name}` : undefined);
  const resources = data?.resources ?? [];
  if (!repository) result.ignore('payload names no repository');
  else if (resources.length === 0) result.ignore('push without resources');
  for (const r of resources) {
    if (!repository) break;
    if (!r.tag || r.tag.startsWith('sha256:') || r.tag.startsWith('sha512:')) {
      result.ignore('child manifest pushed by digest');
      continue;
    }
    // resource_url is `host/project/repo:tag`: the only place Harbor names its own host.
    const registry = r.resource_url ? splitRegistry(r.resource_url).registry : undefined;
    if (!registry) {
      result.ignore('resource without registry host');
      continue;
    }
    result.add(
      buildImagePushed('registry/harbor', {
        deliveryId: resources.length > 1 ? `${baseId}:${r.tag.slice(0, 128)}` : baseId,
        registry,
        repository,
        tag: r.tag,
        digest: r.digest,
        pushedAt,
        actor,
      }),
    );
  }
  return result.done();
}

export function parseHarbor(body: unknown, delivery: Delivery): Parsed {
  if (typeof body === 'object' && body !== null && 'specversion' in body) {
    const ce = CloudEventSchema.safeParse(body);
    if (!ce.success) throw new MalformedPayload('expected a Harbor CloudEvent {specversion, id, type, data}');
    if (!PUSH_TYPES.has(ce.data.type)) return { kind: 'ignored', reason: `${ce.data.type.slice(0, 60)} event` };
    return toEvents(ce.data.data, ce.data.id, isoOrUndefined(ce.data.time), ce.data.operator);
  }
  const d = DefaultSchema.safeParse(body);
  if (!d.success) throw new MalformedPayload('expected a Harbor webhook {type, event_data}');
  if (!PUSH_TYPES.has(d.data.type)) return { kind: 'ignored', reason: `${d.data.type.slice(0, 60)} event` };
  return toEvents(d.data.event_data, `harbor:${bodyHash(delivery.rawBody)}`, unixToIso(d.data.occur_at), d.data.operator);
}

export const harbor: Source = {
  id: 'registry/harbor',
  verify: (delivery, secrets) => verifyRegistryToken(delivery, secrets, { rawAuthorization: true }),
  precheck: (head, secrets) => verifyRegistryToken(head, secrets, { rawAuthorization: true }),
  parse: parseHarbor,
};
