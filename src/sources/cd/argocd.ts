/**
 * `POST /webhooks/argocd`: Argo CD notifications' webhook service, with the template from
 * docs/reporting.md. Argo CD does not sign requests: the service sends `Authorization: Bearer <token>`,
 * compared in constant time against every configured token (rotation).
 */

import { z } from 'zod';
import type { CdStatus, Parsed } from '../../core/event.js';
import { verifyAuthorizationHeader } from '../auth.js';
import type { Delivery, Source } from '../types.js';
import { MalformedPayload } from '../types.js';
import { bodyDeliveryId, commitOfRevision, present } from './common.js';

const text = z.string().max(10_000).nullish();

/** The body the documented template renders; only these fields are read. */
export const ArgoNotificationSchema = z.object({
  app: z.string().min(1).max(253),
  environment: text,
  revision: text,
  /** Multi-source applications report one revision per source. */
  revisions: z.array(z.string().max(200)).max(20).nullish(),
  syncStatus: text,
  healthStatus: text,
  phase: text,
  /** The last sync operation's message. */
  message: text,
  /** Why the application is not healthy, when Argo CD says. */
  healthMessage: text,
  finishedAt: text,
});

// Maps, not object literals: a status of `toString` or `constructor` from a stranger must find nothing.
const SYNC = new Map<string, CdStatus['sync']>([
  ['Synced', 'synced'],
  ['OutOfSync', 'out-of-sync'],
]);
const HEALTH = new Map<string, CdStatus['health']>([
  ['Healthy', 'healthy'],
  ['Progressing', 'progressing'],
  ['Degraded', 'degraded'],
  ['Suspended', 'suspended'],
  ['Missing', 'missing'],
]);
const PHASE = new Map<string, NonNullable<CdStatus['operation']>>([
  ['Running', 'running'],
  ['Terminating', 'running'],
  ['Succeeded', 'succeeded'],
  ['Failed', 'failed'],
  ['Error', 'failed'],
]);

export function parseArgoNotification(body: unknown, delivery: Delivery): Parsed {
  const r = ArgoNotificationSchema.safeParse(body);
  if (!r.success) {
    const where = r.error.issues[0]?.path.map(String).join('.') ?? '';
    throw new MalformedPayload(`Argo CD notification does not match the documented template${where ? ` at ${where.slice(0, 80)}` : ''}`);
  }
  const b = r.data;
  const revision = [b.revision, ...(b.revisions ?? [])].map((v) => commitOfRevision(present(v))).find((v) => v !== undefined);
  if (!revision) return { kind: 'ignored', reason: 'the notification names no git commit revision' };
  const phase = present(b.phase);
  const environment = present(b.environment);
  const health = HEALTH.get(present(b.healthStatus) ?? '') ?? 'unknown';
  const operation = phase !== undefined ? PHASE.get(phase) : undefined;
  // A degraded app after a good sync: the health message says why; the sync message would say "successfully synced".
  const message = operation === 'failed' ? present(b.message) : health === 'degraded' ? (present(b.healthMessage) ?? present(b.message)) : undefined;
  const at = present(b.finishedAt);
  const event: CdStatus = {
    type: 'cd-status',
    source: 'cd/argocd',
    deliveryId: bodyDeliveryId(delivery.rawBody),
    application: b.app,
    revision,
    sync: SYNC.get(present(b.syncStatus) ?? '') ?? 'unknown',
    health,
    ...(operation !== undefined && { operation }),
    ...(environment !== undefined && { environment }),
    ...(message !== undefined && { message }),
    ...(at !== undefined && { at }),
  };
  return { kind: 'events', events: [event] };
}

export const argocdSource: Source = {
  id: 'cd/argocd',
  verify: (delivery, secrets) => verifyAuthorizationHeader(delivery, secrets),
  parse: parseArgoNotification,
};
