/** Wires routing, batching and the executor around a queue: the use case behind every webhook. */

import type { Logger } from 'pino';
import type { Event } from '../core/event.js';
import { destinationKey } from '../core/intent.js';
import type { Destination, Intent, SetImage } from '../core/intent.js';
import type { Outcome } from '../core/outcome.js';
import { route } from '../core/route.js';
import type { Forge } from '../forges/types.js';
import type { EventMeta, Queue, Routed } from '../queue/types.js';
import { isOrdered } from '../core/policy.js';
import { ConfigSource, describeMessages } from './config-source.js';
import type { ConfigPersistence } from './config-source.js';
import type { InputLimits } from './offthread.js';
import { execute } from './executor.js';
import { SeenBuilds, checkBuilds, releasedByBuild } from './previews.js';
import { isValidTag, normalizeRepository } from '../core/image-ref.js';
import type { PreviewDeps } from './previews.js';
import type { Metrics } from './metrics.js';
import { RollingLedger } from './rolling-ledger.js';
import type { LedgerStore } from './rolling-ledger.js';
import { Watermarks } from './watermarks.js';
import type { WatermarkStore } from './watermarks.js';
import type { Commands } from './commands.js';

export interface PipelineDeps {
  forge: Forge;
  repo: string;
  queue: Queue;
  logger: Logger;
  metrics?: Metrics;
  now: () => number;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  configTtlMs?: number;
  /** Keeps the last valid `.baton.yml` across restarts. */
  configPersistence?: ConfigPersistence;
  /** File remembering, per environment and image, the newest event written for unordered policies. */
  watermarksPath?: string;
  /** The rolling-MR ledger shared by replicas (Redis); replaces `rollingLedgerPath`. */
  ledger?: LedgerStore;
  /** Watermarks shared by replicas (Redis); replaces `watermarksPath`. */
  watermarks?: WatermarkStore;
  /** File remembering the causes of what each rolling `baton/<env>` branch proposes. */
  rollingLedgerPath?: string;
  skipCi?: boolean;
  /** Size caps of `.baton.yml` and target files, and when parsing moves off the event loop (#10). */
  limits?: InputLimits;
  /**
   * Resolves `repository:tag` to the digest the registry serves (the index digest for multi-arch
   * images). Used for `digest: pin` images whose event carried no digest.
   */
  resolveDigest?: (repository: string, tag: string) => Promise<string>;
  /** Before a batch is written: fill in each intent's source (`Baton-Source` trailer); the reporter provides it. */
  resolveSource?: (intents: Intent[]) => Promise<Intent[]>;
  /** Bumps not made because their environment is paused: the reporter tells the source MR. */
  onPaused?: (skipped: { intent: SetImage; reason: string }[]) => void | Promise<void>;
  /** Every event the queue accepts, before routing (the reporter settles deployments on CD statuses). */
  onEvent?: (event: Event) => void | Promise<void>;
  /** App-repo access for previews (MR lookups, CI state); without it every preview waits. */
  previews?: Omit<PreviewDeps, 'logger'>;
  /** `/baton` comment commands; without it, comments change nothing. */
  commands?: Commands;
  /** Called after every batch (reporter, tests). */
  onOutcome?: (outcome: Outcome) => void | Promise<void>;
}

export interface Pipeline {
  config: ConfigSource;
  queue: Queue;
  start(): Promise<void>;
  /** Route one event and write now, without the queue (CLI replay). */
  runNow(event: Event, options?: { dryRun?: boolean }): Promise<{ routed: Routed[]; notes: string[]; outcomes: Outcome[] }>;
  /** Write intents made outside routing (the sweep, `/baton preview`), builds checked first. */
  runIntents(intents: Intent[]): Promise<Outcome[]>;
}

export function groupByDestination(intents: Intent[]): Routed[] {
  const groups = new Map<string, Routed>();
  for (const i of intents) {
    const key = destinationKey(i.destination);
    const g = groups.get(key) ?? { key, destination: i.destination, intents: [] };
    g.intents.push(i);
    groups.set(key, g);
  }
  return [...groups.values()];
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const log = deps.logger;
  const config = new ConfigSource({
    forge: deps.forge,
    repo: deps.repo,
    ttlMs: deps.configTtlMs ?? 5_000,
    now: deps.now,
    ...(deps.limits && { limits: deps.limits }),
    ...(deps.configPersistence && { persist: deps.configPersistence }),
    onInvalid: (messages, revision, inForce) =>
      log.error(
        { revision, inForce, problems: describeMessages(messages) },
        inForce ? `.baton.yml is invalid; the last valid config (${inForce.slice(0, 12)}) stays in force` : '.baton.yml is invalid and no valid config was ever read: events stay queued until a valid one is pushed',
      ),
    // Events that waited for a config (or for the forge) are worth trying at once.
    onValid: () => deps.queue.wake?.(),
  });
  const watermarks: WatermarkStore = deps.watermarks ?? new Watermarks(deps.watermarksPath);
  const ledger: LedgerStore = deps.ledger ?? new RollingLedger(deps.rollingLedgerPath);
  const rolling = new Map<string, { base: string; head: string }>();

  /** Unordered policies: an event older than the one behind the version written does not roll it back. */
  async function dropStale(intents: Intent[], notes: string[]): Promise<Intent[]> {
    const kept: Intent[] = [];
    for (const i of intents) {
      const at = i.cause.acceptedAt;
      if (i.type !== 'set-image') {
        kept.push(i);
        continue;
      }
      const mark = at === undefined || isOrdered(i.policy) ? undefined : await watermarks.get(i.env, i.image);
      if (mark !== undefined && at !== undefined && at < mark) {
        notes.push(`${i.image}: ${i.tag} comes from an event older than the one ${i.env} already runs (unordered policy ${i.policy.policy})`);
        continue;
      }
      kept.push(i);
    }
    return kept;
  }

  const seen = new SeenBuilds();
  const previewDeps: PreviewDeps | undefined = deps.previews && { ...deps.previews, seen, logger: log };

  async function routeEvent(event: Event, meta?: EventMeta): Promise<{ routed: Routed[]; notes: string[] }> {
    // A push may have changed .baton.yml: read it again now rather than after the TTL.
    if (event.type === 'push') config.invalidate();
    if (event.type === 'image-pushed' && isValidTag(event.tag)) seen.record(normalizeRepository(`${event.registry}/${event.repository}`), event.tag, event.digest);
    const table = await config.require();
    const stamp = (intents: Intent[]): Intent[] => (meta ? intents.map((i) => ({ ...i, cause: { ...i.cause, acceptedAt: meta.acceptedAt } })) : intents);
    if (event.type === 'comment' && deps.commands) {
      const out = await deps.commands.handleComment(event, table, () => config.invalidate());
      return { routed: groupByDestination(stamp(out.intents)), notes: out.notes };
    }
    const result = route(event, table);
    for (const p of result.paused ?? []) deps.metrics?.pausedSkips.inc({ env: p.env });
    if (result.paused && result.paused.length > 0) await deps.onPaused?.(result.paused.map((p) => ({ intent: p.intent, reason: p.reason })));
    const released = previewDeps ? await releasedByBuild(event, table, previewDeps) : { intents: [], notes: [] };
    const checked = await checkBuilds([...result.intents, ...released.intents], previewDeps);
    return { routed: groupByDestination(stamp(checked)), notes: [...result.notes, ...released.notes] };
  }

  /** Fill in digests that pinning needs; an unresolved one stays absent and planning reports it. */
  async function withDigests(intents: Intent[]): Promise<Intent[]> {
    const resolve = deps.resolveDigest;
    if (!resolve) return intents;
    const cache = new Map<string, Promise<string | undefined>>();
    return Promise.all(
      intents.map(async (i) => {
        if (i.type !== 'set-image' || i.digestMode !== 'pin' || i.digest !== undefined) return i;
        const key = `${i.repository}:${i.tag}`;
        if (!cache.has(key)) {
          cache.set(
            key,
            resolve(i.repository, i.tag).catch((err: unknown) => {
              log.warn({ image: i.image, tag: i.tag, err: (err as Error).message }, 'could not resolve the digest to pin');
              return undefined;
            }),
          );
        }
        const digest = await cache.get(key);
        return digest ? { ...i, digest } : i;
      }),
    );
  }

  async function flush(destination: Destination, batch: Intent[]): Promise<Outcome> {
    const started = deps.now();
    const notes: string[] = [];
    const fresh = await dropStale(batch, notes);
    if (notes.length > 0) log.info({ branch: destination.branch, notes }, 'skipped events older than what is written');
    // Commands are authorized again just before they write: a role may have been taken away meanwhile.
    const allowed = deps.commands && fresh.some((i) => i.cause.comment) ? await deps.commands.recheck(fresh, await config.table()) : fresh;
    const digested = await withDigests(allowed);
    const intents = deps.resolveSource ? await deps.resolveSource(digested) : digested;
    const outcome = await execute(destination, intents, {
      forge: deps.forge,
      repo: deps.repo,
      random: deps.random,
      sleep: deps.sleep,
      ...(deps.skipCi && { skipCi: true }),
      scopeOf: (env) => config.latest?.scopeOf(env) ?? [],
      ledger,
      rolling,
      ...(deps.limits && { limits: deps.limits }),
    });
    deps.metrics?.observeOutcome(outcome, (deps.now() - started) / 1000);
    const landed = outcome.bumps.flatMap((b) => b.causes.flatMap((c) => (c.acceptedAt === undefined ? [] : [{ env: b.env, image: b.image, at: c.acceptedAt }])));
    await watermarks.advance(landed);
    const summary = {
      branch: outcome.branch,
      status: outcome.status,
      attempts: outcome.attempts,
      intents: intents.length,
      bumps: outcome.bumps.map((b) => `${b.image} ${b.from ?? '∅'}→${b.to} (${b.env})`),
      ...(outcome.status === 'committed' && { commit: outcome.commit }),
      ...(outcome.problems.length > 0 && { problems: outcome.problems.map((p) => p.message) }),
      ...(outcome.previews && { previews: outcome.previews.map((p) => `${p.name} ${p.state}: ${p.message}`) }),
    };
    if (outcome.problems.length > 0) log.warn(summary, 'some targets were not written');
    else if (outcome.previews?.some((p) => p.state === 'invalid')) log.warn(summary, 'a preview was not written: its template is invalid');
    else log.info(summary, outcome.status === 'committed' ? 'committed' : 'nothing to change');
    await deps.commands?.onOutcome(outcome);
    await deps.onOutcome?.(outcome);
    return outcome;
  }

  return {
    config,
    queue: deps.queue,
    async start() {
      await deps.queue.start({
        route: async (event, meta) => {
          await deps.onEvent?.(event);
          const { routed, notes } = await routeEvent(event, meta);
          if (notes.length > 0) log.info({ delivery: event.deliveryId, source: event.source, notes }, routed.length > 0 ? 'routed with notes' : 'no change for this event');
          return routed;
        },
        flush: async (destination, intents) => {
          await flush(destination, intents);
        },
      });
    },
    async runNow(event, options = {}) {
      const { routed, notes } = await routeEvent(event);
      if (options.dryRun) return { routed, notes, outcomes: [] };
      await deps.onEvent?.(event);
      const outcomes: Outcome[] = [];
      for (const r of routed) outcomes.push(await flush(r.destination, r.intents));
      return { routed, notes, outcomes };
    },
    async runIntents(intents) {
      const outcomes: Outcome[] = [];
      for (const r of groupByDestination(await checkBuilds(intents, previewDeps))) outcomes.push(await flush(r.destination, r.intents));
      return outcomes;
    },
  };
}
