/**
 * Azure Container Registry webhooks: one distribution-style event per request (not an envelope), with the
 * registry's login server in `request.host`. ACR sends only the custom headers configured on the webhook,
 * so the token is an `Authorization: Bearer …` custom header. `ping` (the portal's test button) is ignored.
 */

import { z } from 'zod';
import type { Parsed } from '../../core/event.js';
import { MalformedPayload } from '../types.js';
import { buildImagePushed, isoOrUndefined, ParseResult, verifyRegistryToken } from './common.js';
import type { Source } from '../types.js';

const Str = z.string().max(2048);

const AcrSchema = z.object({
  id: z.string().min(1).max(200),
  timestamp: Str.optional(),
  action: Str,
  target: z.object({ mediaType: Str.optional(), digest: Str.optional(), repository: Str.optional(), tag: Str.optional() }).optional(),
  request: z.object({ host: Str.optional() }).optional(),
});

export function parseAcr(body: unknown): Parsed {
  const parsed = AcrSchema.safeParse(body);
  if (!parsed.success) throw new MalformedPayload('expected an ACR webhook event {id, action, target, request}');
  const e = parsed.data;
  const result = new ParseResult();
  // chart_push is the legacy Helm repository; OCI Helm charts arrive as plain pushes.
  if (e.action !== 'push') result.ignore(`${e.action.slice(0, 40)} event`);
  else if (!e.target?.tag) result.ignore('manifest pushed by digest only');
  else if (!e.target.repository) result.ignore('event without repository');
  else if (!e.request?.host) result.ignore('event without registry host');
  else
    result.add(
      buildImagePushed('registry/acr', {
        deliveryId: e.id,
        registry: e.request.host,
        repository: e.target.repository,
        tag: e.target.tag,
        digest: e.target.digest,
        pushedAt: isoOrUndefined(e.timestamp),
      }),
    );
  return result.done();
}

export const acr: Source = {
  id: 'registry/acr',
  verify: (delivery, secrets) => verifyRegistryToken(delivery, secrets),
  precheck: (head, secrets) => verifyRegistryToken(head, secrets),
  parse: (body) => parseAcr(body),
};
