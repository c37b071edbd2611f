import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, it } from 'vitest';
import { RedisQueue } from '../../src/queue/redis.js';
import { queueContract } from './contract.js';
import { REDIS_URL, deleteKeys, redisAnswers } from '../helpers/redis.js';

const why = await redisAnswers(REDIS_URL);

if (why) {
  console.warn(`skipping the Redis queue contract: ${why}`);
  describe('queue contract: Redis', () => {
    it.skip(`needs Redis at ${REDIS_URL} (${why})`, () => undefined);
  });
} else {
  const open = new Set<RedisQueue>();
  queueContract('Redis', {
    place: async () => `baton-test-${randomUUID().slice(0, 8)}`,
    make: (prefix, o) => {
      const q = new RedisQueue({
        url: REDIS_URL,
        prefix,
        debounceMs: o.debounceMs,
        now: o.now ?? Date.now,
        random: () => 0.5,
        statsEveryMs: 20,
        ...(o.fastRetry && { retryBaseMs: 10, retryMaxMs: 20 }),
        ...(o.retentionMs !== undefined && { retentionMs: o.retentionMs }),
        ...(o.classify && { classify: o.classify }),
        ...(o.onPark && { onPark: o.onPark }),
      });
      open.add(q);
      return q;
    },
    crash: async (q) => {
      await (q as RedisQueue).close();
    },
    cleanup: async (prefix) => {
      for (const q of open) await q.close();
      open.clear();
      const r = new Redis(REDIS_URL, { lazyConnect: true, commandTimeout: 5_000 });
      await r.connect();
      await deleteKeys(r, prefix);
      r.disconnect();
    },
  });
}
