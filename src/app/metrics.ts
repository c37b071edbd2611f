/** Prometheus metrics: one registry per process (tests make their own), exposed on GET /metrics. */

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outcome } from '../core/outcome.js';

export interface Metrics {
  registry: Registry;
  webhooks: Counter<'source' | 'result'>;
  observeOutcome(outcome: Outcome, seconds: number): void;
  queuePending: Gauge;
  /** Automatic bumps not made because the environment (or image in it) is paused or `auto: false`. */
  pausedSkips: Counter<'env'>;
}

export function createMetrics(options: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaults) collectDefaultMetrics({ register: registry });
  const webhooks = new Counter({ name: 'baton_webhooks_total', help: 'Webhook deliveries by source and result', labelNames: ['source', 'result'], registers: [registry] });
  const writes = new Counter({ name: 'baton_writes_total', help: 'Batches written to the env repo by status', labelNames: ['status'], registers: [registry] });
  const bumps = new Counter({ name: 'baton_bumps_total', help: 'Image versions changed in environments', labelNames: ['env'], registers: [registry] });
  const duration = new Histogram({ name: 'baton_write_duration_seconds', help: 'Read-plan-write time per batch', registers: [registry], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
  const queuePending = new Gauge({ name: 'baton_queue_pending', help: 'Accepted events not yet fully written', registers: [registry] });
  const pausedSkips = new Counter({ name: 'baton_paused_skips_total', help: 'Automatic bumps skipped because the environment is paused (or auto: false)', labelNames: ['env'], registers: [registry] });
  return {
    registry,
    webhooks,
    queuePending,
    pausedSkips,
    observeOutcome(outcome, seconds) {
      writes.inc({ status: outcome.status });
      for (const b of outcome.bumps) bumps.inc({ env: b.env });
      duration.observe(seconds);
    },
  };
}
