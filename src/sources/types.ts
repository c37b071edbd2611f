/** What every inbound source implements: check authenticity on the raw bytes, then normalize. */

import type { Parsed, SourceId } from '../core/event.js';

/** One HTTP delivery, as the edge received it. Header names are lowercase. */
export interface Delivery {
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  rawBody: Buffer;
  /** ISO time the delivery was received (from the injected clock). */
  receivedAt: string;
}

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
}

/** A body that failed the source's schema: answered 400 with this message. */
export class MalformedPayload extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedPayload';
  }
}
