import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
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

describe('memory queue: failures, dead letters and the journal', () => {
  const fast = (fn: () => void, ms: number) => timers(fn, Math.min(ms, 15));

  it('never marks a failed write done: a retryable failure is tried again until it lands', async () => {
    const dir = await tempDir();
    const journalPath = join(dir, 'journal.jsonl');
    const q = new MemoryQueue({ debounceMs: 5, journalPath, now: Date.now, setTimer: fast, random: () => 0.5 });
    const r = recorder();
    let failures = 3;
    await q.start({ route: r.handlers.route, flush: async (d, i) => (failures-- > 0 ? Promise.reject(new Error('503 from the forge')) : r.handlers.flush(d, i)) });
    await q.enqueue(event('flaky-write', '4.0.0'));
    await until(() => r.flushes.length === 1);
    await until(() => q.stats().pending === 0);
    expect(q.stats()).toMatchObject({ dead: 0, retrying: 0 });
    await q.drain();
    // Done only once it landed: a restart has nothing to replay.
    const again = new MemoryQueue({ debounceMs: 5, journalPath, now: Date.now, setTimer: fast });
    const r2 = recorder();
    await again.start(r2.handlers);
    await again.drain();
    expect(r2.flushes).toEqual([]);
  });

  it('parks a permanent refusal as a dead letter with its reason, survives a restart, and works it again on retry', async () => {
    const dir = await tempDir();
    const journalPath = join(dir, 'journal.jsonl');
    const refuse = { on: true };
    const handlers = (r: ReturnType<typeof recorder>): QueueHandlers => ({ route: r.handlers.route, flush: async (d, i) => (refuse.on ? Promise.reject(new Error('pre-receive hook declined')) : r.handlers.flush(d, i)) });
    const parked: string[] = [];
    const q = new MemoryQueue({ debounceMs: 5, journalPath, now: Date.now, setTimer: fast, classify: () => 'permanent', onPark: (e, reason) => parked.push(`${e.deliveryId}: ${reason}`) });
    await q.start(handlers(recorder()));
    await q.enqueue(event('refused', '5.0.0'));
    await until(() => q.stats().dead === 1);
    expect(parked).toEqual(['refused: pre-receive hook declined']);
    expect(q.deadLetters()).toMatchObject([{ id: 'registry/distribution:refused', reason: 'pre-receive hook declined' }]);
    await q.drain();

    const restarted = new MemoryQueue({ debounceMs: 5, journalPath, now: Date.now, setTimer: fast, classify: () => 'permanent' });
    const r = recorder();
    await restarted.start(handlers(r));
    expect(restarted.deadLetters().map((d) => d.id)).toEqual(['registry/distribution:refused']);
    refuse.on = false;
    expect(await restarted.retry(['registry/distribution:refused'])).toEqual(['registry/distribution:refused']);
    await until(() => r.flushes.length === 1);
    await until(() => restarted.stats().pending === 0);
    expect(restarted.stats().dead).toBe(0);
    await restarted.drain();
  });

  it('parks an event whose failures outlast the retention window', async () => {
    let now = 1_000_000;
    const q = new MemoryQueue({ debounceMs: 5, retentionMs: 60_000, now: () => now, setTimer: fast });
    await q.start({ route: async () => Promise.reject(new Error('env repo unreachable')), flush: async () => undefined });
    await q.enqueue(event('stale', '6.0.0'));
    await until(() => q.stats().retrying === 1);
    now += 61_000;
    await until(() => q.stats().dead === 1);
    expect(q.deadLetters()[0]?.reason).toMatch(/still failing after the retention window: env repo unreachable/);
    await q.drain();
  });

  it('remembers finished deliveries across a restart, and compacts the journal while running', async () => {
    const dir = await tempDir();
    const journalPath = join(dir, 'journal.jsonl');
    const q = new MemoryQueue({ debounceMs: 1, journalPath, compactEvery: 50, now: Date.now, setTimer: timers });
    const r = recorder();
    await q.start(r.handlers);
    for (let i = 0; i < 300; i++) await q.enqueue(event(`burst-${i}`, `1.0.${i}`));
    await until(() => q.stats().pending === 0 && q.stats().batches === 0);
    await q.drain();
    const lines = (await readFile(journalPath, 'utf8')).split('\n').filter(Boolean);
    // 300 adds and 300 dones were written; compaction keeps one "seen" line per delivery, not both.
    expect(lines.length).toBeLessThan(400);
    const restarted = new MemoryQueue({ debounceMs: 1, journalPath, now: Date.now, setTimer: timers });
    await restarted.start(recorder().handlers);
    expect(await restarted.enqueue(event('burst-7', '1.0.7'))).toBe('duplicate');
    await restarted.drain();
  });

  it('moves an unreadable journal aside instead of emptying it, and drops records without an event', async () => {
    const dir = await tempDir();
    const journalPath = join(dir, 'journal.jsonl');
    await appendFile(journalPath, '{"op":"add","key":"registry/distribution\\u0000empty"}\n');
    const q = new MemoryQueue({ debounceMs: 1, journalPath, now: Date.now, setTimer: timers });
    const r = recorder();
    await q.start(r.handlers);
    await q.drain();
    expect(r.flushes).toEqual([]);
    expect(await readFile(journalPath, 'utf8')).not.toContain('empty');

    const broken = join(dir, 'broken.jsonl');
    await mkdir(broken); // a directory where the journal should be: not readable as a file
    const warnings: string[] = [];
    const q2 = new MemoryQueue({ debounceMs: 1, journalPath: broken, now: () => 42, setTimer: timers, log: { info: () => undefined, warn: () => undefined, error: (_o, m) => warnings.push(m) } });
    await q2.start(r.handlers);
    await q2.drain();
    expect(warnings.join('\n')).toMatch(/moved aside, not deleted/);
    expect((await stat(`${broken}.unreadable-42`)).isDirectory()).toBe(true);
  });
});
