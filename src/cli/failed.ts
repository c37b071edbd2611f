/**
 * `baton failed` and `baton retry`: the dead letters of the embedded queue, read from its journal
 * under BATON_DATA_DIR. A retry is handed to the server through a request file, so it works whether
 * the server is running (it picks it up within a second) or not (the next start does).
 * With REDIS_URL the dead letters live in Redis: listed from there, and a retry puts the event back
 * in the shared queue directly (any replica takes it; none needs to be running now).
 */

import { join } from 'node:path';
import { readJournal } from '../queue/journal.js';
import { requestRetry } from '../queue/retry-requests.js';
import { displayKey } from '../queue/types.js';
import type { DeadLetter } from '../queue/types.js';
import type { RedisQueue } from '../queue/redis.js';

/** Where a Redis-mode Baton keeps its queue (REDIS_URL, BATON_REDIS_PREFIX). */
export interface RedisPlace {
  url: string;
  prefix: string;
}

async function withRedis<T>(place: RedisPlace, fn: (q: RedisQueue) => Promise<T>): Promise<T> {
  // Loaded only when asked: the embedded mode's commands need no Redis client.
  const { RedisQueue: Impl } = await import('../queue/redis.js');
  const q = new Impl({ url: place.url, prefix: place.prefix, debounceMs: 0 });
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

function queueDir(dataDir: string): string {
  return join(dataDir, 'queue');
}

export async function listFailed(dataDir: string, now = Date.now(), redis?: RedisPlace): Promise<DeadLetter[]> {
  if (redis)
    return withRedis(redis, async (q) => {
      await q.refresh();
      return q.deadLetters();
    });
  const state = await readJournal(join(queueDir(dataDir), 'journal.jsonl'), { now, dedupeTtlMs: 0, readOnly: true });
  return state.dead.map((d) => ({ id: displayKey(d.key), source: d.event.source, deliveryId: d.event.deliveryId, acceptedAt: d.acceptedAt, failedAt: d.failedAt, reason: d.reason }));
}

export function formatFailed(dead: DeadLetter[]): string[] {
  if (dead.length === 0) return ['no failed events'];
  return dead.flatMap((d) => [`${d.id}`, `  accepted ${new Date(d.acceptedAt).toISOString()}, parked ${new Date(d.failedAt).toISOString()}`, `  ${d.reason}`]);
}

/** Ask for `ids` (as `baton failed` prints them) or every dead letter to be worked again. */
export async function retryFailed(dataDir: string, ids: string[] | 'all', redis?: RedisPlace): Promise<{ requested: string[]; unknown: string[] }> {
  const dead = await listFailed(dataDir, Date.now(), redis);
  const known = new Set(dead.map((d) => d.id));
  const requested = ids === 'all' ? [...known] : ids.filter((id) => known.has(id));
  const unknown = ids === 'all' ? [] : ids.filter((id) => !known.has(id));
  if (requested.length > 0 && redis) return { requested: await withRedis(redis, (q) => q.retry(ids === 'all' ? 'all' : requested)), unknown };
  if (requested.length > 0) await requestRetry(queueDir(dataDir), ids === 'all' ? 'all' : requested);
  return { requested, unknown };
}
