/**
 * One delivery through one source: authenticity on the raw bytes, then JSON, then the source's
 * schema, then the queue. Returns the reply README "Webhooks" documents; never throws for anything a sender controls.
 */

import type { Event } from '../core/event.js';
import type { Queue } from '../queue/types.js';
import type { Delivery, Source } from '../sources/types.js';
import { MalformedPayload } from '../sources/types.js';
import { DEFAULT_MAX_JSON_DEPTH, jsonDeeperThan } from '../sources/json-limits.js';

export interface Reply {
  status: number;
  body: Record<string, unknown>;
  /** For metrics: accepted | duplicate | ignored | unauthorized | malformed | unsupported. */
  result: string;
}

function isJsonType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  if (contentType === 'application/json') return true;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json';
}

/** Decides whether an event is new content (false: the same push arrived again by another call or path). */
export type Admit = (event: Event) => boolean;

export async function handleDelivery(source: Source, secrets: readonly string[], delivery: Delivery, queue: Queue, admit: Admit = () => true): Promise<Reply> {
  const verdict = await source.verify(delivery, secrets);
  if (!verdict.ok) return { status: 401, result: 'unauthorized', body: { error: 'unauthorized', reason: verdict.reason } };
  if (!isJsonType(delivery.headers['content-type'])) {
    return { status: 415, result: 'unsupported', body: { error: 'unsupported media type', reason: 'send the body as JSON' } };
  }
  const maxDepth = source.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
  // Bounded before parsing: a deeply nested body would otherwise cost time and memory in JSON.parse and the schema walk.
  if (jsonDeeperThan(delivery.rawBody, maxDepth)) {
    return { status: 400, result: 'malformed', body: { error: 'malformed', reason: `the JSON nests deeper than ${maxDepth} levels` } };
  }
  let body: unknown;
  try {
    body = JSON.parse(delivery.rawBody.toString('utf8'));
  } catch {
    return { status: 400, result: 'malformed', body: { error: 'malformed', reason: 'the body is not valid JSON' } };
  }
  let parsed;
  try {
    parsed = source.parse(body, delivery);
  } catch (e) {
    if (e instanceof MalformedPayload) return { status: 400, result: 'malformed', body: { error: 'malformed', reason: e.message } };
    throw e;
  }
  if (parsed.kind === 'ignored') return { status: 200, result: 'ignored', body: { status: 'ignored', reason: parsed.reason } };
  const deliveries = [];
  for (const event of parsed.events) {
    if (!admit(event)) {
      deliveries.push({ id: event.deliveryId, duplicate: true, reason: 'the same push (repository, tag, digest) was just received' });
      continue;
    }
    const queued = await queue.enqueue(event);
    deliveries.push({ id: event.deliveryId, ...(queued === 'duplicate' && { duplicate: true }) });
  }
  const allDuplicate = deliveries.every((d) => d.duplicate);
  return { status: 202, result: allDuplicate ? 'duplicate' : 'accepted', body: { status: 'accepted', deliveries } };
}
