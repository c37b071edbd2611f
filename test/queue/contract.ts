/**
 * The Queue port's contract: behaviour every implementation (embedded journal, Redis) must show.
 * Each implementation's test file calls `queueContract` with a factory; implementation details
 * (journal format, key layout) are tested next to the implementation.
 */

import { describe, expect, it } from 'vitest';
import type { ImagePushed } from '../../src/core/event.js';
import type { Destination, SetImage } from '../../src/core/intent.js';
import type { FailureKind, Queue, QueueHandlers } from '../../src/queue/types.js';
import type { Event } from '../../src/core/event.js';

export interface ContractOptions {
  debounceMs: number;
  retentionMs?: number;
  classify?: (err: unknown) => FailureKind;
  now?: () => number;
  onPark?: (event: Event, reason: string) => void;
  /** Retries after a few ms instead of seconds. */
  fastRetry?: boolean;
}

export interface QueueFactory {
  /** A fresh place for durable state (a journal path, a Redis key prefix). */
  place(): Promise<string>;
  /** A queue over `place`; a second queue over the same place is a restart. */
  make(place: string, options: ContractOptions): Queue;
  /** The process died: drop the queue without draining (its durable state stays). */
  crash(q: Queue): Promise<void>;
  /** Remove what `place` holds (end of test). */
  cleanup(place: string): Promise<void>;
}

export function event(id: string, tag = '1.0.0'): ImagePushed {
  return { type: 'image-pushed', source: 'registry/distribution', deliveryId: id, registry: 'r.example.com', repository: 'team/web', tag };
}

export const staging: Destination = { branch: 'main', write: 'commit' };

export function intentFor(e: ImagePushed): SetImage {
  return {
    type: 'set-image', destination: staging, env: 'staging', image: 'web', repository: 'r.example.com/team/web', tag: e.tag,
    digestMode: 'ignore', mode: 'upgrade', policy: { policy: 'semver' }, targets: [{ file: 'k.yaml' }],
    cause: { source: e.source, deliveryId: e.deliveryId },
  };
}

/** Handlers that record flushes and how many ran at once. */
export function recorder(flushMs = 0) {
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

export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function queueContract(name: string, f: QueueFactory): void {
  /** Run `body` with a fresh place, always cleaned up. */
  const withPlace = (body: (place: string) => Promise<void>) => async () => {
    const place = await f.place();
    try {
      await body(place);
    } finally {
      await f.cleanup(place);
    }
  };

  describe(`queue contract: ${name}`, () => {
    it('does the work of a delivery once, however often it arrives', withPlace(async (place) => {
      const q = f.make(place, { debounceMs: 20 });
      const r = recorder();
      await q.start(r.handlers);
      expect(await q.enqueue(event('a'))).toBe('queued');
      expect(await q.enqueue(event('a'))).toBe('duplicate');
      await until(() => r.flushes.length === 1);
      await until(() => q.stats().pending === 0);
      expect(await q.enqueue(event('a'))).toBe('duplicate');
      await q.drain();
      expect(r.flushes).toEqual([['1.0.0']]);
    }));

    it('gathers intents for one destination inside the debounce window into one flush', withPlace(async (place) => {
      // A window long enough for ten events to be stored and routed on a busy machine.
      const q = f.make(place, { debounceMs: 1_000 });
      const r = recorder();
      await q.start(r.handlers);
      for (let i = 0; i < 10; i++) await q.enqueue(event(`e${i}`, `1.0.${i}`));
      await until(() => r.flushes.length === 1);
      expect(r.flushes[0]).toHaveLength(10);
      // Arrival order is kept inside the batch.
      expect(r.flushes[0]).toEqual(Array.from({ length: 10 }, (_, i) => `1.0.${i}`));
      await q.drain();
    }));

    it('never runs two flushes for the same destination at once', withPlace(async (place) => {
      const q = f.make(place, { debounceMs: 50 });
      const r = recorder(300);
      await q.start(r.handlers);
      await q.enqueue(event('first', '1.0.0'));
      await until(() => r.maxConcurrent() === 1); // first flush is running now
      await q.enqueue(event('second', '1.0.1'));
      await q.enqueue(event('third', '1.0.2'));
      await until(() => r.flushes.length === 2);
      expect(r.maxConcurrent()).toBe(1);
      expect(r.flushes).toEqual([['1.0.0'], ['1.0.1', '1.0.2']]);
      await q.drain();
    }));

    it('drain writes waiting batches at once instead of waiting out the window, then refuses new events', withPlace(async (place) => {
      const q = f.make(place, { debounceMs: 60_000 });
      const r = recorder();
      await q.start(r.handlers);
      await q.enqueue(event('x'));
      await until(() => q.stats().batches === 1);
      const started = Date.now();
      await q.drain();
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(r.flushes).toEqual([['1.0.0']]);
      await expect(q.enqueue(event('y'))).rejects.toThrow(/draining/);
    }));

    it('works events accepted before a crash after the restart, once, and still knows them as duplicates', withPlace(async (place) => {
      const crashed = f.make(place, { debounceMs: 10 });
      // Accepted but never worked: the process died before it started working.
      await crashed.enqueue(event('lost-1', '2.0.0'));
      await crashed.enqueue(event('lost-2', '2.0.1'));
      await f.crash(crashed);

      const restarted = f.make(place, { debounceMs: 10 });
      const r = recorder();
      await restarted.start(r.handlers);
      await until(() => r.flushes.flat().length === 2);
      expect(r.flushes.flat().sort()).toEqual(['2.0.0', '2.0.1']);
      await until(() => restarted.stats().pending === 0);
      expect(await restarted.enqueue(event('lost-1', '2.0.0'))).toBe('duplicate');
      await restarted.drain();

      const again = f.make(place, { debounceMs: 10 });
      const r2 = recorder();
      await again.start(r2.handlers);
      expect(await again.enqueue(event('lost-2', '2.0.1'))).toBe('duplicate');
      await again.drain();
      expect(r2.flushes).toEqual([]);
    }));

    it('retries routing when the config cannot be read (forge down) instead of dropping the event', withPlace(async (place) => {
      const q = f.make(place, { debounceMs: 10, fastRetry: true });
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
    }));

    it('never marks a failed write done: a retryable failure is tried again until it lands', withPlace(async (place) => {
      const q = f.make(place, { debounceMs: 5, fastRetry: true });
      const r = recorder();
      let failures = 3;
      let tries = 0;
      await q.start({ route: r.handlers.route, flush: async (d, i) => (tries++, failures-- > 0 ? Promise.reject(new Error('503 from the forge')) : r.handlers.flush(d, i)) });
      await q.enqueue(event('flaky-write', '4.0.0'));
      await until(() => r.flushes.length === 1);
      await until(() => q.stats().pending === 0);
      expect(tries).toBe(4);
      expect(q.stats()).toMatchObject({ dead: 0, retrying: 0 });
      await q.drain();
      // Done only once it landed: a restart has nothing to work again.
      const again = f.make(place, { debounceMs: 5, fastRetry: true });
      const r2 = recorder();
      await again.start(r2.handlers);
      await again.drain();
      expect(r2.flushes).toEqual([]);
    }));

    it('parks a permanent refusal as a dead letter with its reason, survives a restart, and works it again on retry', withPlace(async (place) => {
      const refuse = { on: true };
      const handlers = (r: ReturnType<typeof recorder>): QueueHandlers => ({ route: r.handlers.route, flush: async (d, i) => (refuse.on ? Promise.reject(new Error('pre-receive hook declined')) : r.handlers.flush(d, i)) });
      const parked: string[] = [];
      const q = f.make(place, { debounceMs: 5, fastRetry: true, classify: () => 'permanent', onPark: (e, reason) => parked.push(`${e.deliveryId}: ${reason}`) });
      await q.start(handlers(recorder()));
      await q.enqueue(event('refused', '5.0.0'));
      await until(() => q.stats().dead === 1);
      expect(parked).toEqual(['refused: pre-receive hook declined']);
      expect(q.deadLetters()).toMatchObject([{ id: 'registry/distribution:refused', reason: 'pre-receive hook declined' }]);
      expect(q.stats()).toMatchObject({ pending: 0, batches: 0 });
      await q.drain();

      const restarted = f.make(place, { debounceMs: 5, fastRetry: true, classify: () => 'permanent' });
      const r = recorder();
      await restarted.start(handlers(r));
      expect(restarted.deadLetters().map((d) => d.id)).toEqual(['registry/distribution:refused']);
      refuse.on = false;
      expect(await restarted.retry(['registry/distribution:refused'])).toEqual(['registry/distribution:refused']);
      await until(() => r.flushes.length === 1);
      await until(() => restarted.stats().pending === 0 && restarted.stats().dead === 0);
      expect(restarted.deadLetters()).toEqual([]);
      await restarted.drain();
    }));

    it('takes a parked delivery back to work when the sender delivers it again', withPlace(async (place) => {
      const refuse = { on: true };
      const r = recorder();
      const q = f.make(place, { debounceMs: 5, fastRetry: true, classify: () => 'permanent' });
      await q.start({ route: r.handlers.route, flush: async (d, i) => (refuse.on ? Promise.reject(new Error('protected branch')) : r.handlers.flush(d, i)) });
      await q.enqueue(event('again', '5.1.0'));
      await until(() => q.stats().dead === 1);
      refuse.on = false;
      expect(await q.enqueue(event('again', '5.1.0'))).toBe('queued');
      await until(() => r.flushes.length === 1 && q.stats().dead === 0 && q.stats().pending === 0);
      expect(r.flushes).toEqual([['5.1.0']]);
      await q.drain();
    }));

    it('parks an event whose failures outlast the retention window', withPlace(async (place) => {
      let now = 1_000_000;
      const q = f.make(place, { debounceMs: 5, retentionMs: 60_000, now: () => now, fastRetry: true });
      await q.start({ route: async () => Promise.reject(new Error('env repo unreachable')), flush: async () => undefined });
      await q.enqueue(event('stale', '6.0.0'));
      await until(() => q.stats().retrying === 1);
      now += 61_000;
      await until(() => q.stats().dead === 1);
      expect(q.deadLetters()[0]?.reason).toMatch(/still failing after the retention window: env repo unreachable/);
      await q.drain();
    }));

    it('writes two destinations independently, and an event touching both is done when both landed', withPlace(async (place) => {
      const q = f.make(place, { debounceMs: 20, fastRetry: true });
      const written: string[] = [];
      let prodFails = 1;
      await q.start({
        route: async (e) => {
          const i = intentFor(e as ImagePushed);
          return [
            { key: 'commit:main', destination: staging, intents: [i] },
            { key: 'commit:prod', destination: { branch: 'prod', write: 'commit' }, intents: [{ ...i, env: 'prod', destination: { branch: 'prod', write: 'commit' } }] },
          ];
        },
        flush: async (d, intents) => {
          if (d.branch === 'prod' && prodFails-- > 0) throw new Error('502 from the forge');
          written.push(`${d.branch}:${intents.map((i) => (i.type === 'set-image' ? i.tag : '')).join(',')}`);
        },
      });
      await q.enqueue(event('both', '7.0.0'));
      await until(() => written.length === 2);
      await until(() => q.stats().pending === 0);
      expect(written.sort()).toEqual(['main:7.0.0', 'prod:7.0.0']);
      await q.drain();
    }));
  });
}
