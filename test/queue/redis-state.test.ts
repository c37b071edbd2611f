/** State the replicas share besides the queue: watermarks of unordered policies and the rolling-MR ledger. */

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bump } from '../../src/core/changeset.js';
import { RedisQueue } from '../../src/queue/redis.js';
import { REDIS_URL, deleteKeys, redisAnswers } from '../helpers/redis.js';

const why = await redisAnswers(REDIS_URL);
if (why) console.warn(`skipping the shared-state tests: ${why}`);

const open: RedisQueue[] = [];
let prefix = '';
afterEach(async () => {
  for (const q of open.splice(0)) await q.close();
  const r = new Redis(REDIS_URL, { commandTimeout: 5_000 });
  await deleteKeys(r, prefix);
  r.disconnect();
});

function replicas(): [RedisQueue, RedisQueue] {
  prefix = `baton-state-${randomUUID().slice(0, 8)}`;
  const a = new RedisQueue({ url: REDIS_URL, prefix, debounceMs: 10 });
  const b = new RedisQueue({ url: REDIS_URL, prefix, debounceMs: 10 });
  open.push(a, b);
  return [a, b];
}

describe.skipIf(why !== undefined)('state shared on Redis', () => {
  it('a watermark raised on one replica holds on the other, and never goes down', async () => {
    const [a, b] = replicas();
    await a.watermarks().advance([{ env: 'prod', image: 'web', at: 2_000 }]);
    expect(await b.watermarks().get('prod', 'web')).toBe(2_000);
    // An older event written late on the other replica does not lower it.
    await b.watermarks().advance([{ env: 'prod', image: 'web', at: 1_000 }, { env: 'prod', image: 'api', at: 500 }]);
    expect(await a.watermarks().get('prod', 'web')).toBe(2_000);
    expect(await a.watermarks().get('prod', 'api')).toBe(500);
    expect(await a.watermarks().get('staging', 'web')).toBeUndefined();
  });

  it('the causes one replica recorded for a rolling branch are read by the other; a rebuild starts afresh', async () => {
    const [a, b] = replicas();
    const bump = (image: string, to: string, id: string): Bump => ({ env: 'prod', image, repository: `r/${image}`, from: '1.0.0', to, causes: [{ source: 'registry/distribution', deliveryId: id }], targets: [] }) as unknown as Bump;
    await a.ledger().record('prod', [bump('web', '1.1.0', 'd1'), bump('api', '2.0.0', 'd2')], true);
    expect(await b.ledger().causes('prod', 'web', '1.1.0')).toEqual([{ source: 'registry/distribution', deliveryId: 'd1' }]);
    expect(await b.ledger().causes('prod', 'web', '1.2.0')).toEqual([]); // another version: not its causes
    await b.ledger().record('prod', [bump('web', '1.2.0', 'd3')], false);
    expect(await a.ledger().causes('prod', 'api')).toEqual([{ source: 'registry/distribution', deliveryId: 'd2' }]);
    await a.ledger().record('prod', [bump('web', '1.3.0', 'd4')], true);
    expect(await b.ledger().causes('prod', 'api')).toEqual([]);
  });
});
