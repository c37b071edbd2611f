/** Constant-time secret checks shared by every source. */

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { DeliveryHead, Verification } from './types.js';

/** Compare two secrets in constant time; hashing first makes lengths equal, so length leaks nothing either. */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/**
 * Compare a given digest with the expected one in constant time. A digest's length is public (it
 * is fixed by the algorithm), so unequal lengths may return at once; equal ones are compared
 * without hashing them first, which cost more than the HMAC itself.
 */
export function digestEqual(given: string, expected: string): boolean {
  if (given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given, 'latin1'), Buffer.from(expected, 'latin1'));
}

export function matchesAny(given: string | undefined, secrets: readonly string[]): boolean {
  if (given === undefined || given === '') return false;
  let ok = false;
  // Check every secret so timing does not reveal which one matched.
  for (const s of secrets) if (s !== '' && safeEqual(given, s)) ok = true;
  return ok;
}

/** The credential of an `Authorization: Bearer …` header, or the password of `Basic …`. */
export function authorizationSecret(headers: DeliveryHead['headers']): string | undefined {
  const value = headers['authorization'];
  if (!value) return undefined;
  const m = /^(Bearer|Basic|Token)\s+(.+)$/i.exec(value.trim());
  if (!m?.[1] || !m[2]) return undefined;
  if (m[1].toLowerCase() !== 'basic') return m[2];
  const decoded = Buffer.from(m[2], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

export function verifyAuthorizationHeader(delivery: DeliveryHead, secrets: readonly string[]): Verification {
  if (secrets.length === 0) return { ok: false, reason: 'no secret is configured for this endpoint' };
  const given = authorizationSecret(delivery.headers);
  if (given === undefined) return { ok: false, reason: 'missing Authorization header' };
  return matchesAny(given, secrets) ? { ok: true } : { ok: false, reason: 'wrong credentials' };
}

const SHA256_SIGNATURE = /^sha256=[0-9a-fA-F]{64}$/;

/** Before the body: a secret is configured and the request carries a well-formed `sha256=<hex>` signature. */
export function precheckHmacSha256(head: DeliveryHead, header: string, secrets: readonly string[]): Verification {
  if (secrets.length === 0) return { ok: false, reason: 'no secret is configured for this endpoint' };
  const signature = head.headers[header];
  if (!signature) return { ok: false, reason: 'missing signature' };
  if (!SHA256_SIGNATURE.test(signature.trim())) return { ok: false, reason: 'the signature is not sha256=<hex>' };
  return { ok: true };
}

/**
 * `sha256=<hex>` HMAC over the raw body, as GitHub and Flux's generic-hmac provider send it.
 * `precomputed`: the digests the edge computed while the body streamed, one per secret.
 */
export function verifyHmacSha256(rawBody: Buffer, signature: string | undefined, secrets: readonly string[], prefix = 'sha256=', precomputed?: readonly string[]): Verification {
  if (secrets.length === 0) return { ok: false, reason: 'no secret is configured for this endpoint' };
  if (!signature) return { ok: false, reason: 'missing signature' };
  const given = signature.trim().toLowerCase();
  let ok = false;
  secrets.forEach((s, i) => {
    const digest = precomputed?.length === secrets.length ? precomputed[i] : undefined;
    const expected = prefix + (digest ?? createHmac('sha256', s).update(rawBody).digest('hex'));
    if (digestEqual(given, expected)) ok = true;
  });
  return ok ? { ok: true } : { ok: false, reason: 'signature does not match' };
}
