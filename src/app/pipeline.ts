/** Wires routing, batching and the executor around a queue: the use case behind every webhook. */

import type { Logger } from 'pino';
import type { Event, Pushed } from '../core/event.js';
import { destinationKey } from '../core/intent.js';
import type { Destination, Intent, SetImage } from '../core/intent.js';
import type { Outcome } from '../core/outcome.js';
import { rollingBranch } from '../core/outcome.js';
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
import type { StatusStore } from './status.js';
import type { SkipReason } from '../core/changeset.js';
import { changesetDiff } from '../core/diff.js';
import { pathsOf, winners } from '../core/plan.js';
import { planLimits, planOffThread } from './offthread.js';
import { ForgeError } from '../forges/types.js';

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
  /** What became of each event per environment × image, for `/status` and `baton status`. */
  status?: StatusStore;
  /**
   * Observe only (BATON_DRY_RUN): route and plan as usual, log the diff a batch would write, write
   * nothing. The batch is then done; the queue does not keep it for later.
   */
  dryRun?: boolean;
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

/** A skip as the pipeline reports it: route's or plan's, with the event it came from. */
interface SkipNote {
  image: string;
  env: string;
  tag: string;
  reason: string;
  code: SkipReason;
  source: string;
  deliveryId: string;
  repository?: string;
}

/**
 * Whether a push can have changed what the config source reads (`.baton.yml`, the commands' state):
 * a push to the env repository's default branch. On the `git` forge the env repo is a URL or path,
 * matched on its last segments (a false match costs one extra read; a missed one waits for the TTL).
 */
export function pushMayChangeConfig(event: Pushed, forgeKind: Forge['kind'], envRepo: string): boolean {
  if (event.branch !== event.defaultBranch) return false;
  const path = event.repo.path.toLowerCase();
  if (forgeKind !== 'git') return forgeKind === event.repo.forge && envRepo.toLowerCase() === path;
  const tail = envRepo.toLowerCase().replace(/\/+$/, '').replace(/\.git$/, '');
  return tail === path || tail.endsWith(`/${path}`) || tail.endsWith(`:${path}`);
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
  async function dropStale(intents: Intent[], notes: string[], skipped: SkipNote[]): Promise<Intent[]> {
    const kept: Intent[] = [];
    for (const i of intents) {
      const at = i.cause.acceptedAt;
      if (i.type !== 'set-image') {
        kept.push(i);
        continue;
      }
      const mark = at === undefined || isOrdered(i.policy) ? undefined : await watermarks.get(i.env, i.image);
      if (mark !== undefined && at !== undefined && at < mark) {
        const reason = `${i.tag} comes from an event older than the one ${i.env} already runs (unordered policy ${i.policy.policy})`;
        notes.push(`${i.image}: ${reason}`);
        skipped.push({ image: i.image, env: i.env, tag: i.tag, reason, code: 'stale', source: i.cause.source, deliveryId: i.cause.deliveryId });
        continue;
      }
      kept.push(i);
    }
    return kept;
  }

  /** When each event was routed (by delivery), until its batch starts: the `window` stage. Bounded. */
  const routedAt = new Map<string, number>();
  const causeKey = (c: { source: string; deliveryId: string }): string => `${c.source}\u0000${c.deliveryId}`;
  /** One bump not made: logged at info with its reason, counted, and shown on `/status`. */
  function skip(s: SkipNote): void {
    log.info({ image: s.image || undefined, env: s.env || undefined, tag: s.tag || undefined, reason: s.code, delivery: s.deliveryId, source: s.source, ...(s.repository && { repository: s.repository }) }, `bump skipped: ${s.reason}`);
    deps.metrics?.skips.inc({ image: s.image, env: s.env, reason: s.code });
    const event = { source: s.source, deliveryId: s.deliveryId, tag: s.tag, result: 'skipped' as const, code: s.code, reason: s.reason };
    if (s.image === '') deps.status?.unmatched({ ...event, ...(s.repository && { repository: s.repository }) });
    else deps.status?.record(s.env, s.image, event);
  }

  const seen = new SeenBuilds();
  const previewDeps: PreviewDeps | undefined = deps.previews && { ...deps.previews, seen, logger: log };

  async function routeEvent(event: Event, meta?: EventMeta): Promise<{ routed: Routed[]; notes: string[] }> {
    // A push to the env repo's default branch may have changed .baton.yml: read it again now rather
    // than after the TTL. Pushes to app repositories leave it alone (one read per push would cost a
    // fetch or an API call each).
    if (event.type === 'push' && pushMayChangeConfig(event, deps.forge.kind, deps.repo)) config.invalidate();
    if (event.type === 'image-pushed' && isValidTag(event.tag)) seen.record(normalizeRepository(`${event.registry}/${event.repository}`), event.tag, event.digest);
    const table = await config.require();
    const stamp = (intents: Intent[]): Intent[] => (meta ? intents.map((i) => ({ ...i, cause: { ...i.cause, acceptedAt: meta.acceptedAt } })) : intents);
    if (event.type === 'comment' && deps.dryRun) return { routed: [], notes: ['BATON_DRY_RUN is set: /baton commands are not carried out'] };
    if (event.type === 'comment' && deps.commands) {
      const out = await deps.commands.handleComment(event, table, () => config.invalidate());
      return { routed: groupByDestination(stamp(out.intents)), notes: out.notes };
    }
    const result = route(event, table);
    const repository = event.type === 'image-pushed' ? `${event.registry}/${event.repository}` : undefined;
    for (const sk of result.skips ?? []) skip({ ...sk, source: event.source, deliveryId: event.deliveryId, ...(repository && { repository }) });
    for (const p of result.paused ?? []) deps.metrics?.pausedSkips.inc({ env: p.env });
    if (result.paused && result.paused.length > 0) await deps.onPaused?.(result.paused.map((p) => ({ intent: p.intent, reason: p.reason })));
    const released = previewDeps ? await releasedByBuild(event, table, previewDeps) : { intents: [], notes: [] };
    const checked = await checkBuilds([...result.intents, ...released.intents], previewDeps);
    return { routed: groupByDestination(stamp(checked)), notes: [...result.notes, ...released.notes] };
  }

  /** Fill in digests that pinning needs; an unresolved one stays absent and planning reports it. */
  /**
   * Digests to pin and source commits to trace, for the intents that can win the batch only: the
   * planner keeps one version per environment and image (by tag, policy and arrival, never by digest
   * or source), so a burst of 1,000 tags of one image asks the registry once, not 1,000 times. The
   * others go on as they came and are reported as superseded.
   */
  async function enrich(batch: Intent[]): Promise<Intent[]> {
    const chosen = new Set<Intent>(winners(batch.filter((i): i is SetImage => i.type === 'set-image')).win);
    const picked = batch.filter((i) => i.type !== 'set-image' || chosen.has(i));
    const digested = await withDigests(picked);
    const done = deps.resolveSource ? await deps.resolveSource(digested) : digested;
    const byOriginal = new Map<Intent, Intent>(picked.map((i, n) => [i, done[n] ?? i]));
    return batch.map((i) => byOriginal.get(i) ?? i);
  }

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

  /** Dry run: plan against the branch a write would go to and log the diff; nothing is written. */
  async function planOnly(destination: Destination, intents: Intent[]): Promise<Outcome & { diff: string }> {
    const rolling = destination.write === 'merge-request' ? rollingBranch(destination.env ?? 'unknown') : undefined;
    const onRolling = rolling !== undefined && (await deps.forge.headOf(deps.repo, rolling).catch((e: unknown) => (e instanceof ForgeError && e.status === 404 ? undefined : Promise.reject(e)))) !== undefined;
    const branch = rolling ?? destination.branch;
    const snap = await deps.forge.readFiles(deps.repo, onRolling && rolling ? rolling : destination.branch, pathsOf(intents));
    const cs = await planOffThread(intents, snap.files, { ...(deps.skipCi && { skipCi: true }), ...planLimits(deps.limits) });
    const diff = changesetDiff(cs, snap.files);
    log.info({ branch, head: snap.head, bumps: cs.bumps.map((b) => `${b.image} ${b.from ?? '∅'}→${b.to} (${b.env})`), diff }, cs.changes.length > 0 ? `dry run: would write to ${branch} (BATON_DRY_RUN is set; nothing is written)` : `dry run: nothing would change on ${branch}`);
    return { destination, branch, bumps: cs.bumps, skipped: cs.skipped, problems: cs.problems, attempts: 1, status: 'noop', diff, ...(cs.previews && { previews: cs.previews }) };
  }

  /** A batch that did not land: each environment × image it carried is shown as failed, with why. */
  function failedBatch(batch: Intent[], err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    for (const i of batch) if (i.type === 'set-image') deps.status?.record(i.env, i.image, { source: i.cause.source, deliveryId: i.cause.deliveryId, tag: i.tag, result: 'failed', reason });
  }

  /** What the batch did, per environment × image: written (with the commit), skipped and why, not written and why. */
  function recordOutcome(outcome: Outcome, intents: Intent[], diff: string | undefined): void {
    for (const sk of outcome.skipped) {
      const cause = sk.causes[0];
      skip({ image: sk.image, env: sk.env, tag: sk.tag, reason: sk.reason, code: sk.code ?? 'current', source: cause?.source ?? 'unknown', deliveryId: cause?.deliveryId ?? '' });
    }
    const done = new Set<string>();
    for (const b of outcome.bumps) {
      const cause = b.causes[0];
      done.add(`${b.env}\u0000${b.image}`);
      const base = { source: cause?.source ?? 'unknown', deliveryId: cause?.deliveryId ?? '', tag: b.to, branch: outcome.branch };
      if (diff !== undefined) deps.status?.record(b.env, b.image, { ...base, result: 'dry-run', diff });
      else if (outcome.status === 'committed') {
        deps.status?.record(b.env, b.image, { ...base, result: 'written', commit: outcome.commit, ...(outcome.mergeRequest && { mergeRequest: outcome.mergeRequest.url }) });
        deps.metrics?.setVersion(b.image, b.env, b.to);
      }
    }
    for (const p of outcome.problems) {
      for (const i of intents) {
        if (i.type !== 'set-image' || done.has(`${i.env}\u0000${i.image}`) || !i.targets.some((t) => t.file === p.path)) continue;
        done.add(`${i.env}\u0000${i.image}`);
        deps.status?.record(i.env, i.image, { source: i.cause.source, deliveryId: i.cause.deliveryId, tag: i.tag, result: 'failed', reason: p.message });
      }
    }
  }

  async function flush(destination: Destination, batch: Intent[]): Promise<Outcome> {
    try {
      return await flushBatch(destination, batch);
    } catch (err) {
      failedBatch(batch, err);
      throw err;
    }
  }

  async function flushBatch(destination: Destination, batch: Intent[]): Promise<Outcome> {
    const started = deps.now();
    for (const key of new Set(batch.map((i) => causeKey(i.cause)))) {
      const at = routedAt.get(key);
      if (at === undefined) continue;
      routedAt.delete(key);
      deps.metrics?.observeStage('window', (started - at) / 1000);
    }
    const notes: string[] = [];
    const stale: SkipNote[] = [];
    const fresh = await dropStale(batch, notes, stale);
    for (const sk of stale) skip(sk);
    // Commands are authorized again just before they write: a role may have been taken away meanwhile.
    const allowed = deps.commands && fresh.some((i) => i.cause.comment) ? await deps.commands.recheck(fresh, await config.table()) : fresh;
    const intents = await enrich(allowed);
    deps.metrics?.observeStage('prepare', (deps.now() - started) / 1000);
    if (deps.dryRun) {
      const planned = await planOnly(destination, intents);
      recordOutcome(planned, intents, planned.diff);
      return planned;
    }
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
      ...(deps.metrics && { onStage: (stage: 'read' | 'plan' | 'write', seconds: number) => deps.metrics?.observeStage(stage, seconds) }),
    });
    const finished = deps.now();
    deps.metrics?.observeOutcome(outcome, (finished - started) / 1000);
    if (outcome.status === 'committed') {
      // Once per event: a batch can carry several intents (and bumps) of the same delivery.
      const accepted = new Map<string, number>();
      for (const b of outcome.bumps) for (const c of b.causes) if (c.acceptedAt !== undefined) accepted.set(causeKey(c), c.acceptedAt);
      for (const at of accepted.values()) deps.metrics?.eventToCommit.observe(Math.max(0, (finished - at) / 1000));
    }
    recordOutcome(outcome, intents, undefined);
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
          // Work prepared while the debounce window is open: the branches this event will write are fetched now.
          for (const r of routed) {
            deps.forge.prefetch?.(deps.repo, r.destination.branch);
            if (r.destination.write === 'merge-request') deps.forge.prefetch?.(deps.repo, rollingBranch(r.destination.env ?? 'unknown'));
          }
          if (deps.metrics && routed.length > 0) {
            const now = deps.now();
            deps.metrics.observeStage('route', (now - meta.acceptedAt) / 1000);
            if (routedAt.size >= 10_000) routedAt.delete(routedAt.keys().next().value ?? '');
            routedAt.set(causeKey(event), now);
          }
          for (const r of routed) for (const i of r.intents) if (i.type === 'set-image') deps.status?.record(i.env, i.image, { source: i.cause.source, deliveryId: i.cause.deliveryId, tag: i.tag, result: 'pending' });
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
      // A dry run plans with what a real run writes: the digests to pin are resolved the same way.
      if (options.dryRun) return { routed: await Promise.all(routed.map(async (r) => ({ ...r, intents: await withDigests(r.intents) }))), notes, outcomes: [] };
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
