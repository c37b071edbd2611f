import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ImagePushed } from '../../src/core/event.js';
import { MemoryQueue, systemTimer } from '../../src/queue/memory.js';
import { tempDir } from '../helpers/git-repo.js';
import { event, intentFor, recorder, staging, until } from './contract.js';

const timers = systemTimer;

/** What only the embedded queue has: its journal. The port's behaviour is in contract.ts (memory.contract.test.ts). */
describe('memory queue: the journal', () => {
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

  it('has each delivery of a burst on disk by the time it is acknowledged, written together', async () => {
    const dir = await tempDir();
    const journalPath = join(dir, 'journal.jsonl');
    const q = new MemoryQueue({ debounceMs: 10, journalPath, now: Date.now, setTimer: timers });
    const onDisk: boolean[] = [];
    // 40 deliveries at once, as 40 connections would bring them: each acknowledgement finds its record written.
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        expect(await q.enqueue(event(`burst-${i}`, `1.0.${i}`))).toBe('queued');
        onDisk.push((await readFile(journalPath, 'utf8')).includes(`"deliveryId":"burst-${i}"`));
      }),
    );
    expect(onDisk).toEqual(Array.from({ length: 40 }, () => true));
    // The same id twice in one burst: the second is a duplicate of the first, not a second event.
    const [a, b] = await Promise.all([q.enqueue(event('twice', '2.0.0')), q.enqueue(event('twice', '2.0.0'))]);
    expect([a, b]).toEqual(['queued', 'duplicate']);
    const adds = (await readFile(journalPath, 'utf8')).split('\n').filter((l) => l.includes('"op":"add"'));
    expect(adds).toHaveLength(41);
    expect(q.stats().pending).toBe(41);
  });

  it('has the finished events of a batch on disk by the end of the loop turn, so a crash then does not work them again', async () => {
    const dir = await tempDir();
    const journalPath = join(dir, 'journal.jsonl');
    const q = new MemoryQueue({ debounceMs: 10, journalPath, now: Date.now, setTimer: timers });
    const r = recorder();
    await q.start(r.handlers);
    await Promise.all(Array.from({ length: 20 }, (_, i) => q.enqueue(event(`batch-${i}`, `1.1.${i}`))));
    await until(() => q.stats().pending === 0);
    // One turn of the event loop later, without a drain (a crash would come now).
    await new Promise((resolve) => setImmediate(resolve));
    const done = (await readFile(journalPath, 'utf8')).split('\n').filter((l) => l.includes('"op":"done"'));
    expect(done).toHaveLength(20);
    const restarted = new MemoryQueue({ debounceMs: 10, journalPath, now: Date.now, setTimer: timers });
    const again = recorder();
    await restarted.start(again.handlers);
    expect(await restarted.enqueue(event('batch-3', '1.1.3'))).toBe('duplicate');
    await restarted.drain();
    expect(again.flushes).toEqual([]);
  });

  if (!existsSync('/dev/full')) console.warn('skipped: the full-disk test needs /dev/full, which this machine does not have');
  it.runIf(existsSync('/dev/full'))('acknowledges nothing the disk refused: the delivery fails, is not worked, and its twin in the same burst fails too', async () => {
    // /dev/full refuses every write with ENOSPC, as a full disk does. The queue is not started, so
    // nothing rewrites the journal path (a compaction would rename over it).
    const q = new MemoryQueue({ debounceMs: 10, journalPath: '/dev/full', now: Date.now, setTimer: timers });
    const results = await Promise.allSettled([q.enqueue(event('full-1', '1.0.0')), q.enqueue(event('full-1', '1.0.0')), q.enqueue(event('full-2', '1.0.1'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/ENOSPC/);
    expect(q.stats().pending).toBe(0);
    // Nothing was remembered either: the sender's retry is a new delivery, not a "duplicate".
    await expect(q.enqueue(event('full-1', '1.0.0'))).rejects.toThrow(/ENOSPC/);
  });
});

describe('memory queue: compaction and damage', () => {
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

  it('compacts in the background: deliveries accepted and finished while it runs are neither lost nor worked twice', async () => {
    const dir = await tempDir();
    const journalPath = join(dir, 'journal.jsonl');
    const q = new MemoryQueue({ debounceMs: 1, journalPath, compactEvery: 40, now: Date.now, setTimer: timers });
    let hold = false;
    await q.start({
      route: async (e) => [{ key: 'commit:main', destination: staging, intents: [intentFor(e as ImagePushed)] }],
      // The second half is never written: the process "dies" with it pending.
      flush: async () => (hold ? new Promise(() => undefined) : undefined),
    });
    // First half: accepted and finished, spread out so that compactions run between deliveries.
    for (let i = 0; i < 400; i++) {
      await q.enqueue(event(`first-${i}`, `1.0.${i}`));
      await new Promise((r) => setImmediate(r));
    }
    await until(() => q.stats().pending === 0);
    // Second half: accepted, never finished, while compactions write their slices.
    hold = true;
    for (let i = 0; i < 400; i++) {
      await q.enqueue(event(`second-${i}`, `2.0.${i}`));
      if (i % 3 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => q.stats().pending === 400);
    // Compacted while serving (before any drain): only a compaction writes `seen` records.
    const deadline = Date.now() + 10_000;
    while (!(await readFile(journalPath, 'utf8')).includes('"op":"seen"')) {
      if (Date.now() > deadline) throw new Error('no compaction finished while serving');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await q.enqueue(event('first-123', '1.0.123'))).toBe('duplicate');
    await q.drain(50);

    const restarted = new MemoryQueue({ debounceMs: 1, journalPath, now: Date.now, setTimer: timers });
    const r = recorder();
    await restarted.start(r.handlers);
    await until(() => r.flushes.flat().length >= 400);
    expect(r.flushes.flat().sort()).toEqual(Array.from({ length: 400 }, (_, i) => `2.0.${i}`).sort());
    expect(await restarted.enqueue(event('first-123', '1.0.123'))).toBe('duplicate');
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
