/** Prometheus metrics: one registry per process (tests make their own), exposed on GET /metrics. */

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outcome } from '../core/outcome.js';
import type { QueueStats } from '../queue/types.js';

export interface Metrics {
  registry: Registry;
  webhooks: Counter<'source' | 'result'>;
  observeOutcome(outcome: Outcome, seconds: number): void;
  /** Set the queue gauges (pending, retrying, dead letters, oldest pending age) from its stats. */
  observeQueue(stats: QueueStats): void;
  /** Deployments the operator reported settled: `result` is `success` or `failure`. */
  deployResults: Counter<'env' | 'result'>;
  /** Automatic bumps not made because the environment (or image in it) is paused or `auto: false`. */
  pausedSkips: Counter<'env'>;
  /** Seconds from accepting an event to the commit that carries it (observed once per event and commit). */
  eventToCommit: Histogram;
  /** Seconds spent in one stage on the way from event to commit (see `Stage`). */
  observeStage(stage: Stage, seconds: number): void;
  /** Bumps not made, by image and environment (names from `.baton.yml`; empty when no image matched) and reason (a fixed set). */
  skips: Counter<'image' | 'env' | 'reason'>;
  /** The last version written for an image in an environment: one series per image × environment. */
  setVersion(image: string, env: string, version: string): void;
}

/**
 * The stages of event → commit: `route` (accepted → routed, including the wait for the worker and
 * the config read), `window` (routed → debounce window closed), `prepare` (staleness, digests and
 * sources checked), `read` (target files read at the branch head), `plan`, `write` (commit landed).
 */
export type Stage = 'route' | 'window' | 'prepare' | 'read' | 'plan' | 'write';

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300];
const STAGE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(options: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaults) collectDefaultMetrics({ register: registry });
  const webhooks = new Counter({ name: 'baton_webhooks_total', help: 'Webhook deliveries by source and result', labelNames: ['source', 'result'], registers: [registry] });
  const writes = new Counter({ name: 'baton_writes_total', help: 'Batches written to the env repo by status', labelNames: ['status'], registers: [registry] });
  const bumps = new Counter({ name: 'baton_bumps_total', help: 'Image versions changed in environments', labelNames: ['env'], registers: [registry] });
  const duration = new Histogram({ name: 'baton_write_duration_seconds', help: 'Read-plan-write time per batch', registers: [registry], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
  const queuePending = new Gauge({ name: 'baton_queue_pending', help: 'Accepted events not yet fully written', registers: [registry] });
  const queueRetrying = new Gauge({ name: 'baton_queue_retrying', help: 'Events waiting for their next try after a failure', registers: [registry] });
  const deadLetters = new Gauge({ name: 'baton_dead_letters', help: 'Events parked after a permanent failure or the retention window (baton failed lists them)', registers: [registry] });
  const oldest = new Gauge({ name: 'baton_queue_oldest_pending_seconds', help: 'Age of the oldest event not yet written', registers: [registry] });
  const deployResults = new Counter({ name: 'baton_deploy_results_total', help: 'Deployments settled by Argo CD / Flux reports, by environment and result', labelNames: ['env', 'result'], registers: [registry] });
  const pausedSkips = new Counter({ name: 'baton_paused_skips_total', help: 'Automatic bumps skipped because the environment is paused (or auto: false)', labelNames: ['env'], registers: [registry] });
  const eventToCommit = new Histogram({ name: 'baton_event_to_commit_seconds', help: 'Time from accepting an event to the commit that carries it (includes the debounce window)', registers: [registry], buckets: LATENCY_BUCKETS });
  const stages = new Histogram({ name: 'baton_stage_seconds', help: 'Time per stage from event to commit: route, window, prepare, read, plan, write', labelNames: ['stage'], registers: [registry], buckets: STAGE_BUCKETS });
  const skips = new Counter({ name: 'baton_skips_total', help: 'Bumps not made, by image, environment and reason (no-image, out-of-range, downgrade, current, paused, …)', labelNames: ['image', 'env', 'reason'], registers: [registry] });
  const versionInfo = new Gauge({ name: 'baton_version_info', help: 'The last version Baton wrote for an image in an environment (value 1; the version is the label)', labelNames: ['image', 'env', 'version'], registers: [registry] });
  const versions = new Map<string, string>();
  return {
    registry,
    eventToCommit,
    observeStage(stage, seconds) {
      stages.observe({ stage }, Math.max(0, seconds));
    },
    webhooks,
    deployResults,
    pausedSkips,
    skips,
    setVersion(image, env, version) {
      const key = `${image}\u0000${env}`;
      const before = versions.get(key);
      if (before === version) return;
      if (before !== undefined) versionInfo.remove({ image, env, version: before });
      versions.set(key, version);
      versionInfo.set({ image, env, version }, 1);
    },
    observeQueue(stats) {
      queuePending.set(stats.pending);
      queueRetrying.set(stats.retrying);
      deadLetters.set(stats.dead);
      oldest.set(stats.oldestPendingMs / 1000);
    },
    observeOutcome(outcome, seconds) {
      writes.inc({ status: outcome.status });
      for (const b of outcome.bumps) bumps.inc({ env: b.env });
      duration.observe(seconds);
    },
  };
}
