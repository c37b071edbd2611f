/** What every inbound source implements: check authenticity on the raw bytes, then normalize. */

import type { Parsed, SourceId } from '../core/event.js';

/** One HTTP delivery, as the edge received it. Header names are lowercase. */
export interface Delivery {
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  rawBody: Buffer;
  /** ISO time the delivery was received (from the injected clock). */
  receivedAt: string;
  /**
   * For sources with `hmac`: `HMAC-SHA256(secret, rawBody)` in hex for each accepted secret, in the
   * same order, computed by the edge while the body streamed in.
   */
  bodyHmacs?: readonly string[];
}

/** What can be checked before a single body byte is read. */
export type DeliveryHead = Pick<Delivery, 'headers' | 'query'>;

export type Verification = { ok: true } | { ok: false; reason: string };

export interface Source {
  id: SourceId;
  /**
   * Authenticity over the raw bytes, before anything is parsed. `secrets` are all accepted values
   * (rotation). Async for sources that verify a signed token (Pub/Sub OIDC JWTs).
   */
  verify(delivery: Delivery, secrets: readonly string[]): Verification | Promise<Verification>;
  /** Turn an authentic, JSON-decoded body into Events, or say why it is of no interest. Never throws on bad input. */
  parse(body: unknown, delivery: Delivery): Parsed;
  /**
   * Refuse before the body is read: no secret configured, or no credential in the request (or, where
   * the credential is a header token, a wrong one). Without it the edge refuses only when `secrets` is empty.
   */
  precheck?(head: DeliveryHead, secrets: readonly string[]): Verification;
  /** HMAC-signed sources: the signature header, so the edge hashes the body as it streams (`bodyHmacs`). */
  hmac?: { header: string };
  /** Deepest JSON nesting a real payload of this source reaches, with room to spare (default 32). */
  maxJsonDepth?: number;
}

/** A body that failed the source's schema: answered 400 with this message. */
export class MalformedPayload extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedPayload';
  }
}
