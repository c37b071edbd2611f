/**
 * The Queue port on Redis (BullMQ + ioredis), for several replicas behind one load balancer.
 *
 * - An accepted event is a BullMQ job in the `events` queue (job id derived from its delivery id),
 *   added before the webhook is answered; a replica that dies mid-job leaves it to BullMQ's stalled
 *   check, which hands it to another replica.
 * - De-duplication is shared: a delivery is a duplicate while its job exists, while its intents wait
 *   in a batch, and for `dedupeTtlMs` after it finished (a `seen` key with a TTL).
 * - Routing puts each destination's intents in a per-destination hash and opens a debounce window
 *   (`SET NX PX`) whose id names the flush job: whichever replica routes an event of that window,
 *   the flush job id is the same, so the first add wins and the window is one commit.
 * - Writes to one destination are serialized across replicas by a lock (`SET NX PX` with an owner
 *   token, renewed while the write runs, released by a compare-and-delete script); a flush that
 *   finds the lock taken waits a moment in BullMQ's delayed set.
 * - Failures are classified like the embedded queue's: retryable ones back off (honouring the
 *   forge's Retry-After) while the event is younger than the retention window; the rest are parked
 *   in a dead-letter hash that `baton failed` lists and `baton retry` works again.
 *
 * `stats()` and `deadLetters()` are synchronous in the port: they answer from a snapshot refreshed in
 * the background; `problem()` says when Redis has not answered (readiness).
 */

import { createHash, randomUUID } from 'node:crypto';
import { DelayedError, Queue as BullQueue, Worker } from 'bullmq';
import type { ConnectionOptions, Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Event } from '../core/event.js';
import type { Destination, Intent } from '../core/intent.js';
import type { QueueLog } from './memory.js';
import type { WatermarkStore } from '../app/watermarks.js';
import type { LedgerStore } from '../app/rolling-ledger.js';
import { ledgerCauses } from '../app/rolling-ledger.js';
import type { Cause } from '../core/intent.js';
import type { DeadLetter, FailureKind, Queue, QueueHandlers, QueueStats } from './types.js';
import { deliveryKey, displayKey } from './types.js';

export interface RedisQueueOptions {
  url: string;
  /** Prefix of every key (BullMQ's and Baton's); replicas of one Baton share it. */
  prefix?: string;
  debounceMs: number;
  /** How long a finished delivery id is remembered for de-duplication (default 24 h). */
  dedupeTtlMs?: number;
  /** How long a failing event is retried before it is parked as a dead letter (default 24 h). */
  retentionMs?: number;
  /** First retry delay; doubles per failure up to `retryMaxMs` (defaults 1 s and 5 min). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  classify?: (err: unknown) => FailureKind;
  now?: () => number;
  random?: () => number;
  log?: QueueLog;
  onPark?: (event: Event, reason: string) => void;
  /** Bound on every Redis command Baton sends itself (default 5 s). */
  commandTimeoutMs?: number;
  /** Destination lock lifetime; renewed every third of it while a write runs (default 30 s). */
  lockMs?: number;
  /** BullMQ's job lock: a replica silent this long is presumed dead and its jobs go to others (default 30 s). */
  jobLockMs?: number;
  /** How often the snapshot behind `stats()` / `deadLetters()` is refreshed (default 1 s). */
  statsEveryMs?: number;
  /** Jobs one replica works at once (default 8; different destinations only, by the lock). */
  concurrency?: number;
}

interface EventJob {
  key: string;
  event: Event;
  acceptedAt: number;
  /** Arrival number across replicas (absent on jobs of an older version): the order inside a batch. */
  seq?: number;
  failures?: number;
}

interface FlushJob {
  laneKey: string;
  dest: string;
  destination: Destination;
  failures?: number;
}

interface Stored {
  event: Event;
  acceptedAt: number;
}

interface StoredDead extends Stored {
  failedAt: number;
  reason: string;
}

const silent: QueueLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

function sha(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}

/** Wait for `p`, at most `ms` (closing connections to a Redis that is away must not hang shutdown). */
async function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function retryAfterOf(err: unknown): number | undefined {
  const v = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

// --- Lua: each runs atomically on the Redis server -------------------------------------------------

/**
 * KEYS: seen, job hash, remaining, seq. ARGV: delivery key. 0 when a duplicate; when new, the event's
 * arrival number (one counter for every replica), which orders it inside its batch.
 */
const CHECK = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
return redis.call('INCR', KEYS[4])`;

/** KEYS: seen, remaining, pending, pendingAt, dead. ARGV: key, stored json, acceptedAt. 0 when already done or routed. */
const BEGIN = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[4], 'NX', ARGV[3], ARGV[1])
return 1`;

/**
 * KEYS: remaining, retrying, batches, seq. ARGV: key, groups, windowMs, candidate window id, then per
 * group: batch key, window key, dest id, intents json; last, the event's arrival number (or empty). Records the intents once (a re-run of the same
 * event finds them recorded) and returns, per group, the window id and the ms left in it.
 */
const ROUTE = `
local n = tonumber(ARGV[2])
local fresh = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0
if fresh then redis.call('HSET', KEYS[1], ARGV[1], n) end
redis.call('SREM', KEYS[2], ARGV[1])
local out = {}
for i = 0, n - 1 do
  local batch, win, dest, json = ARGV[5 + i*4], ARGV[6 + i*4], ARGV[7 + i*4], ARGV[8 + i*4]
  if fresh then
    local seq = ARGV[5 + n*4]
    if not seq or seq == '' then seq = redis.call('INCR', KEYS[4]) end
    redis.call('HSET', batch, ARGV[1], seq .. '\\n' .. json)
    redis.call('SADD', KEYS[3], dest)
  end
  local w = redis.call('GET', win)
  local left = redis.call('PTTL', win)
  if not w then
    w = ARGV[4]
    left = tonumber(ARGV[3])
    redis.call('SET', win, w, 'PX', ARGV[3])
  end
  if left < 0 then left = 0 end
  table.insert(out, w)
  table.insert(out, left)
end
return out`;

/** KEYS: remaining, pending, pendingAt, retrying. ARGV: key, seen key, ttl ms. Marks an event finished. */
const DONE = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('SET', ARGV[2], '1', 'PX', ARGV[3])
return 1`;

/**
 * KEYS: batch, remaining, pending, pendingAt, retrying, batches. ARGV: dest id, ttl ms, then pairs of
 * (key, seen key). A write landed: each item is taken out of the batch once, and an event whose every
 * destination landed is finished. Returns the keys finished.
 */
const LANDED = `
local finished = {}
for i = 3, #ARGV, 2 do
  local k, seen = ARGV[i], ARGV[i + 1]
  if redis.call('HDEL', KEYS[1], k) == 1 then
    local left = redis.call('HINCRBY', KEYS[2], k, -1)
    if left <= 0 then
      redis.call('HDEL', KEYS[2], k)
      redis.call('HDEL', KEYS[3], k)
      redis.call('ZREM', KEYS[4], k)
      redis.call('SREM', KEYS[5], k)
      redis.call('SET', seen, '1', 'PX', ARGV[2])
      table.insert(finished, k)
    end
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[6], ARGV[1]) end
return finished`;

/**
 * KEYS: remaining, pending, pendingAt, retrying, dead, batch, batches. ARGV: key, failedAt, reason,
 * dest id. Parks an event, taking it out of the batch that failed (its intents left in other batches
 * are dropped by their flush). Returns the stored event or nil.
 */
const PARK = `
redis.call('HDEL', KEYS[6], ARGV[1])
if redis.call('HLEN', KEYS[6]) == 0 then redis.call('SREM', KEYS[7], ARGV[4]) end
local stored = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
if not stored then return nil end
local d = cjson.decode(stored)
d['failedAt'] = tonumber(ARGV[2])
d['reason'] = ARGV[3]
redis.call('HSET', KEYS[5], ARGV[1], cjson.encode(d))
return stored`;

/** KEYS: marks hash. ARGV: pairs of (field, at). Raise each mark, never lower it. */
const ADVANCE = `
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1`;

/** KEYS: lock. ARGV: token, ms. Renew only a lock this owner holds. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/** KEYS: lock. ARGV: token. Release only a lock this owner holds (never one that expired and was taken). */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const SCRIPTS: Record<string, string> = { CHECK, BEGIN, ROUTE, DONE, LANDED, PARK, ADVANCE, RENEW, RELEASE };

export class RedisQueue implements Queue {
  private readonly prefix: string;
  private readonly cmd: Redis;
  private readonly events: BullQueue;
  private readonly flushes: BullQueue;
  private workers: Worker[] = [];
  private handlers: QueueHandlers | undefined;
  private draining = false;
  private closed = false;
  private snapshot: { stats: QueueStats; dead: DeadLetter[] } = { stats: { pending: 0, batches: 0, retrying: 0, dead: 0, oldestPendingMs: 0 }, dead: [] };
  private lastProblem: string | undefined = 'Redis has not answered yet';
  private statsTimer: NodeJS.Timeout | undefined;
  private readonly log: QueueLog;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly owner = randomUUID();
  private readonly active = new Set<Promise<unknown>>();

  constructor(private readonly options: RedisQueueOptions) {
    this.prefix = options.prefix ?? 'baton';
    this.log = options.log ?? silent;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    // Baton's own commands: each bounded; failing fast while Redis is away (the webhook gets a 503).
    this.cmd = new Redis(options.url, { ...this.bounded(), maxRetriesPerRequest: 1, enableOfflineQueue: true, lazyConnect: false });
    this.cmd.on('error', (err: Error) => this.note(`Redis: ${err.message}`));
    // Scripts are sent once and then called by their SHA (ioredis re-sends one Redis forgot).
    for (const [name, lua] of Object.entries(SCRIPTS)) this.cmd.defineCommand(`baton${name}`, { lua });
    // BullMQ's producer connection is bounded too; only workers' blocking connections are not.
    const producer: ConnectionOptions = { url: options.url, ...this.bounded(), maxRetriesPerRequest: 1 };
    this.events = new BullQueue('events', { connection: producer, prefix: this.prefix });
    this.flushes = new BullQueue('flush', { connection: producer, prefix: this.prefix });
    for (const q of [this.events, this.flushes]) q.on('error', (err: Error) => this.note(`Redis: ${err.message}`));
  }

  private bounded(): { connectTimeout: number; commandTimeout: number; retryStrategy: (times: number) => number } {
    return {
      connectTimeout: this.options.commandTimeoutMs ?? 5_000,
      commandTimeout: this.options.commandTimeoutMs ?? 5_000,
      retryStrategy: (times) => Math.min(times * 200, 2_000),
    };
  }

  /** Run one of the scripts above: keys first (`numKeys` of them), then arguments. */
  private script(name: keyof typeof SCRIPTS & string, numKeys: number, ...args: string[]): Promise<unknown> {
    const fn = (this.cmd as unknown as Record<string, (n: number, ...a: string[]) => Promise<unknown>>)[`baton${name}`];
    if (!fn) throw new Error(`no script ${name}`);
    return fn.call(this.cmd, numKeys, ...args);
  }

  private note(problem: string): void {
    if (this.lastProblem === undefined) this.log.warn({ problem }, 'the Redis queue is unreachable');
    this.lastProblem = problem;
  }

  private k(name: string): string {
    return `${this.prefix}:q:${name}`;
  }

  private seenKey(key: string): string {
    return this.k(`seen:${sha(key)}`);
  }

  private jobId(key: string): string {
    return `e-${sha(key)}`;
  }

  private dedupeTtl(): number {
    return this.options.dedupeTtlMs ?? 24 * 3600_000;
  }

  /** Why the queue cannot take work now (Redis unreachable), or undefined. */
  problem(): string | undefined {
    if (this.cmd.status !== 'ready') return this.lastProblem ?? `Redis connection is ${this.cmd.status}`;
    return this.lastProblem;
  }

  stats(): QueueStats {
    return this.snapshot.stats;
  }

  deadLetters(): DeadLetter[] {
    return this.snapshot.dead;
  }

  /** Read the counts and dead letters now (the background refresh calls this). */
  async refresh(): Promise<void> {
    const r = await this.cmd
      .multi()
      .zcard(this.k('pendingAt'))
      .zrange(this.k('pendingAt'), '0', '0', 'WITHSCORES')
      .scard(this.k('retrying'))
      .hgetall(this.k('dead'))
      .scard(this.k('batches'))
      .exec();
    if (!r) throw new Error('Redis transaction aborted');
    for (const [err] of r) if (err) throw err;
    const pending = Number(r[0]?.[1] ?? 0);
    const oldestAt = Number((r[1]?.[1] as string[] | undefined)?.[1] ?? NaN);
    const deadRaw = (r[3]?.[1] ?? {}) as Record<string, string>;
    const dead: DeadLetter[] = [];
    for (const [key, json] of Object.entries(deadRaw)) {
      try {
        const d = JSON.parse(json) as StoredDead;
        dead.push({ id: displayKey(key), source: d.event.source, deliveryId: d.event.deliveryId, acceptedAt: d.acceptedAt, failedAt: d.failedAt, reason: d.reason });
      } catch {
        dead.push({ id: displayKey(key), source: key.split('\u0000')[0] ?? '', deliveryId: key.split('\u0000')[1] ?? '', acceptedAt: 0, failedAt: 0, reason: 'unreadable dead-letter record' });
      }
    }
    dead.sort((a, b) => a.failedAt - b.failedAt);
    this.snapshot = {
      stats: {
        pending,
        batches: Number(r[4]?.[1] ?? 0),
        retrying: Number(r[2]?.[1] ?? 0),
        dead: dead.length,
        oldestPendingMs: Number.isFinite(oldestAt) ? Math.max(0, this.now() - oldestAt) : 0,
      },
      dead,
    };
    if (this.lastProblem !== undefined) this.log.info({}, 'the Redis queue answers again');
    this.lastProblem = undefined;
  }

  private startRefreshing(): void {
    if (this.statsTimer) return;
    const every = this.options.statsEveryMs ?? 1_000;
    const tick = (): void => {
      void this.refresh()
        .catch((err: unknown) => this.note(`Redis: ${reasonOf(err)}`))
        .finally(() => {
          if (!this.closed) this.statsTimer = setTimeout(tick, every);
        });
    };
    this.statsTimer = setTimeout(tick, every);
    this.statsTimer.unref();
  }

  async enqueue(event: Event): Promise<'queued' | 'duplicate'> {
    if (this.draining) throw new Error('the queue is draining');
    const key = deliveryKey(event);
    const jobId = this.jobId(key);
    const seq = Number(await this.script('CHECK', 4, this.seenKey(key), `${this.prefix}:events:${jobId}`, this.k('remaining'), this.k('seq'), key));
    if (!(seq > 0)) return 'duplicate';
    await this.addEvent(key, event, this.now(), seq);
    return 'queued';
  }

  /** The durable part of accepting: the job (idempotent by id), then the pending record for stats. */
  private async addEvent(key: string, event: Event, acceptedAt: number, seq?: number): Promise<void> {
    const data: EventJob = { key, event, acceptedAt, ...(seq !== undefined && { seq }) };
    await this.events.add('event', data, { jobId: this.jobId(key), removeOnComplete: true, removeOnFail: false, attempts: 1_000_000, backoff: { type: 'custom' } });
    // The job is what keeps the event; this record only feeds stats and dead letters early, and the
    // worker writes it too when it begins (BEGIN), so the webhook does not wait for it.
    const stored: Stored = { event, acceptedAt };
    void this.cmd
      .multi()
      .hdel(this.k('dead'), key)
      .hsetnx(this.k('pending'), key, JSON.stringify(stored))
      .zadd(this.k('pendingAt'), 'NX', String(acceptedAt), key)
      .exec()
      .catch(() => undefined);
  }

  async retry(ids: string[] | 'all'): Promise<string[]> {
    const all = (await this.cmd.hgetall(this.k('dead'))) as Record<string, string>;
    const wanted = Object.keys(all).filter((k) => ids === 'all' || ids.includes(displayKey(k)) || ids.includes(k));
    const done: string[] = [];
    for (const key of wanted) {
      let d: StoredDead;
      try {
        d = JSON.parse(all[key] ?? '') as StoredDead;
      } catch {
        continue;
      }
      // A retry gets a fresh retention window, as a redelivery would.
      await this.addEvent(key, d.event, this.now());
      done.push(displayKey(key));
    }
    if (done.length > 0) this.log.info({ retried: done }, 'dead letters taken back to work');
    await this.refresh().catch(() => undefined);
    return done;
  }

  async start(handlers: QueueHandlers): Promise<void> {
    this.handlers = handlers;
    const connection: ConnectionOptions = { url: this.options.url, connectTimeout: this.options.commandTimeoutMs ?? 5_000, maxRetriesPerRequest: null, retryStrategy: (times: number) => Math.min(times * 200, 2_000) };
    const common = {
      connection,
      prefix: this.prefix,
      concurrency: this.options.concurrency ?? 8,
      lockDuration: this.options.jobLockMs ?? 30_000,
      stalledInterval: Math.max(1_000, Math.round((this.options.jobLockMs ?? 30_000) / 2)),
      // A job whose replica died is handed on, however often that happens: never failed for it.
      maxStalledCount: 1_000_000,
      settings: { backoffStrategy: (attempts: number) => this.backoff(attempts) },
    };
    const events = new Worker<EventJob>('events', (job, token) => this.track(this.routeJob(job, token)), { ...common, name: `baton-${this.owner}` });
    const flushes = new Worker<FlushJob>('flush', (job, token) => this.track(this.flushJob(job, token)), { ...common, name: `baton-${this.owner}` });
    for (const w of [events, flushes]) {
      w.on('error', (err: Error) => this.note(`Redis: ${err.message}`));
      w.on('failed', (job, err) => this.log.error({ job: job?.id, err: err.message }, 'a queue job failed unexpectedly; BullMQ tries it again'));
    }
    this.workers = [events, flushes];
    await this.refresh().catch((err: unknown) => this.note(`Redis: ${reasonOf(err)}`));
    this.startRefreshing();
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.active.add(p);
    void p.catch(() => undefined).finally(() => this.active.delete(p));
    return p;
  }

  private backoff(failures: number): number {
    const base = this.options.retryBaseMs ?? 1_000;
    const max = this.options.retryMaxMs ?? 300_000;
    return Math.round(Math.min(max, base * 2 ** Math.max(0, failures - 1)) * (0.5 + this.random()));
  }

  private expired(acceptedAt: number): boolean {
    return this.now() - acceptedAt > (this.options.retentionMs ?? 24 * 3600_000);
  }

  private async park(key: string, reason: string, dest = 'none'): Promise<void> {
    const stored = (await this.script('PARK', 7, this.k('remaining'), this.k('pending'), this.k('pendingAt'), this.k('retrying'), this.k('dead'), this.k(`batch:${dest}`), this.k('batches'), key, String(this.now()), reason, dest)) as string | null;
    if (!stored) return;
    this.log.error({ delivery: displayKey(key), reason }, 'event parked as a dead letter; `baton retry` works it again');
    try {
      this.options.onPark?.((JSON.parse(stored) as Stored).event, reason);
    } catch {
      // Telling someone is best effort.
    }
  }

  /**
   * Something failed for these events: park those refused for good or past retention; for the rest,
   * put the job back in the delayed set after a backoff (at least what Retry-After asked).
   */
  private async failed(job: Job<EventJob> | Job<FlushJob>, token: string | undefined, keys: { key: string; acceptedAt: number }[], err: unknown, context: string, dest?: string): Promise<void> {
    const kind = this.options.classify?.(err) ?? 'retryable';
    const reason = reasonOf(err);
    const live: string[] = [];
    for (const { key, acceptedAt } of keys) {
      if (kind === 'permanent') await this.park(key, reason, dest);
      else if (this.expired(acceptedAt)) await this.park(key, `still failing after the retention window: ${reason}`, dest);
      else live.push(key);
    }
    if (live.length === 0) return;
    const failures = (job.data.failures ?? 0) + 1;
    const delay = Math.max(this.backoff(failures), retryAfterOf(err) ?? 0);
    this.log.warn({ context, deliveries: live.map(displayKey), attempt: failures, retryInMs: delay, err: reason }, `${context} failed; trying again`);
    await this.cmd.sadd(this.k('retrying'), ...live);
    await job.updateData({ ...job.data, failures } as never);
    await job.moveToDelayed(Date.now() + delay, token);
    throw new DelayedError();
  }

  private async routeJob(job: Job<EventJob>, token: string | undefined): Promise<void> {
    const handlers = this.handlers;
    if (!handlers) throw new Error('the queue has not started');
    const { key, event, acceptedAt } = job.data;
    const stored: Stored = { event, acceptedAt };
    const begun = await this.script('BEGIN', 5, this.seenKey(key), this.k('remaining'), this.k('pending'), this.k('pendingAt'), this.k('dead'), key, JSON.stringify(stored), String(acceptedAt));
    // Already finished, or already routed by a replica that died before it could complete the job.
    const rerun = Number(begun) !== 1;
    if (rerun && (await this.cmd.exists(this.seenKey(key))) === 1) return;
    let routed: Awaited<ReturnType<QueueHandlers['route']>>;
    try {
      routed = await handlers.route(event, { acceptedAt });
    } catch (e) {
      await this.failed(job, token, [{ key, acceptedAt }], e, 'routing');
      return;
    }
    const groups = routed.filter((r) => r.intents.length > 0);
    if (groups.length === 0) {
      await this.script('DONE', 4, this.k('remaining'), this.k('pending'), this.k('pendingAt'), this.k('retrying'), key, this.seenKey(key), String(this.dedupeTtl()));
      return;
    }
    const debounce = Math.max(1, this.options.debounceMs);
    const args: string[] = [key, String(groups.length), String(debounce), randomUUID().replace(/-/g, '')];
    const dests = groups.map((g) => ({ g, dest: sha(g.key) }));
    for (const { g, dest } of dests) args.push(this.k(`batch:${dest}`), this.k(`win:${dest}`), dest, JSON.stringify(g.intents));
    args.push(job.data.seq === undefined ? '' : String(job.data.seq));
    const out = (await this.script('ROUTE', 4, this.k('remaining'), this.k('retrying'), this.k('batches'), this.k('seq'), ...args)) as (string | number)[];
    for (let i = 0; i < dests.length; i++) {
      const { g, dest } = dests[i] as (typeof dests)[number];
      const window = String(out[i * 2]);
      const left = this.draining ? 0 : Number(out[i * 2 + 1]);
      const data: FlushJob = { laneKey: g.key, dest, destination: g.destination };
      // Same window, same job id: whichever replica adds it first, the window is one flush.
      await this.flushes.add('flush', data, { jobId: `f-${dest}-${window}`, delay: left, removeOnComplete: true, removeOnFail: false, attempts: 1_000_000, backoff: { type: 'custom' } });
    }
  }

  private async flushJob(job: Job<FlushJob>, token: string | undefined): Promise<void> {
    const handlers = this.handlers;
    if (!handlers) throw new Error('the queue has not started');
    const { dest, destination, laneKey } = job.data;
    const lock = this.k(`lock:${dest}`);
    const lockMs = this.options.lockMs ?? 30_000;
    const mine = randomUUID();
    if ((await this.cmd.set(lock, mine, 'PX', lockMs, 'NX')) !== 'OK') {
      // Another replica writes this destination now: come back in a moment, after its write.
      await job.moveToDelayed(Date.now() + 50 + Math.round(this.random() * 150), token);
      throw new DelayedError();
    }
    const renew = setInterval(() => {
      void this.script('RENEW', 1, lock, mine, String(lockMs))
        .then((ok) => {
          if (Number(ok) !== 1) this.log.error({ destination: laneKey }, 'the destination lock was lost during a write; the forge’s compare-and-swap still refuses a conflicting push');
        })
        .catch(() => undefined);
    }, Math.max(100, Math.floor(lockMs / 3)));
    try {
      const batchKey = this.k(`batch:${dest}`);
      const raw = (await this.cmd.hgetall(batchKey)) as Record<string, string>;
      const keys = Object.keys(raw);
      if (keys.length === 0) return;
      // Events parked or finished meanwhile are no longer this batch's.
      const live = await this.cmd.hmget(this.k('remaining'), ...keys);
      const gone = keys.filter((_, i) => live[i] === null);
      if (gone.length > 0) await this.cmd.hdel(batchKey, ...gone);
      const items = keys
        .filter((_, i) => live[i] !== null)
        .map((key) => {
          const v = raw[key] ?? '';
          const nl = v.indexOf('\n');
          return { key, seq: Number(v.slice(0, nl)), intents: JSON.parse(v.slice(nl + 1)) as Intent[] };
        })
        .sort((a, b) => a.seq - b.seq);
      if (items.length === 0) {
        await this.script('LANDED', 6, batchKey, this.k('remaining'), this.k('pending'), this.k('pendingAt'), this.k('retrying'), this.k('batches'), dest, String(this.dedupeTtl()));
        return;
      }
      try {
        await handlers.flush(destination, items.flatMap((i) => i.intents));
      } catch (e) {
        const accepted = await this.cmd.hmget(this.k('pending'), ...items.map((i) => i.key));
        const keysAt = items.map((i, n) => {
          let at = this.now();
          try {
            at = (JSON.parse(accepted[n] ?? '') as Stored).acceptedAt;
          } catch {
            // No record: counts as accepted now.
          }
          return { key: i.key, acceptedAt: at };
        });
        await this.failed(job, token, keysAt, e, `writing ${laneKey}`, dest);
        return;
      }
      const args: string[] = [dest, String(this.dedupeTtl())];
      for (const i of items) args.push(i.key, this.seenKey(i.key));
      await this.script('LANDED', 6, batchKey, this.k('remaining'), this.k('pending'), this.k('pendingAt'), this.k('retrying'), this.k('batches'), ...args);
    } finally {
      clearInterval(renew);
      await this.script('RELEASE', 1, lock, mine).catch(() => undefined);
    }
  }

  /**
   * The watermarks of unordered policies, shared by every replica: an older event worked late on
   * one replica must not roll back what another wrote from a newer one.
   */
  watermarks(): WatermarkStore {
    const key = this.k('watermarks');
    return {
      get: async (env, image) => {
        const v = await this.cmd.hget(key, `${env}\u0000${image}`);
        return v === null ? undefined : Number(v);
      },
      advance: async (entries) => {
        if (entries.length === 0) return;
        await this.script('ADVANCE', 1, key, ...entries.flatMap((e) => [`${e.env}\u0000${e.image}`, String(e.at)]));
      },
    };
  }

  /**
   * Why each version on a rolling branch is there, shared by every replica (one hash per
   * environment; written under the destination lock, so never by two replicas at once).
   */
  ledger(): LedgerStore {
    const key = (env: string): string => this.k(`ledger:${sha(env)}`);
    return {
      causes: async (env, image, to) => {
        const v = await this.cmd.hget(key(env), image);
        if (v === null) return [];
        try {
          const entry = JSON.parse(v) as { to: string; causes: Cause[] };
          return to !== undefined && entry.to !== to ? [] : entry.causes;
        } catch {
          return [];
        }
      },
      record: async (env, bumps, fresh) => {
        const m = this.cmd.multi();
        if (fresh) m.del(key(env));
        for (const b of bumps) {
          const real = ledgerCauses(b);
          if (real.length > 0) m.hset(key(env), b.image, JSON.stringify({ to: b.to, causes: real }));
        }
        await m.exec();
      },
    };
  }

  wake(): void {
    if (this.draining) return;
    // Jobs backing off after a failure are tried now (debounce windows are left alone).
    void (async () => {
      for (const q of [this.events, this.flushes]) {
        for (const job of await q.getDelayed(0, 999)) if ((job.data as { failures?: number }).failures) await job.promote().catch(() => undefined);
      }
    })().catch(() => undefined);
  }

  async drain(deadlineMs = Infinity): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + Math.min(deadlineMs, 2_147_000_000);
    const work = async (): Promise<void> => {
      // Waiting debounce windows are written now rather than left to the window (any replica takes them).
      for (;;) {
        if (this.problem() !== undefined) return; // Redis is away: what is unfinished stays there
        const delayed = await this.flushes.getDelayed(0, 999).catch(() => []);
        for (const job of delayed) if (!(job.data as FlushJob).failures) await job.promote().catch(() => undefined);
        // Jobs ready and not yet taken, and this replica's own running ones (other replicas finish theirs).
        const counts = await Promise.all([this.events.getJobCounts('waiting', 'prioritized'), this.flushes.getJobCounts('waiting', 'prioritized')]).catch(() => undefined);
        const busy = counts ? counts.reduce((n, c) => n + (c['waiting'] ?? 0) + (c['prioritized'] ?? 0), 0) : 0;
        const delayedDue = delayed.filter((j) => !(j.data as FlushJob).failures).length;
        if (busy === 0 && delayedDue === 0 && this.active.size === 0) return;
        if (Date.now() > deadline) return;
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    if (this.workers.length > 0) await atMost(work(), Math.max(0, deadline - Date.now()));
    // Whatever is unfinished stays in Redis: another replica, or this one's next start, takes it.
    const away = this.problem() !== undefined;
    await atMost(Promise.all(this.workers.map((w) => w.close(away))), away ? 1_000 : Math.max(0, Math.min(deadline - Date.now(), 30_000)));
    await this.close();
  }

  /** Close every connection (tests; `drain` calls it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.statsTimer) clearTimeout(this.statsTimer);
    await atMost(Promise.all(this.workers.map((w) => w.close(true))), 2_000);
    await atMost(Promise.all([this.events.close(), this.flushes.close()]), 2_000);
    this.cmd.disconnect();
    for (const w of this.workers) void w.disconnect().catch(() => undefined);
    for (const q of [this.events, this.flushes]) void q.disconnect().catch(() => undefined);
  }
}
