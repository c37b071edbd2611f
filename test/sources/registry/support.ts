/** Test support for registry sources: fixtures by name and deliveries built from bodies. */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImagePushed, Parsed } from '../../../src/core/event.js';
import type { Delivery } from '../../../src/sources/types.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/registry');

export function fixture(name: string): unknown {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as unknown;
}

/** A captured `{headers, body}` request. */
export function captured(name: string): { headers: Record<string, string>; body: unknown } {
  return fixture(name) as { headers: Record<string, string>; body: unknown };
}

export function delivery(body: unknown, headers: Record<string, string> = {}, query: Record<string, string> = {}): Delivery {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    headers: { 'content-type': 'application/json', ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) },
    query,
    rawBody: Buffer.from(raw),
    receivedAt: '2026-11-22T12:00:00.000Z',
  };
}

export function events(parsed: Parsed): ImagePushed[] {
  if (parsed.kind !== 'events') throw new Error(`expected events, got ignored: ${parsed.reason}`);
  return parsed.events.map((e) => {
    if (e.type !== 'image-pushed') throw new Error(`unexpected ${e.type}`);
    return e;
  });
}

export function ignoredReason(parsed: Parsed): string {
  if (parsed.kind !== 'ignored') throw new Error(`expected ignored, got ${parsed.events.length} events`);
  return parsed.reason;
}

export const ONE = 'sha256:737d14e8c92089f9d100ca4bd640002edf70dbc9453691fd18ff2fad644d844a';
export const IDX = 'sha256:b2e7e6c482651cf2c37b6b662848c5667ef73d67fec397f3e600f1bd4fb2ddba';
