/**
 * The embedded, single-process queue. Accepted events are appended to a journal before the webhook
 * is answered; an event is marked done only when every write it caused has landed. Failures are
 * retried with capped exponential backoff for as long as the event is younger than the retention
 * window (across restarts: the journal keeps when it was accepted); a permanent refusal, or running
 * out of retention, parks the event as a dead letter, listed and retryable. Intents are batched per
 * destination for the debounce window and flushed one batch at a time per destination.
 */

import { appendFileSync, closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Event } from '../core/event.js';
import type { Destination, Intent } from '../core/intent.js';
import { readJournal } from './journal.js';
import type { JournalRecord } from './journal.js';
import type { DeadLetter, FailureKind, Queue, QueueHandlers, QueueStats } from './types.js';
import { deliveryKey, displayKey } from './types.js';

/** `setTimer` backed by the process's real timers. */
export const systemTimer: MemoryQueueOptions['setTimer'] = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return { cancel: () => clearTimeout(t) };
};

/** The few pino methods the queue logs through. */
export interface QueueLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silent: QueueLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface MemoryQueueOptions {
  debounceMs: number;
  /** JSONL journal of accepted/done events; omit for a purely in-memory queue (tests, replay). */
  journalPath?: string;
  /** How long a finished delivery id is remembered for de-duplication (default 24 h). */
  dedupeTtlMs?: number;
  /** Most finished delivery ids remembered (oldest forgotten first; default 100,000). */
  dedupeMax?: number;
  /** How long a failing event is retried before it is parked as a dead letter (default 24 h). */
  retentionMs?: number;
  /** First retry delay; doubles per failure up to `retryMaxMs` (defaults 1 s and 5 min). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Rewrite the journal after this many appended records (default 10,000). */
  compactEvery?: number;
  /** Tells a retryable failure from a permanent one (default: everything is retryable). */
  classify?: (err: unknown) => FailureKind;
  now: () => number;
  random?: () => number;
  setTimer: (fn: () => void, ms: number) => { cancel(): void };
  log?: QueueLog;
  /** Told when an event is parked as a dead letter (ChatOps tells the commenter). */
  onPark?: (event: Event, reason: string) => void;
}

interface Entry {
  event: Event;
  acceptedAt: number;
  /** Destinations still to be written for this event. */
  remaining: number;
  failures: number;
}

interface DeadEntry {
  event: Event;
  acceptedAt: number;
  failedAt: number;
  reason: string;
}

interface BatchItem {
  eventKey: string;
  intents: Intent[];
}

interface Batch {
  destination: Destination;
  items: BatchItem[];
  timer?: { cancel(): void };
  /** Its debounce window (or retry delay) has passed. */
  due: boolean;
  failures: number;
}

interface Lane {
  waiting?: Batch;
  running?: Promise<void>;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class MemoryQueue implements Queue {
  private readonly seen = new Map<string, number>();
  private readonly entries = new Map<string, Entry>();
  private readonly dead = new Map<string, DeadEntry>();
  private readonly lanes = new Map<string, Lane>();
  private readonly backlog: string[] = [];
  /** Timers of events waiting for their next try: cancelled (left journaled) by drain. */
  private readonly retryTimers = new Map<{ cancel(): void }, () => void>();
  /** Events whose routing or write failed, waiting to be tried again. */
  private readonly retryingKeys = new Set<string>();
  private handlers: QueueHandlers | undefined;
  private pump: Promise<void> | undefined;
  private draining = false;
  private journalFd: number | undefined;
  /** While a background compaction runs: every line appended since its snapshot began, and its promise. */
  private compacting: { tail: string[]; tailRecords: number; done: Promise<void> } | undefined;
  private appended = 0;
  /** Records in the last snapshot written (compaction). */
  private snapshotRecords = 0;
  /** Journal records not written yet: at the end of the task when someone waits on one, else at the end of the loop turn. */
  private group: { lines: string[]; soon: boolean; written?: { promise: Promise<void>; resolve(): void; reject(err: unknown): void } } | undefined;
  /** Deliveries whose `add` record is being written: the same id arriving meanwhile waits for that write. */
  private readonly adding = new Map<string, Promise<void>>();
  private readonly log: QueueLog;
  private readonly random: () => number;

  constructor(private readonly options: MemoryQueueOptions) {
    this.log = options.log ?? silent;
    this.random = options.random ?? Math.random;
  }

  stats(): QueueStats {
    let batches = 0;
    for (const lane of this.lanes.values()) batches += (lane.waiting ? 1 : 0) + (lane.running ? 1 : 0);
    let oldest = Infinity;
    for (const e of this.entries.values()) oldest = Math.min(oldest, e.acceptedAt);
    return {
      pending: this.entries.size,
      batches,
      retrying: this.retryingKeys.size,
      dead: this.dead.size,
      oldestPendingMs: oldest === Infinity ? 0 : Math.max(0, this.options.now() - oldest),
    };
  }

  deadLetters(): DeadLetter[] {
    return [...this.dead].map(([key, d]) => ({
      id: displayKey(key),
      source: d.event.source,
      deliveryId: d.event.deliveryId,
      acceptedAt: d.acceptedAt,
      failedAt: d.failedAt,
      reason: d.reason,
    }));
  }

  private remember(key: string): void {
    const max = this.options.dedupeMax ?? 100_000;
    this.seen.delete(key);
    this.seen.set(key, this.options.now() + (this.options.dedupeTtlMs ?? 24 * 3600_000));
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
   * Append one record. Records are written in groups, in one synchronous `write` each. A record
   * someone waits on (a delivery's `add`, before its 202) goes out at the end of the task that
   * appended it (a microtask), with every record appended before it; records nobody waits on (`done`,
   * `dead`) wait for the end of the loop turn (`setImmediate`) unless such a write takes them first,
   * so the `done` records of all the events worked in one turn cost one write. Making deliveries wait
   * for the end of the turn too would group them across connections, but measured a server-side p99
   * ack of 4–6 ms instead of under 1 ms at 1,000 req/s. A synchronous append to an open fd lands in
   * the page cache in microseconds (it survives a process crash), where an async write would cost a
   * threadpool round trip. `wait`: the returned promise settles once the record is written (or
   * rejects if the disk refused it): what a delivery's 202 and a `retry` wait for. `done` and `dead`
   * records are not waited for: a crash before they are written only means the event is worked
   * again, which finds nothing left to do.
   */
  private journal(record: JournalRecord, wait: true): Promise<void>;
  private journal(record: JournalRecord, wait?: false): void;
  private journal(record: JournalRecord, wait = false): Promise<void> | void {
    if (!this.options.journalPath) return wait ? Promise.resolve() : undefined;
    let group = this.group;
    if (!group) {
      group = { lines: [], soon: false };
      this.group = group;
      setImmediate(() => this.writeGroup());
    }
    group.lines.push(JSON.stringify(record) + '\n');
    if (!wait) return;
    if (!group.soon) {
      // Someone waits on this record: the group goes out at the end of this task, with whatever
      // records not waited for are already in it (their order in the file is kept).
      group.soon = true;
      queueMicrotask(() => this.writeGroup());
    }
    if (!group.written) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      group.written = { promise, resolve, reject };
    }
    return group.written.promise;
  }

  /** Write the records appended since the last write, in one `write`, and settle whoever waits on them. */
  private writeGroup(): void {
    const group = this.group;
    if (!group) return;
    this.group = undefined;
    const path = this.options.journalPath;
    if (!path) return;
    try {
      if (this.journalFd === undefined) {
        mkdirSync(dirname(path), { recursive: true });
        this.journalFd = openSync(path, 'a', 0o600);
      }
      const text = group.lines.length === 1 ? (group.lines[0] ?? '') : group.lines.join('');
      writeSync(this.journalFd, text);
      if (this.compacting) {
        this.compacting.tail.push(text);
        this.compacting.tailRecords += group.lines.length;
      }
    } catch (err) {
      if (group.written) group.written.reject(err);
      else this.log.warn({ err: reasonOf(err), records: group.lines.length }, 'journal records could not be written; the events they finish are worked again after a restart');
      return;
    }
    group.written?.resolve();
    this.appended += group.lines.length;
    // Compaction costs the size of the snapshot, so it waits for at least that many new records: the
    // journal stays within twice its meaning, and each append pays a constant share of rewriting it.
    if (this.appended >= Math.max(this.options.compactEvery ?? 10_000, this.snapshotRecords) && !this.compacting) {
      const tail: string[] = [];
      this.compacting = { tail, tailRecords: 0, done: this.compactInBackground(path, tail).finally(() => (this.compacting = undefined)) };
    }
  }

  /** The journal's meaning now, as records: pending events, dead letters, finished ids still remembered. */
  private *snapshot(): Generator<string> {
    for (const [key, e] of this.entries) yield JSON.stringify({ op: 'add', key, event: e.event, at: e.acceptedAt } satisfies JournalRecord) + '\n';
    for (const [key, d] of this.dead) {
      yield JSON.stringify({ op: 'add', key, event: d.event, at: d.acceptedAt } satisfies JournalRecord) + '\n';
      yield JSON.stringify({ op: 'dead', key, at: d.failedAt, reason: d.reason } satisfies JournalRecord) + '\n';
    }
    const now = this.options.now();
    for (const [key, until] of this.seen) if (until >= now) yield JSON.stringify({ op: 'seen', key, until } satisfies JournalRecord) + '\n';
  }

  /**
   * Compaction while serving, without stalling webhooks: the snapshot is written to a scratch file in
   * slices, yielding to the event loop between them, while appends keep going to the journal and are
   * also kept in `tail`. Then, synchronously (so nothing slips in between), the tail is appended to
   * the scratch file and it replaces the journal. Replaying snapshot-then-tail gives the current
   * state: the tail holds every change made after the snapshot began, and each record applies on any
   * state the snapshot may have caught. On any error the journal is left as it was (only longer).
   */
  private async compactInBackground(path: string, tail: string[]): Promise<void> {
    const tmp = `${path}.tmp`;
    try {
      const file = await open(tmp, 'w', 0o600);
      let records = 0;
      try {
        let slice: string[] = [];
        for (const line of this.snapshot()) {
          records++;
          slice.push(line);
          if (slice.length >= 2_000) {
            await file.write(slice.join(''));
            slice = [];
          }
        }
        if (slice.length > 0) await file.write(slice.join(''));
      } finally {
        await file.close();
      }
      if (this.journalFd === undefined) throw new Error('the journal was closed during compaction');
      appendFileSync(tmp, tail.join(''));
      renameSync(tmp, path);
      closeSync(this.journalFd);
      this.journalFd = openSync(path, 'a', 0o600);
      this.appended = this.compacting?.tailRecords ?? 0;
      this.snapshotRecords = records;
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'journal compaction failed; the journal is kept as it is and compaction is tried again later');
      this.appended = 0;
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  /**
   * Rewrite the journal as what it means now: pending events, dead letters, and the finished ids
   * still remembered. Synchronous, so no append can slip between the snapshot and the rename: used at
   * start and at the end of a drain, when no webhook waits; while serving, compactInBackground.
   */
  private compact(): void {
    const path = this.options.journalPath;
    if (!path) return;
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp`;
    const records = [...this.snapshot()];
    writeFileSync(tmp, records.join(''), { mode: 0o600 });
    this.snapshotRecords = records.length;
    renameSync(tmp, path);
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = openSync(path, 'a', 0o600);
    this.appended = 0;
  }

  async enqueue(event: Event): Promise<'queued' | 'duplicate'> {
    if (this.draining) throw new Error('the queue is draining');
    const key = deliveryKey(event);
    const writing = this.adding.get(key);
    if (writing) {
      // The same id is being journaled: it is a duplicate once that write lands (a failed write fails this one too).
      await writing;
      return 'duplicate';
    }
    if (this.entries.has(key) || this.isSeen(key)) return 'duplicate';
    const acceptedAt = this.options.now();
    const written = this.journal({ op: 'add', key, event, at: acceptedAt }, true);
    this.adding.set(key, written);
    try {
      await written;
    } finally {
      this.adding.delete(key);
    }
    // Journaled while a drain began: the next start works it.
    if (this.draining) return 'queued';
    // A redelivery of a parked event is the sender asking again: work it.
    if (this.dead.delete(key)) this.log.info({ delivery: displayKey(key) }, 'redelivered dead letter taken back to work');
    this.entries.set(key, { event, acceptedAt, remaining: 0, failures: 0 });
    this.backlog.push(key);
    this.kick();
    return 'queued';
  }

  async retry(ids: string[] | 'all'): Promise<string[]> {
    const wanted = ids === 'all' ? [...this.dead.keys()] : [...this.dead.keys()].filter((k) => ids.includes(displayKey(k)) || ids.includes(k));
    // A retry gets a fresh retention window, as a redelivery would; it is taken back once journaled.
    const acceptedAt = this.options.now();
    const taken = wanted.flatMap((key) => {
      const d = this.dead.get(key);
      return d ? [{ key, event: d.event }] : [];
    });
    await Promise.all(taken.map(({ key, event }) => this.journal({ op: 'add', key, event, at: acceptedAt }, true)));
    for (const { key, event } of taken) {
      if (!this.dead.delete(key)) continue;
      this.entries.set(key, { event, acceptedAt, remaining: 0, failures: 0 });
      this.backlog.push(key);
    }
    this.kick();
    return taken.map(({ key }) => displayKey(key));
  }

  async start(handlers: QueueHandlers): Promise<void> {
    this.handlers = handlers;
    const path = this.options.journalPath;
    if (path) {
      await mkdir(dirname(path), { recursive: true });
      const state = await readJournal(path, { now: this.options.now(), dedupeTtlMs: this.options.dedupeTtlMs ?? 24 * 3600_000 });
      if (state.movedAside) this.log.error({ journal: state.movedAside.path, reason: state.movedAside.reason }, 'the queue journal could not be read; it was moved aside, not deleted — events in it were not replayed');
      if (state.empty > 0) this.log.warn({ records: state.empty }, 'journal records without an event were dropped');
      for (const [key, until] of state.seen) this.seen.set(key, until);
      for (const d of state.dead) this.dead.set(d.key, { event: d.event, acceptedAt: d.acceptedAt, failedAt: d.failedAt, reason: d.reason });
      for (const p of state.pending) {
        this.entries.set(p.key, { event: p.event, acceptedAt: p.acceptedAt, remaining: 0, failures: 0 });
        this.backlog.push(p.key);
      }
      this.compact();
      this.log.info({ events: state.pending.length, deadLetters: state.dead.length }, `replaying ${state.pending.length} journaled events`);
    }
    this.kick();
  }

  private kick(): void {
    if (this.pump || !this.handlers) return;
    this.pump = this.work().finally(() => {
      this.pump = undefined;
      if (this.backlog.length > 0) this.kick();
    });
  }

  private backoff(failures: number): number {
    const base = this.options.retryBaseMs ?? 1_000;
    const max = this.options.retryMaxMs ?? 300_000;
    return Math.round(Math.min(max, base * 2 ** (failures - 1)) * (0.5 + this.random()));
  }

  private expired(entry: { acceptedAt: number }): boolean {
    return this.options.now() - entry.acceptedAt > (this.options.retentionMs ?? 24 * 3600_000);
  }

  private later(key: string, delay: number, fn: () => void): void {
    this.retryingKeys.add(key);
    const fire = (): void => {
      this.retryTimers.delete(timer);
      this.retryingKeys.delete(key);
      fn();
    };
    const timer = this.options.setTimer(fire, delay);
    this.retryTimers.set(timer, fire);
  }

  wake(): void {
    if (this.draining) return;
    for (const [timer, fire] of [...this.retryTimers]) {
      timer.cancel();
      fire();
    }
  }

  private async work(): Promise<void> {
    const handlers = this.handlers;
    if (!handlers) return;
    for (let key = this.backlog.shift(); key !== undefined; key = this.backlog.shift()) {
      const entry = this.entries.get(key);
      if (!entry) continue;
      let routed: Awaited<ReturnType<QueueHandlers['route']>>;
      try {
        routed = await handlers.route(entry.event, { acceptedAt: entry.acceptedAt });
      } catch (e) {
        this.failed([key], e, 'routing', (keys) => {
          for (const k of keys) this.backlog.push(k);
          this.kick();
        });
        continue;
      }
      const groups = routed.filter((r) => r.intents.length > 0);
      if (groups.length === 0) {
        this.done(key);
        continue;
      }
      entry.remaining = groups.length;
      for (const r of groups) this.addToBatch(r.key, r.destination, [{ eventKey: key, intents: r.intents }], false);
    }
  }

  /**
   * Something failed for these events: park the ones refused for good or past retention, and try
   * the rest again after a backoff (`again` receives the keys still worth trying).
   */
  private failed(keys: string[], err: unknown, context: string, again: (keys: string[]) => void): void {
    const kind = this.options.classify?.(err) ?? 'retryable';
    const reason = reasonOf(err);
    const live: string[] = [];
    let failures = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (!entry) continue;
      entry.failures++;
      failures = Math.max(failures, entry.failures);
      if (kind === 'permanent') this.park(key, reason);
      else if (this.expired(entry)) this.park(key, `still failing after the retention window: ${reason}`);
      else live.push(key);
    }
    if (live.length === 0 || this.draining) return;
    const delay = this.backoff(failures);
    this.log.warn({ context, deliveries: live.map(displayKey), attempt: failures, retryInMs: delay, err: reason }, `${context} failed; trying again`);
    this.later(live.join('\n'), delay, () => again(live));
  }

  private addToBatch(key: string, destination: Destination, items: BatchItem[], due: boolean, failures = 0): void {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = {};
      this.lanes.set(key, lane);
    }
    if (!lane.waiting) {
      const batch: Batch = { destination, items: [], due, failures };
      lane.waiting = batch;
      // A fixed window from the first intent bounds latency; everything inside it is one commit.
      if (!due && !this.draining)
        batch.timer = this.options.setTimer(() => {
          batch.due = true;
          this.release(key);
        }, this.options.debounceMs);
    }
    const waiting = lane.waiting;
    waiting.items.push(...items);
    waiting.failures = Math.max(waiting.failures, failures);
    if (due) {
      waiting.due = true;
      waiting.timer?.cancel();
    }
    if (this.draining || waiting.due) this.release(key);
  }

  /** Move the waiting batch to running once the lane is free. */
  private release(key: string): void {
    const lane = this.lanes.get(key);
    if (!lane?.waiting || lane.running) return;
    const batch = lane.waiting;
    lane.waiting = undefined;
    batch.timer?.cancel();
    lane.running = this.run(key, batch).finally(() => {
      lane.running = undefined;
      // A batch whose window passed while this one ran goes next; otherwise its own timer releases it.
      if (lane.waiting && (this.draining || lane.waiting.due)) this.release(key);
      if (!lane.waiting && !lane.running) this.lanes.delete(key);
    });
  }

  private async run(laneKey: string, batch: Batch): Promise<void> {
    // Events parked or finished meanwhile (a retried dead letter, say) are no longer this batch's.
    const items = batch.items.filter((i) => this.entries.has(i.eventKey));
    if (items.length === 0) return;
    try {
      await this.handlers?.flush(batch.destination, items.flatMap((i) => i.intents));
    } catch (e) {
      if (this.draining) return; // left journaled without "done": the next start works it again
      const keys = [...new Set(items.map((i) => i.eventKey))];
      this.failed(keys, e, `writing ${laneKey}`, (live) => {
        const alive = new Set(live);
        const again = items.filter((i) => alive.has(i.eventKey));
        if (again.length > 0 && !this.draining) this.addToBatch(laneKey, batch.destination, again, true, batch.failures + 1);
      });
      return;
    }
    // One pass to count each event's items: a batch can hold thousands of events.
    const written = new Map<string, number>();
    for (const i of items) written.set(i.eventKey, (written.get(i.eventKey) ?? 0) + 1);
    for (const [key, n] of written) {
      const entry = this.entries.get(key);
      if (!entry) continue;
      entry.remaining -= n;
      if (entry.remaining <= 0) this.done(key);
    }
  }

  private done(key: string): void {
    this.entries.delete(key);
    this.remember(key);
    this.journal({ op: 'done', key, at: this.options.now() });
  }

  private park(key: string, reason: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const failedAt = this.options.now();
    this.dead.set(key, { event: entry.event, acceptedAt: entry.acceptedAt, failedAt, reason });
    this.journal({ op: 'dead', key, at: failedAt, reason });
    this.log.error({ delivery: displayKey(key), reason }, 'event parked as a dead letter; `baton retry` works it again');
    this.options.onPark?.(entry.event, reason);
  }

  async drain(deadlineMs = Infinity): Promise<void> {
    this.draining = true;
    for (const t of this.retryTimers.keys()) t.cancel();
    this.retryTimers.clear();
    this.retryingKeys.clear();
    const deadline = this.options.now() + deadlineMs;
    const work = (async () => {
      for (;;) {
        await this.pump;
        for (const key of [...this.lanes.keys()]) this.release(key);
        const running = [...this.lanes.values()].map((l) => l.running).filter((p): p is Promise<void> => p !== undefined);
        if (running.length === 0 && !this.pump) break;
        await Promise.all(running);
      }
    })();
    if (deadlineMs === Infinity) await work;
    else {
      let timer: { cancel(): void } | undefined;
      const timedOut = await Promise.race([
        work.then(() => false),
        new Promise<boolean>((r) => {
          timer = this.options.setTimer(() => r(true), Math.max(0, deadline - this.options.now()));
        }),
      ]);
      timer?.cancel();
      if (timedOut) this.log.warn({ pending: this.entries.size }, 'drain deadline reached; unfinished events stay journaled for the next start');
    }
    this.writeGroup();
    await this.compacting?.done;
    // Leave a compact journal for the next start (nothing is served any more: a synchronous rewrite is fine).
    if (this.journalFd !== undefined && this.appended > 0) this.compact();
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }
}
