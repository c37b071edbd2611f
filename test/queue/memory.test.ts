import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ImagePushed } from '../../src/core/event.js';
import type { Destination, SetImage } from '../../src/core/intent.js';
import { MemoryQueue, systemTimer } from '../../src/queue/memory.js';
import type { QueueHandlers } from '../../src/queue/types.js';
import { tempDir } from '../helpers/git-repo.js';

const timers = systemTimer;

function event(id: string, tag = '1.0.0'): ImagePushed {
  return { type: 'image-pushed', source: 'registry/distribution', deliveryId: id, registry: 'r.example.com', repository: 'team/web', tag };
}

const staging: Destination = { branch: 'main', write: 'commit' };

function intentFor(e: ImagePushed): SetImage {
  return {
    type: 'set-image', destination: staging, env: 'staging', image: 'web', repository: 'r.example.com/team/web', tag: e.tag,
    digestMode: 'ignore', mode: 'upgrade', policy: { policy: 'semver' }, targets: [{ file: 'k.yaml' }],
    cause: { source: e.source, deliveryId: e.deliveryId },
  };
}

/** Handlers that record flushes and how many ran at once. */
function recorder(flushMs = 0) {
  const flushes: string[][] = [];
  let running = 0;
  let maxConcurrent = 0;
  const handlers: QueueHandlers = {
    route: async (e) => [{ key: 'commit:main', destination: staging, intents: [intentFor(e as ImagePushed)] }],
    flush: async (_d, intents) => {
      running++;
      maxConcurrent = Math.max(maxConcurrent, running);
      await new Promise((r) => setTimeout(r, flushMs));
      flushes.push(intents.map((i) => (i.type === 'set-image' ? i.tag : i.type)));
      running--;
    },
  };
  return { handlers, flushes, maxConcurrent: () => maxConcurrent };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('memory queue', () => {
  it('does the work of a delivery once, however often it arrives', async () => {
    const q = new MemoryQueue({ debounceMs: 20, now: Date.now, setTimer: timers });
    const r = recorder();
    await q.start(r.handlers);
    expect(await q.enqueue(event('a'))).toBe('queued');
    expect(await q.enqueue(event('a'))).toBe('duplicate');
    await until(() => r.flushes.length === 1);
    expect(await q.enqueue(event('a'))).toBe('duplicate');
    await q.drain();
    expect(r.flushes).toEqual([['1.0.0']]);
  });

  it('gathers intents for one destination inside the debounce window into one flush', async () => {
    const q = new MemoryQueue({ debounceMs: 150, now: Date.now, setTimer: timers });
    const r = recorder();
    await q.start(r.handlers);
    for (let i = 0; i < 10; i++) await q.enqueue(event(`e${i}`, `1.0.${i}`));
    await until(() => r.flushes.length === 1);
    expect(r.flushes[0]).toHaveLength(10);
    await q.drain();
  });

  it('never runs two flushes for the same destination at once', async () => {
    const q = new MemoryQueue({ debounceMs: 10, now: Date.now, setTimer: timers });
    const r = recorder(120);
    await q.start(r.handlers);
    await q.enqueue(event('first', '1.0.0'));
    await until(() => q.stats().batches > 0 && r.flushes.length === 0);
    await new Promise((res) => setTimeout(res, 40)); // first flush is running now
    await q.enqueue(event('second', '1.0.1'));
    await q.enqueue(event('third', '1.0.2'));
    await until(() => r.flushes.length === 2);
    expect(r.maxConcurrent()).toBe(1);
    expect(r.flushes).toEqual([['1.0.0'], ['1.0.1', '1.0.2']]);
    await q.drain();
  });

  it('drain writes waiting batches at once instead of waiting out the window, then refuses new events', async () => {
    const q = new MemoryQueue({ debounceMs: 60_000, now: Date.now, setTimer: timers });
    const r = recorder();
    await q.start(r.handlers);
    await q.enqueue(event('x'));
    await until(() => q.stats().batches === 1);
    const started = Date.now();
    await q.drain();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(r.flushes).toEqual([['1.0.0']]);
    await expect(q.enqueue(event('y'))).rejects.toThrow(/draining/);
  });

  it('replays accepted events after a crash from the journal, and only those not done', async () => {
    const dir = await tempDir();
    const journalPath = join(dir, 'journal.jsonl');
    const crashed = new MemoryQueue({ debounceMs: 10, journalPath, now: Date.now, setTimer: timers });
    // Accepted (journaled) but never worked: the process died before start/flush.
    await crashed.enqueue(event('lost-1', '2.0.0'));
    await crashed.enqueue(event('lost-2', '2.0.1'));
    await appendFile(journalPath, '{"op":"add","key":"torn'); // a write cut off mid-line

    const restarted = new MemoryQueue({ debounceMs: 10, journalPath, now: Date.now, setTimer: timers });
    const r = recorder();
    await restarted.start(r.handlers);
    await until(() => r.flushes.flat().length === 2);
    expect(r.flushes.flat().sort()).toEqual(['2.0.0', '2.0.1']);
    // Replayed deliveries are still de-duplicated.
    expect(await restarted.enqueue(event('lost-1', '2.0.0'))).toBe('duplicate');
    await restarted.drain();

    const again = new MemoryQueue({ debounceMs: 10, journalPath, now: Date.now, setTimer: timers });
    const r2 = recorder();
    await again.start(r2.handlers);
    await again.drain();
    expect(r2.flushes).toEqual([]);
    expect(await readFile(journalPath, 'utf8')).not.toContain('torn');
  });

  it('retries routing when the config cannot be read (forge down) instead of dropping the event', async () => {
    const q = new MemoryQueue({ debounceMs: 10, now: Date.now, setTimer: (fn, ms) => timers(fn, Math.min(ms, 20)) });
    const r = recorder();
    let failures = 2;
    await q.start({
      route: async (e) => {
        if (failures-- > 0) throw new Error('forge unreachable');
        return r.handlers.route(e, { acceptedAt: Date.now() });
      },
      flush: r.handlers.flush,
    });
    await q.enqueue(event('flaky', '3.0.0'));
    await until(() => r.flushes.length === 1);
    expect(r.flushes).toEqual([['3.0.0']]);
    await q.drain();
  });
});
