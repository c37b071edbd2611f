/** What every registry parser shares: building a checked ImagePushed, body-hash delivery ids, token checks. */

import { createHash } from 'node:crypto';
import type { ImagePushed, Parsed, SourceId } from '../../core/event.js';
import { isValidDigest, isValidRepository, isValidTag } from '../../core/image-ref.js';
import { authorizationSecret, matchesAny } from '../auth.js';
import type { DeliveryHead, Verification } from '../types.js';

/** A registry host as clients write it: `registry.example.com`, `127.0.0.1:5000`, `[::1]:5000` is not supported. */
const HOST_RE = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,5})?$/;

export function isValidRegistryHost(host: string): boolean {
  return HOST_RE.test(host);
}

/** Delivery id for payloads that carry no id of their own: the sender's retries resend the same bytes. */
export function bodyHash(rawBody: Buffer): string {
  return createHash('sha256').update(rawBody).digest('hex');
}

/** Unix seconds (as Docker Hub and Harbor send them) to ISO; undefined for nonsense. */
export function unixToIso(seconds: number | undefined): string | undefined {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0 || seconds > 32503680000) return undefined;
  return new Date(Math.round(seconds * 1000)).toISOString();
}

/** An ISO-ish timestamp from a payload, kept only if it parses; strangers' strings are not trusted blindly. */
export function isoOrUndefined(value: string | undefined): string | undefined {
  if (!value || value.length > 64) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t) || t <= 0) return undefined;
  return new Date(t).toISOString();
}

/** Split `host[:port]/path` into registry and repository; a first segment without a dot, colon or `localhost` is not a host. */
export function splitRegistry(name: string): { registry?: string; repository: string } {
  const slash = name.indexOf('/');
  if (slash < 0) return { repository: name };
  const first = name.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return { registry: first, repository: name.slice(slash + 1) };
  return { repository: name };
}

export interface PushFields {
  registry: string;
  repository: string;
  tag: string;
  digest?: string | undefined;
  pushedAt?: string | undefined;
  deliveryId: string;
  actor?: string | undefined;
}

export type Built = { ok: true; event: ImagePushed } | { ok: false; reason: string };

/** Build an ImagePushed only from values that pass the OCI grammars; everything in a payload is hostile until checked. */
export function buildImagePushed(source: SourceId, f: PushFields): Built {
  if (!isValidTag(f.tag)) return { ok: false, reason: 'tag is not a valid OCI tag' };
  if (f.digest !== undefined && f.digest !== '' && !isValidDigest(f.digest)) return { ok: false, reason: 'digest is not a valid sha256/sha512 digest' };
  if (!isValidRegistryHost(f.registry)) return { ok: false, reason: 'registry host is not valid' };
  if (!isValidRepository(f.repository) || !isValidRepository(`${f.registry}/${f.repository}`)) {
    return { ok: false, reason: 'repository name is not valid' };
  }
  if (f.deliveryId === '' || f.deliveryId.length > 300) return { ok: false, reason: 'no usable delivery id' };
  const actor = f.actor && f.actor.length <= 200 ? f.actor : undefined;
  return {
    ok: true,
    event: {
      type: 'image-pushed',
      source,
      deliveryId: f.deliveryId,
      registry: f.registry,
      repository: f.repository,
      tag: f.tag,
      ...(f.digest ? { digest: f.digest } : {}),
      ...(f.pushedAt ? { pushedAt: f.pushedAt } : {}),
      ...(actor ? { actor } : {}),
    },
  };
}

/** Gathers events and the reasons others were skipped, and answers the Parsed a source returns. */
export class ParseResult {
  private readonly events: ImagePushed[] = [];
  private readonly reasons: string[] = [];
  private readonly seen = new Set<string>();

  add(built: Built): void {
    if (!built.ok) {
      this.reasons.push(built.reason);
      return;
    }
    // One delivery naming the same tag twice is one event; the queue would drop the twin anyway.
    if (this.seen.has(built.event.deliveryId)) return;
    this.seen.add(built.event.deliveryId);
    this.events.push(built.event);
  }

  ignore(reason: string): void {
    this.reasons.push(reason);
  }

  done(): Parsed {
    if (this.events.length > 0) return { kind: 'events', events: this.events };
    return { kind: 'ignored', reason: [...new Set(this.reasons)].join(', ') || 'no events' };
  }
}

export interface TokenOptions {
  /** Accept `?token=` (only for senders that cannot set headers: Docker Hub, Quay). */
  allowQuery?: boolean;
  /** Accept an `Authorization` value without a scheme (Harbor's "Auth Header" sends what the user typed). */
  rawAuthorization?: boolean;
}

/**
 * Shared-secret check for registries: `Authorization: Bearer|Basic|Token …`, an `X-Baton-Token` header
 * (for senders that name their own header, like EventBridge API-key connections), and `?token=` only where allowed.
 */
export function verifyRegistryToken(delivery: DeliveryHead, secrets: readonly string[], options: TokenOptions = {}): Verification {
  if (secrets.filter((s) => s !== '').length === 0) return { ok: false, reason: 'no secret is configured for this endpoint' };
  const candidates: string[] = [];
  const fromAuth = authorizationSecret(delivery.headers);
  if (fromAuth !== undefined) candidates.push(fromAuth);
  else if (options.rawAuthorization && delivery.headers['authorization']) candidates.push(delivery.headers['authorization'].trim());
  const custom = delivery.headers['x-baton-token'];
  if (custom) candidates.push(custom.trim());
  const query = delivery.query['token'];
  if (query) {
    if (!options.allowQuery && candidates.length === 0) {
      return { ok: false, reason: 'this source must send its token in a header, not ?token=' };
    }
    if (options.allowQuery) candidates.push(query);
  }
  if (candidates.length === 0) return { ok: false, reason: 'missing credentials' };
  let ok = false;
  // Check every candidate so timing does not tell which one matched.
  for (const c of candidates) if (matchesAny(c, secrets)) ok = true;
  return ok ? { ok: true } : { ok: false, reason: 'wrong credentials' };
}
