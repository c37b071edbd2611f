/**
 * The embedded, single-process queue. Accepted events are appended to a journal file before the
 * webhook is answered, so a crash loses nothing: on start, events without a "done" record are
 * worked again (safe, because planning is idempotent). Intents are batched per destination for
 * the debounce window and flushed one batch at a time per destination.
 */

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Event } from '../core/event.js';
import type { Destination, Intent } from '../core/intent.js';
import type { Queue, QueueHandlers, QueueStats } from './types.js';
import { deliveryKey } from './types.js';

/** `setTimer` backed by the process's real timers. */
export const systemTimer: MemoryQueueOptions['setTimer'] = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return { cancel: () => clearTimeout(t) };
};

export interface MemoryQueueOptions {
  debounceMs: number;
  /** JSONL journal of accepted/done events; omit for a purely in-memory queue (tests, replay). */
  journalPath?: string;
  /** How long a delivery id is remembered for de-duplication. */
  dedupeTtlMs?: number;
  /** Most delivery ids remembered (oldest forgotten first). */
  dedupeMax?: number;
  /** Attempts for a batch whose flush throws (forge down), with backoff between them. */
  flushAttempts?: number;
  now: () => number;
  setTimer: (fn: () => void, ms: number) => { cancel(): void };
  onError?: (err: unknown, context: string) => void;
}

interface Batch {
  destination: Destination;
  intents: Intent[];
  events: Set<string>;
  timer?: { cancel(): void };
  /** Its debounce window has passed. */
  due: boolean;
}

interface Lane {
  waiting?: Batch;
  running?: Promise<void>;
}

type JournalRecord = { op: 'add'; key: string; event: Event } | { op: 'done'; key: string };

export class MemoryQueue implements Queue {
  private readonly seen = new Map<string, number>();
  private readonly remaining = new Map<string, number>();
  private readonly lanes = new Map<string, Lane>();
  private readonly backlog: { key: string; event: Event; attempt?: number }[] = [];
  /** Events whose routing failed, waiting to be tried again. */
  private retrying = 0;
  private handlers: QueueHandlers | undefined;
  private pump: Promise<void> | undefined;
  private draining = false;
  /** Events taken off the backlog and being routed right now. */
  private routing = 0;
  private journalFd: number | undefined;

  constructor(private readonly options: MemoryQueueOptions) {}

  stats(): QueueStats {
    let batches = 0;
    for (const lane of this.lanes.values()) batches += (lane.waiting ? 1 : 0) + (lane.running ? 1 : 0);
    return { pending: this.remaining.size + this.backlog.length + this.routing + this.retrying, batches };
  }

  private remember(key: string): void {
    const ttl = this.options.dedupeTtlMs ?? 24 * 3600_000;
    const max = this.options.dedupeMax ?? 100_000;
    const now = this.options.now();
    this.seen.delete(key);
    this.seen.set(key, now + ttl);
    while (this.seen.size > max) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
  }

  private isSeen(key: string): boolean {
    const until = this.seen.get(key);
    if (until === undefined) return false;
    if (until < this.options.now()) {
      this.seen.delete(key);
      return false;
    }
    return true;
  }

  /**
   * Append one record before the delivery is acknowledged. A synchronous append to an open fd
   * lands in the page cache in microseconds (it survives a process crash), where an async write
   * would cost a threadpool round trip per webhook. Throws if the disk refuses: the sender gets a
   * 5xx and retries, which is right for an event we could not keep.
   */
  private journal(record: JournalRecord): void {
    const path = this.options.journalPath;
    if (!path) return;
    if (this.journalFd === undefined) {
      mkdirSync(dirname(path), { recursive: true });
      this.journalFd = openSync(path, 'a', 0o600);
    }
    writeSync(this.journalFd, JSON.stringify(record) + '\n');
  }

  async enqueue(event: Event): Promise<'queued' | 'duplicate'> {
    if (this.draining) throw new Error('the queue is draining');
    const key = deliveryKey(event);
    if (this.isSeen(key)) return 'duplicate';
    this.remember(key);
    this.journal({ op: 'add', key, event });
    this.backlog.push({ key, event });
    this.kick();
    return 'queued';
  }

  async start(handlers: QueueHandlers): Promise<void> {
    this.handlers = handlers;
    const path = this.options.journalPath;
    if (path) {
      await mkdir(dirname(path), { recursive: true });
      const pending = await this.readJournal(path);
      // Compact: keep only what is still pending, so the journal does not grow without bound.
      const tmp = `${path}.tmp`;
      await writeFile(tmp, pending.map((p) => JSON.stringify({ op: 'add', ...p }) + '\n').join(''), { mode: 0o600 });
      await rename(tmp, path);
      for (const p of pending) {
        this.remember(p.key);
        this.backlog.push(p);
      }
    }
    this.kick();
  }

  private async readJournal(path: string): Promise<{ key: string; event: Event }[]> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return [];
    }
    const added = new Map<string, Event>();
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as JournalRecord;
        if (r.op === 'add') added.set(r.key, r.event);
        else added.delete(r.key);
      } catch {
        // A line torn by a crash mid-write: the event it held was never acknowledged.
      }
    }
    return [...added].map(([key, event]) => ({ key, event }));
  }

  private kick(): void {
    if (this.pump || !this.handlers) return;
    this.pump = this.work().finally(() => {
      this.pump = undefined;
      if (this.backlog.length > 0) this.kick();
    });
  }

  private async work(): Promise<void> {
    const handlers = this.handlers;
    if (!handlers) return;
    for (let next = this.backlog.shift(); next; next = this.backlog.shift()) {
      let routed: Awaited<ReturnType<QueueHandlers['route']>> = [];
      this.routing++;
      try {
        routed = await handlers.route(next.event);
      } catch (e) {
        // Routing reads the config from the forge; a forge outage must not lose the event.
        const attempt = (next.attempt ?? 0) + 1;
        const attempts = this.options.flushAttempts ?? 5;
        this.options.onError?.(e, `routing ${next.key} (attempt ${attempt}/${attempts})`);
        if (attempt < attempts && !this.draining) {
          const retry = { ...next, attempt };
          this.retrying++;
          this.options.setTimer(() => {
            this.retrying--;
            this.backlog.push(retry);
            this.kick();
          }, Math.min(30_000, 500 * 2 ** attempt));
        }
        // Out of attempts: left without a "done" record, so the next start works it again.
        continue;
      } finally {
        this.routing--;
      }
      const intents = routed.filter((r) => r.intents.length > 0);
      if (intents.length === 0) {
        await this.done(next.key);
        continue;
      }
      this.remaining.set(next.key, intents.length);
      for (const r of intents) this.addToBatch(r.key, r.destination, r.intents, next.key);
    }
  }

  private addToBatch(key: string, destination: Destination, intents: Intent[], eventKey: string): void {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = {};
      this.lanes.set(key, lane);
    }
    if (!lane.waiting) {
      const batch: Batch = { destination, intents: [], events: new Set(), due: false };
      lane.waiting = batch;
      // A fixed window from the first intent bounds latency; everything inside it is one commit.
      if (!this.draining)
        batch.timer = this.options.setTimer(() => {
          batch.due = true;
          this.release(key);
        }, this.options.debounceMs);
    }
    lane.waiting.intents.push(...intents);
    lane.waiting.events.add(eventKey);
    if (this.draining) this.release(key);
  }

  /** Move the waiting batch to running once the lane is free. */
  private release(key: string): void {
    const lane = this.lanes.get(key);
    if (!lane?.waiting || lane.running) return;
    const batch = lane.waiting;
    lane.waiting = undefined;
    batch.timer?.cancel();
    lane.running = this.run(batch).finally(() => {
      lane.running = undefined;
      // A batch whose window passed while this one ran goes next; otherwise its own timer releases it.
      if (lane.waiting && (this.draining || lane.waiting.due)) this.release(key);
      if (!lane.waiting && !lane.running) this.lanes.delete(key);
    });
  }

  private async run(batch: Batch): Promise<void> {
    const attempts = this.options.flushAttempts ?? 5;
    let written = false;
    for (let i = 1; i <= attempts && !written; i++) {
      try {
        await this.handlers?.flush(batch.destination, batch.intents);
        written = true;
      } catch (e) {
        this.options.onError?.(e, `flush attempt ${i}/${attempts}`);
        if (i < attempts && !this.draining) await new Promise<void>((r) => this.options.setTimer(r, Math.min(30_000, 500 * 2 ** i)));
      }
    }
    for (const ev of batch.events) {
      const left = (this.remaining.get(ev) ?? 1) - 1;
      if (left > 0) this.remaining.set(ev, left);
      else if (written) await this.done(ev);
      // Not written: no "done" record, so the journal replays the event on the next start.
      else this.remaining.delete(ev);
    }
  }

  private async done(key: string): Promise<void> {
    this.remaining.delete(key);
    this.journal({ op: 'done', key });
  }

  async drain(): Promise<void> {
    this.draining = true;
    for (;;) {
      await this.pump;
      for (const key of [...this.lanes.keys()]) this.release(key);
      const running = [...this.lanes.values()].map((l) => l.running).filter((p): p is Promise<void> => p !== undefined);
      if (running.length === 0 && !this.pump && this.backlog.length === 0) break;
      await Promise.all(running);
    }
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }
}
