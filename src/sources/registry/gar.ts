/**
 * Google Artifact Registry (and Container Registry) notifications: Artifact Registry publishes to the `gcr`
 * Pub/Sub topic, and a push subscription POSTs the Pub/Sub envelope with the message base64 in
 * `message.data` (`{"action":"INSERT","digest":"host/p/r/img@sha256:…","tag":"host/p/r/img:1.2"}`).
 *
 * Authenticity is the subscription's OIDC token: a Google-signed JWT in `Authorization: Bearer …`, checked
 * for signature (Google's JWKS), `aud` (the audience set on the subscription), `iss` and the service
 * account `email`. The token is not bound to the body, so message ids are also remembered for the token's
 * lifetime and a replayed id is refused.
 */

import { jwtVerify } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import type { Parsed } from '../../core/event.js';
import { parseImageRef } from '../../core/image-ref.js';
import { MalformedPayload } from '../types.js';
import type { Delivery, DeliveryHead, Verification } from '../types.js';
import { buildImagePushed, isoOrUndefined, ParseResult, splitRegistry } from './common.js';
import { ReplayGuard } from './replay-guard.js';
import type { Source } from '../types.js';

/** Google issues ID tokens with either spelling. */
export const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];
export const GOOGLE_JWKS_URL = 'https://www.googleapis.com/oauth2/v3/certs';

/** Google ID tokens live one hour; ids are remembered at least that long. */
const TOKEN_LIFETIME_S = 3600;

export interface GarOptions {
  /** The audience configured on the push subscription (default there: the push endpoint URL). */
  audience: string;
  /** Service accounts whose tokens are accepted (the subscription's "service account"). */
  serviceAccounts: readonly string[];
  /** Signing keys: `createRemoteJWKSet(new URL(GOOGLE_JWKS_URL))` in production, a local set in tests. */
  keys: JWTVerifyGetKey;
  issuers?: readonly string[];
  /** Shared across requests; one is created when absent. */
  replay?: ReplayGuard;
  /** Milliseconds since the epoch; the wall clock when absent. */
  now?: () => number;
}

const Str = z.string().max(4096);

const EnvelopeSchema = z.object({
  message: z.object({
    data: z.string().max(64 * 1024).optional(),
    messageId: z.string().min(1).max(200).optional(),
    message_id: z.string().min(1).max(200).optional(),
    publishTime: Str.optional(),
    publish_time: Str.optional(),
  }),
});

const MessageSchema = z.object({ action: Str, digest: Str.optional(), tag: Str.optional() });

function messageIdOf(rawBody: Buffer): string | undefined {
  try {
    const parsed = EnvelopeSchema.safeParse(JSON.parse(rawBody.toString('utf8')));
    return parsed.success ? (parsed.data.message.messageId ?? parsed.data.message.message_id) : undefined;
  } catch {
    return undefined;
  }
}

function bearer(delivery: DeliveryHead): string | undefined {
  const m = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i.exec(delivery.headers['authorization']?.trim() ?? '');
  return m?.[1];
}

export async function verifyPubSubPush(delivery: Delivery, options: GarOptions, replay: ReplayGuard): Promise<Verification> {
  const token = bearer(delivery);
  if (!token) return { ok: false, reason: 'missing Pub/Sub OIDC token (Authorization: Bearer <JWT>)' };
  const nowMs = options.now ? options.now() : Date.now();
  try {
    const { payload } = await jwtVerify(token, options.keys, {
      audience: options.audience,
      issuer: [...(options.issuers ?? GOOGLE_ISSUERS)],
      algorithms: ['RS256'],
      maxTokenAge: TOKEN_LIFETIME_S,
      currentDate: new Date(nowMs),
      clockTolerance: 30,
      requiredClaims: ['email', 'exp', 'iat'],
    });
    const email = typeof payload['email'] === 'string' ? payload['email'] : undefined;
    if (payload['email_verified'] !== true) return { ok: false, reason: 'token email is not verified' };
    if (!email || !options.serviceAccounts.includes(email)) return { ok: false, reason: 'token is for another service account' };
  } catch {
    // jose's message may echo claim values; the reason stays generic so nothing from the token reaches logs.
    return { ok: false, reason: 'Pub/Sub OIDC token is not valid' };
  }
  // Only authentic requests are recorded, so a forger cannot burn a real message's id in advance.
  const id = messageIdOf(delivery.rawBody);
  if (id !== undefined && !replay.admit(id, nowMs)) return { ok: false, reason: 'replayed Pub/Sub message id' };
  return { ok: true };
}

export function parsePubSubPush(body: unknown): Parsed {
  const env = EnvelopeSchema.safeParse(body);
  if (!env.success) throw new MalformedPayload('expected a Pub/Sub push envelope {message: {data, messageId}}');
  const m = env.data.message;
  const messageId = m.messageId ?? m.message_id;
  if (!messageId) throw new MalformedPayload('the Pub/Sub message has no messageId');
  if (!m.data) throw new MalformedPayload('the Pub/Sub message has no data');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(m.data)) throw new MalformedPayload('message.data is not base64');
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(m.data, 'base64').toString('utf8'));
  } catch {
    throw new MalformedPayload('message.data is not base64-encoded JSON');
  }
  const msg = MessageSchema.safeParse(decoded);
  if (!msg.success) throw new MalformedPayload('message.data is not an Artifact Registry notification {action, digest, tag}');
  const result = new ParseResult();
  const { action, tag, digest } = msg.data;
  const tagRef = tag ? parseImageRef(tag) : undefined;
  const digestRef = digest ? parseImageRef(digest) : undefined;
  if (action !== 'INSERT') result.ignore(`${action.slice(0, 40)} action`);
  else if (!tag) result.ignore('image pushed by digest only');
  else if (!tagRef?.tag) result.ignore('tag is not an image reference');
  else {
    const { registry, repository } = splitRegistry(tagRef.name);
    // The digest counts only when it names the same image as the tag.
    const sameImage = digestRef?.digest !== undefined && digestRef.name === tagRef.name;
    if (!registry) result.ignore('tag names no registry host');
    else
      result.add(
        buildImagePushed('registry/gar', {
          deliveryId: messageId,
          registry,
          repository,
          tag: tagRef.tag,
          digest: sameImage ? digestRef.digest : undefined,
          pushedAt: isoOrUndefined(m.publishTime ?? m.publish_time),
        }),
      );
  }
  return result.done();
}

/** `options` undefined: not configured, every request is refused with a reason naming the settings. */
export function createGarSource(options: GarOptions | undefined): Source {
  const replay = options?.replay ?? new ReplayGuard(TOKEN_LIFETIME_S * 1000 + 60_000);
  return {
    id: 'registry/gar',
    verify: (delivery) => {
      if (!options || options.audience === '' || options.serviceAccounts.length === 0) {
        return { ok: false, reason: 'gar needs BATON_GAR_AUDIENCE and BATON_GAR_SERVICE_ACCOUNT' };
      }
      return verifyPubSubPush(delivery, options, replay);
    },
    parse: (body) => parsePubSubPush(body),
    // The JWT is checked in full once the body (which carries the message id) is in; before it, only its presence.
    precheck: (head) => {
      if (!options || options.audience === '' || options.serviceAccounts.length === 0) return { ok: false, reason: 'gar needs BATON_GAR_AUDIENCE and BATON_GAR_SERVICE_ACCOUNT' };
      return bearer(head) ? { ok: true } : { ok: false, reason: 'missing Pub/Sub OIDC token (Authorization: Bearer <JWT>)' };
    },
  };
}
