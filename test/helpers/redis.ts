/** Redis for tests: the machine's shared instance at 127.0.0.1:6379, used only under a unique key prefix. */

import { Redis } from 'ioredis';

export const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Undefined when Redis answers PING within a second; otherwise why not (tests print it when they skip). */
export async function redisAnswers(url: string): Promise<string | undefined> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, commandTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const pong = await r.ping();
    return pong === 'PONG' ? undefined : `it answered ${pong}`;
  } catch (e) {
    return `no Redis answers at ${url}: ${(e as Error).message}`;
  } finally {
    r.disconnect();
  }
}

/** Delete every key under `prefix:` (SCAN, never KEYS: the instance is shared). */
export async function deleteKeys(r: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await r.del(...keys);
  } while (cursor !== '0');
}
