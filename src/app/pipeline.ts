/** Wires routing, batching and the executor around a queue: the use case behind every webhook. */

import type { Logger } from 'pino';
import type { Event } from '../core/event.js';
import { destinationKey } from '../core/intent.js';
import type { Destination, Intent, SetImage } from '../core/intent.js';
import type { Outcome } from '../core/outcome.js';
import { route } from '../core/route.js';
import type { Forge } from '../forges/types.js';
import type { Queue, Routed } from '../queue/types.js';
import { ConfigSource, describeMessages } from './config-source.js';
import { execute } from './executor.js';
import type { Metrics } from './metrics.js';
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
  skipCi?: boolean;
  /**
   * Resolves `repository:tag` to the digest the registry serves (the index digest for multi-arch
   * images). Used for `digest: pin` images whose event carried no digest.
   */
  resolveDigest?: (repository: string, tag: string) => Promise<string>;
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
  /** Write intents now, without the queue (CLI commands). */
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
    onInvalid: (messages, revision) => log.error({ revision, problems: describeMessages(messages) }, '.baton.yml is invalid; the last valid config stays in force'),
  });

  async function routeEvent(event: Event): Promise<{ routed: Routed[]; notes: string[] }> {
    // A push may have changed .baton.yml: read it again now rather than after the TTL.
    if (event.type === 'push') config.invalidate();
    const table = await config.table();
    if (!table) return { routed: [], notes: ['no valid .baton.yml in the env repository'] };
    if (event.type === 'comment' && deps.commands) {
      const out = await deps.commands.handleComment(event, table, () => config.invalidate());
      return { routed: groupByDestination(out.intents), notes: out.notes };
    }
    const result = route(event, table);
    for (const p of result.paused ?? []) deps.metrics?.pausedSkips.inc({ env: p.env });
    return { routed: groupByDestination(result.intents), notes: result.notes };
  }

  /** Fill in digests that pinning needs; an unresolved one stays absent and planning reports it. */
  async function withDigests(intents: Intent[]): Promise<SetImage[]> {
    const resolve = deps.resolveDigest;
    if (!resolve) return intents;
    const cache = new Map<string, Promise<string | undefined>>();
    return Promise.all(
      intents.map(async (i) => {
        if (i.digestMode !== 'pin' || i.digest !== undefined) return i;
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
    // Commands are authorized again just before they write: a role may have been taken away meanwhile.
    const allowed = deps.commands && batch.some((i) => i.cause.comment) ? await deps.commands.recheck(batch, await config.table()) : batch;
    const intents = await withDigests(allowed);
    const outcome = await execute(destination, intents, { forge: deps.forge, repo: deps.repo, random: deps.random, sleep: deps.sleep, ...(deps.skipCi && { skipCi: true }) });
    deps.metrics?.observeOutcome(outcome, (deps.now() - started) / 1000);
    const summary = {
      branch: outcome.branch,
      status: outcome.status,
      attempts: outcome.attempts,
      intents: intents.length,
      bumps: outcome.bumps.map((b) => `${b.image} ${b.from ?? '∅'}→${b.to} (${b.env})`),
      ...(outcome.status === 'committed' && { commit: outcome.commit }),
      ...(outcome.problems.length > 0 && { problems: outcome.problems.map((p) => p.message) }),
    };
    if (outcome.status === 'failed') log.error({ ...summary, error: outcome.error }, 'write failed');
    else if (outcome.problems.length > 0) log.warn(summary, 'some targets were not written');
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
        route: async (event) => {
          const { routed, notes } = await routeEvent(event);
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
      const outcomes: Outcome[] = [];
      for (const r of routed) outcomes.push(await flush(r.destination, r.intents));
      return { routed, notes, outcomes };
    },
    async runIntents(intents) {
      const outcomes: Outcome[] = [];
      for (const r of groupByDestination(intents)) outcomes.push(await flush(r.destination, r.intents));
      return outcomes;
    },
  };
}
