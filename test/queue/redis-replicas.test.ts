/** Two RedisQueue instances on one prefix are two replicas: one writer per destination, each event once; and the state they share besides the queue. */

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bump } from '../../src/core/changeset.js';
import { RedisQueue } from '../../src/queue/redis.js';
import type { QueueHandlers } from '../../src/queue/types.js';
import { event, until } from './contract.js';
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

  it('two replicas never write one destination at once, write different destinations side by side, and work each event once', async () => {
    const [a, b] = replicas();
    const running = new Map<string, number>();
    let maxSame = 0;
    let maxAll = 0;
    const written: string[] = [];
    const handlers: QueueHandlers = {
      route: async (e) => {
        const branch = `env-${Number(e.deliveryId.slice(1)) % 4}`;
        return [{ key: `commit:${branch}`, destination: { branch, write: 'commit' }, intents: [{ type: 'set-image', tag: e.deliveryId } as never] }];
      },
      flush: async (d, intents) => {
        running.set(d.branch, (running.get(d.branch) ?? 0) + 1);
        maxSame = Math.max(maxSame, ...running.values());
        maxAll = Math.max(maxAll, [...running.values()].reduce((x, y) => x + y, 0));
        await new Promise((r) => setTimeout(r, 80));
        for (const i of intents) written.push((i as { tag: string }).tag);
        running.set(d.branch, (running.get(d.branch) ?? 1) - 1);
      },
    };
    await a.start(handlers);
    await b.start(handlers);
    for (let i = 0; i < 40; i++) {
      await (i % 2 === 0 ? a : b).enqueue(event(`e${i}`));
      if (i % 8 === 7) await new Promise((r) => setTimeout(r, 30));
    }
    await until(() => written.length >= 40, 20_000);
    await until(() => a.stats().pending === 0, 5_000);
    expect(written.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `e${i}`).sort());
    expect(maxSame).toBe(1);
    expect(maxAll).toBeGreaterThan(1);
  });
});
