/** Argo CD and Flux feedback: what the documented configuration sends is authentic, parsed and mapped. */

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CdStatus, Parsed } from '../../../src/core/event.js';
import { argocdSource } from '../../../src/sources/cd/argocd.js';
import { commitOfRevision } from '../../../src/sources/cd/common.js';
import { fluxSource } from '../../../src/sources/cd/flux.js';
import type { Delivery, Source } from '../../../src/sources/types.js';
import { argoApp, argoFromDocs, fluxFromDocs } from '../../helpers/cd.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';

const delivery = (d: { headers: Record<string, string>; body: string }): Delivery => ({ headers: d.headers, query: {}, rawBody: Buffer.from(d.body), receivedAt: '2026-12-01T00:00:00Z' });

async function run(source: Source, d: Delivery, secrets: string[]): Promise<Parsed | string> {
  const v = await source.verify(d, secrets);
  if (!v.ok) return v.reason;
  return source.parse(JSON.parse(d.rawBody.toString('utf8')), d);
}

const status = (p: Parsed | string): CdStatus => {
  if (typeof p === 'string' || p.kind !== 'events' || p.events[0]?.type !== 'cd-status') throw new Error(`no cd-status: ${JSON.stringify(p)}`);
  return p.events[0];
};

describe('Argo CD notifications (the documented ConfigMap)', () => {
  const argo = argoFromDocs();

  it('subscribes with the trigger and service the ConfigMap defines', () => {
    expect(Object.keys(argo.subscription)).toContain('notifications.argoproj.io/subscribe.on-baton.baton');
    expect(argo.trigger.map((t) => t['send'])).toEqual([['baton'], ['baton'], ['baton']]);
  });

  it('a healthy sync becomes synced / healthy at the revision', async () => {
    const d = delivery(argo.send(argoApp({ name: 'web-staging', environment: 'staging', revision: SHA, sync: 'Synced', health: 'Healthy', phase: 'Succeeded', message: 'successfully synced (all tasks run)' })));
    const s = status(await run(argocdSource, d, [argo.token]));
    expect(s).toMatchObject({ application: 'web-staging', environment: 'staging', revision: SHA, sync: 'synced', health: 'healthy', operation: 'succeeded' });
    expect(s.message).toBeUndefined();
  });

  it('a failed sync and a degraded app carry the message that explains them', async () => {
    const failed = status(await run(argocdSource, delivery(argo.send(argoApp({ name: 'web', revision: SHA, sync: 'OutOfSync', health: 'Missing', phase: 'Failed', message: 'one or more objects failed to apply: "quoted" \\ reason' }))), [argo.token]));
    expect(failed).toMatchObject({ operation: 'failed', message: 'one or more objects failed to apply: "quoted" \\ reason' });
    expect(failed.environment).toBeUndefined();
    const degraded = status(await run(argocdSource, delivery(argo.send(argoApp({ name: 'web', revision: SHA, sync: 'Synced', health: 'Degraded', phase: 'Succeeded', message: 'successfully synced', healthMessage: 'Deployment "web" exceeded its progress deadline' }))), [argo.token]));
    expect(degraded).toMatchObject({ health: 'degraded', message: 'Deployment "web" exceeded its progress deadline' });
  });

  it('refuses a missing or wrong token and accepts a rotated one', async () => {
    const d = argo.send(argoApp({ name: 'web', revision: SHA, sync: 'Synced', health: 'Healthy' }));
    expect(await run(argocdSource, delivery({ ...d, headers: { 'content-type': 'application/json' } }), [argo.token])).toBe('missing Authorization header');
    expect(await run(argocdSource, delivery({ ...d, headers: { ...d.headers, authorization: 'Bearer nope' } }), [argo.token])).toBe('wrong credentials');
    expect(typeof (await run(argocdSource, delivery(d), ['new-token', argo.token]))).toBe('object');
    expect(await run(argocdSource, delivery(d), [])).toBe('no secret is configured for this endpoint');
  });

  it('an app without a commit revision (a Helm chart version) is ignored; a body of another shape is malformed', async () => {
    const helm = await run(argocdSource, delivery(argo.send(argoApp({ name: 'web', revision: '1.2.3', sync: 'Synced', health: 'Healthy' }))), [argo.token]);
    expect(helm).toEqual({ kind: 'ignored', reason: 'the notification names no git commit revision' });
    expect(() => argocdSource.parse({ hello: 'world' }, delivery({ headers: {}, body: '{}' }))).toThrow(/documented template at app/);
  });

  it('the same notification twice has the same delivery id; another one a different id', async () => {
    const app = argoApp({ name: 'web', revision: SHA, sync: 'Synced', health: 'Healthy', phase: 'Succeeded', finishedAt: '2026-12-01T10:00:00Z' });
    const a = status(await run(argocdSource, delivery(argo.send(app)), [argo.token]));
    const b = status(await run(argocdSource, delivery(argo.send(app)), [argo.token]));
    const c = status(await run(argocdSource, delivery(argo.send({ ...app, status: { ...(app['status'] as object), operationState: { phase: 'Succeeded', finishedAt: '2026-12-01T11:00:00Z' } } })), [argo.token]));
    expect(a.deliveryId).toBe(b.deliveryId);
    expect(c.deliveryId).not.toBe(a.deliveryId);
  });
});

describe('Flux generic-hmac (the documented Provider and Alert)', () => {
  const flux = fluxFromDocs();

  it('ReconciliationSucceeded at main@sha1:<sha> becomes synced / healthy for the Alert environment', async () => {
    const s = status(await run(fluxSource, delivery(flux.send({ reason: 'ReconciliationSucceeded', severity: 'info', message: 'Reconciliation finished in 2s, next run in 5m0s', revision: SHA })), [flux.token]));
    expect(s).toMatchObject({ source: 'cd/flux', application: 'Kustomization/flux-system/apps-staging', environment: 'staging', revision: SHA, sync: 'synced', health: 'healthy' });
  });

  it('ReconciliationFailed and HealthCheckFailed are failures with the message', async () => {
    const failed = status(await run(fluxSource, delivery(flux.send({ reason: 'ReconciliationFailed', severity: 'error', message: 'kustomize build failed: map[string]interface {}(nil): yaml: line 3', revision: SHA })), [flux.token]));
    expect(failed).toMatchObject({ operation: 'failed', message: 'kustomize build failed: map[string]interface {}(nil): yaml: line 3' });
    const unhealthy = status(await run(fluxSource, delivery(flux.send({ reason: 'HealthCheckFailed', severity: 'error', message: 'Deployment/apps/web status: Failed', revision: SHA })), [flux.token]));
    expect(unhealthy).toMatchObject({ health: 'degraded' });
  });

  it('progress events are ignored', async () => {
    expect(await run(fluxSource, delivery(flux.send({ reason: 'Progressing', severity: 'info', message: 'applying', revision: SHA })), [flux.token])).toMatchObject({ kind: 'ignored' });
  });

  it('refuses a bad signature, accepts a rotated secret, and the generic provider with a bearer token', async () => {
    const d = flux.send({ reason: 'ReconciliationSucceeded', severity: 'info', message: 'ok', revision: SHA });
    expect(await run(fluxSource, delivery({ ...d, headers: { ...d.headers, 'x-signature': `sha256=${createHmac('sha256', 'other').update(d.body).digest('hex')}` } }), [flux.token])).toBe('signature does not match');
    expect(await run(fluxSource, delivery({ ...d, body: d.body.replace('ok', 'OK') }), [flux.token])).toBe('signature does not match');
    expect(typeof (await run(fluxSource, delivery(d), ['next-secret', flux.token]))).toBe('object');
    expect(typeof (await run(fluxSource, delivery({ body: d.body, headers: { 'content-type': 'application/json', authorization: `Bearer ${flux.token}` } }), [flux.token]))).toBe('object');
    expect(await run(fluxSource, delivery({ body: d.body, headers: {} }), [flux.token])).toBe('missing Authorization header');
  });
});

describe('revisions', () => {
  it.each([
    [SHA, SHA],
    [`main@sha1:${SHA}`, SHA],
    [`sha1:${SHA}`, SHA],
    [`main/${SHA}`, SHA],
    ['1.2.3', undefined],
    [`sha256:${'a'.repeat(64)}`, undefined],
    [`main@sha1:${SHA}x`, undefined],
  ])('%s → %s', (rev, sha) => {
    expect(commitOfRevision(rev)).toBe(sha);
  });
});
