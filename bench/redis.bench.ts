/**
 * The Redis queue (REDIS_URL) against the embedded queue, measured in the same run:
 * - coalescing: 1,000 events across 50 destinations inside one debounce window, spread over two
 *   replicas on Redis — how many writes (goal: 50, one per destination), vs the embedded queue;
 * - throughput: events per second through the queue with 1 and with 2 replicas on Redis, as ratios
 *   of the embedded queue's throughput. Each write is modelled as 25 ms (a forge round trip), so the
 *   figures are about the queue: routing, batching, locking, de-duplication — not git.
 * Needs Redis at 127.0.0.1:6379 (or BENCH_REDIS_URL); keys under a unique prefix, removed afterwards.
 */

import { deleteKeys } from '../test/helpers/redis.js';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { BenchModule } from './index.js';
import type { ImagePushed } from '../src/core/event.js';
import type { Destination, SetImage } from '../src/core/intent.js';
import { MemoryQueue, systemTimer } from '../src/queue/memory.js';
import { RedisQueue } from '../src/queue/redis.js';
import type { Queue, QueueHandlers } from '../src/queue/types.js';

const URL = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const DESTS = 50;
const WRITE_MS = 25;

function event(i: number, run: string): ImagePushed {
  return { type: 'image-pushed', source: 'registry/distribution', deliveryId: `${run}-${i}`, registry: 'r.example.com', repository: `team/app${i % DESTS}`, tag: `1.0.${i}` };
}

function destinationOf(e: ImagePushed): Destination {
  return { branch: `env-${e.repository.replace('team/app', '')}`, write: 'commit' };
}

/** Handlers: each event goes to its repository's destination; a write takes WRITE_MS; writes are counted. */
function handlers(): { h: QueueHandlers; writes: Map<string, number>; intents: () => number } {
  const writes = new Map<string, number>();
  let intents = 0;
  return {
    writes,
    intents: () => intents,
    h: {
      route: async (ev) => {
        const e = ev as ImagePushed;
        const destination = destinationOf(e);
        const intent: SetImage = {
          type: 'set-image', destination, env: destination.branch, image: e.repository, repository: `r.example.com/${e.repository}`, tag: e.tag,
          digestMode: 'ignore', mode: 'upgrade', policy: { policy: 'semver' }, targets: [{ file: 'k.yaml' }], cause: { source: e.source, deliveryId: e.deliveryId },
        };
        return [{ key: `commit:${destination.branch}`, destination, intents: [intent] }];
      },
      flush: async (d, list) => {
        await new Promise((r) => setTimeout(r, WRITE_MS));
        writes.set(d.branch, (writes.get(d.branch) ?? 0) + 1);
        intents += list.length;
      },
    },
  };
}

async function enqueueAll(queues: Queue[], n: number, run: string): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) await (queues[i % queues.length] as Queue).enqueue(event(i, run));
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('bench timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Run `n` events through `replicas` queues (sharing one handler set); returns events/s and writes. */
async function measure(make: () => Queue, replicas: number, n: number, debounceMs: number): Promise<{ perSecond: number; writes: number; maxPerDest: number }> {
  const run = randomUUID().slice(0, 8);
  const { h, writes, intents } = handlers();
  const queues = Array.from({ length: replicas }, make);
  for (const q of queues) await q.start(h);
  const started = performance.now();
  await enqueueAll(queues, n, run);
  await until(() => intents() >= n, 120_000);
  const seconds = (performance.now() - started - debounceMs) / 1000;
  for (const q of queues) await q.drain(5_000);
  const counts = [...writes.values()];
  return { perSecond: n / Math.max(seconds, 0.001), writes: counts.reduce((a, b) => a + b, 0), maxPerDest: Math.max(...counts) };
}

async function cleanup(prefix: string): Promise<void> {
  const r = new Redis(URL, { commandTimeout: 5_000 });
  await deleteKeys(r, prefix);
  r.disconnect();
}

const bench: BenchModule = {
  title: 'Redis queue: coalescing across replicas, throughput with 1 and 2 replicas',
  async run() {
    const probe = new Redis(URL, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
    } catch (e) {
      return [`skipped: no Redis answers at ${URL} (${(e as Error).message})`];
    } finally {
      probe.disconnect();
    }
    const out: string[] = [];
    const prefixes: string[] = [];
    const memory = (debounceMs: number) => () => new MemoryQueue({ debounceMs, now: Date.now, setTimer: systemTimer });
    const redis = (debounceMs: number, prefix: string) => () => new RedisQueue({ url: URL, prefix, debounceMs, concurrency: 16 });
    try {
      // Coalescing: all 1,000 events inside one 3 s window.
      const window = 3_000;
      const memC = await measure(memory(window), 1, 1_000, window);
      const p1 = `baton-bench-${randomUUID().slice(0, 8)}`;
      prefixes.push(p1);
      const redisC = await measure(redis(window, p1), 2, 1_000, window);
      out.push(`coalescing, 1,000 events across ${DESTS} destinations in one ${window / 1000} s window:`);
      out.push(`  embedded queue (1 process): ${memC.writes} writes (goal ${DESTS}; at most ${memC.maxPerDest} per destination)`);
      out.push(`  Redis, 2 replicas:          ${redisC.writes} writes (goal ${DESTS}; at most ${redisC.maxPerDest} per destination) — ${(redisC.writes / memC.writes).toFixed(2)}× the embedded queue's count`);

      // Throughput: 2,000 events, 50 ms windows, a 25 ms write per batch.
      const n = 2_000;
      const debounce = 50;
      const mem = await measure(memory(debounce), 1, n, debounce);
      const p2 = `baton-bench-${randomUUID().slice(0, 8)}`;
      const p3 = `baton-bench-${randomUUID().slice(0, 8)}`;
      prefixes.push(p2, p3);
      const one = await measure(redis(debounce, p2), 1, n, debounce);
      const two = await measure(redis(debounce, p3), 2, n, debounce);
      out.push(`throughput, ${n.toLocaleString('en')} events, ${debounce} ms debounce, ${WRITE_MS} ms per write (baseline: embedded queue ${mem.perSecond.toFixed(0)} events/s, ${mem.writes} writes):`);
      out.push(`  Redis, 1 replica:  ${(one.perSecond / mem.perSecond).toFixed(2)}× the embedded queue (${one.perSecond.toFixed(0)} events/s, ${one.writes} writes)`);
      out.push(`  Redis, 2 replicas: ${(two.perSecond / mem.perSecond).toFixed(2)}× the embedded queue, ${(two.perSecond / one.perSecond).toFixed(2)}× one replica (${two.perSecond.toFixed(0)} events/s, ${two.writes} writes)`);
    } finally {
      for (const p of prefixes) await cleanup(p).catch(() => undefined);
    }
    return out;
  },
};

export default bench;
