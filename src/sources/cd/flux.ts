/**
 * `POST /webhooks/flux`: Flux notification-controller's `generic-hmac` provider. The body is Flux's
 * event JSON; `X-Signature: sha256=<hex>` is the HMAC of the raw body keyed with the provider secret's
 * `token`. The `generic` provider with an `Authorization: Bearer` header is accepted too.
 */

import { z } from 'zod';
import type { CdStatus, Parsed } from '../../core/event.js';
import { verifyAuthorizationHeader, verifyHmacSha256 } from '../auth.js';
import type { Delivery, Source, Verification } from '../types.js';
import { MalformedPayload } from '../types.js';
import { bodyDeliveryId, commitOfRevision } from './common.js';

/** Flux's event (fluxcd/pkg/apis/event v1beta1 Event); only the fields read are declared. */
export const FluxEventSchema = z.object({
  involvedObject: z.object({ kind: z.string().max(100), name: z.string().min(1).max(253), namespace: z.string().max(253).optional() }),
  severity: z.enum(['info', 'error', 'trace']),
  timestamp: z.string().max(64).optional(),
  message: z.string().max(100_000),
  reason: z.string().max(200),
  metadata: z.record(z.string(), z.string().max(10_000)).optional(),
});

/** Reasons that say the applied revision is in place and healthy. */
const SUCCEEDED = new Set(['ReconciliationSucceeded', 'Succeeded', 'InstallSucceeded', 'UpgradeSucceeded', 'TestSucceeded']);
/** Reasons that say it did not get there. */
const FAILED = new Set(['ReconciliationFailed', 'HealthCheckFailed', 'BuildFailed', 'ArtifactFailed', 'DependencyNotReady', 'InstallFailed', 'UpgradeFailed', 'TestFailed', 'RollbackSucceeded', 'UninstallSucceeded']);

export function verifyFlux(delivery: Delivery, secrets: readonly string[]): Verification {
  if (delivery.headers['x-signature'] !== undefined) return verifyHmacSha256(delivery.rawBody, delivery.headers['x-signature'], secrets);
  return verifyAuthorizationHeader(delivery, secrets);
}

export function parseFluxEvent(body: unknown, delivery: Delivery): Parsed {
  const r = FluxEventSchema.safeParse(body);
  if (!r.success) {
    const where = r.error.issues[0]?.path.map(String).join('.') ?? '';
    throw new MalformedPayload(`Flux event does not match notification-controller's schema${where ? ` at ${where.slice(0, 80)}` : ''}`);
  }
  const e = r.data;
  const meta = e.metadata ?? {};
  // notification-controller forwards `revision`; controllers name it `<group>/revision` (older versions pass that on).
  const revisionKey = Object.keys(meta).find((k) => k === 'revision') ?? Object.keys(meta).find((k) => k.endsWith('/revision'));
  const revision = commitOfRevision(revisionKey !== undefined ? meta[revisionKey] : undefined);
  if (!revision) return { kind: 'ignored', reason: 'the event names no git commit revision' };
  const failed = e.severity === 'error' || FAILED.has(e.reason);
  const succeeded = !failed && SUCCEEDED.has(e.reason);
  if (!failed && !succeeded) return { kind: 'ignored', reason: `reason ${e.reason.slice(0, 60)} says nothing about the deployment's result` };
  // Alert `.spec.eventMetadata` adds keys to every event: `environment` names the `.baton.yml` environment.
  const environment = meta['environment'] ?? meta['env'];
  const event: CdStatus = {
    type: 'cd-status',
    source: 'cd/flux',
    deliveryId: bodyDeliveryId(delivery.rawBody),
    application: `${e.involvedObject.kind}/${e.involvedObject.namespace ? `${e.involvedObject.namespace}/` : ''}${e.involvedObject.name}`,
    revision,
    sync: succeeded ? 'synced' : 'unknown',
    health: succeeded ? 'healthy' : e.reason === 'HealthCheckFailed' ? 'degraded' : 'unknown',
    operation: succeeded ? 'succeeded' : 'failed',
    ...(environment !== undefined && environment !== '' && { environment }),
    ...(failed && e.message !== '' && { message: e.message }),
    ...(e.timestamp !== undefined && { at: e.timestamp }),
  };
  return { kind: 'events', events: [event] };
}

export const fluxSource: Source = { id: 'cd/flux', verify: verifyFlux, parse: parseFluxEvent };
