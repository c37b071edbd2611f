/**
 * Event → commit is visible on /metrics: the real server over HTTP on the git forge, one registry
 * push, then the latency histogram and the per-stage histogram a dashboard would chart.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { REGISTRY_AUTH, distributionPush, kustomization, oneImageConfig, startTestBaton } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';

const HOST = 'registry.example.com';
const REPO = `${HOST}/team/web`;
const TARGET = 'envs/staging/kustomization.yaml';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function value(metrics: string, series: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

const push = (t: TestBaton, id: string, tag: string) => t.post('/webhooks/registry/distribution', distributionPush(id, HOST, 'team/web', tag), REGISTRY_AUTH);

describe('event → commit on /metrics', () => {
  it('observes each committed event once, from acceptance to the commit, with every stage on the way', async () => {
    const t = await startTestBaton({ seed: { '.baton.yml': oneImageConfig(REPO), [TARGET]: kustomization(REPO, '1.0.0') }, env: { BATON_DEBOUNCE_MS: '300' } });
    cleanups.push(() => t.close());
    expect((await push(t, 'm1', '1.1.0')).status).toBe(202);
    await t.idle();
    // The same version again: nothing to commit, so nothing is observed.
    expect((await push(t, 'm2', '1.1.0')).status).toBe(202);
    await t.idle();
    expect(await t.repo?.show('main', TARGET)).toContain('"1.1.0"');

    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain('# TYPE baton_event_to_commit_seconds histogram');
    expect(value(metrics, 'baton_event_to_commit_seconds_count')).toBe(1);
    // It includes the debounce window, and is bounded by the whole test.
    expect(value(metrics, 'baton_event_to_commit_seconds_sum')).toBeGreaterThanOrEqual(0.3);
    expect(value(metrics, 'baton_event_to_commit_seconds_sum')).toBeLessThan(20);
    for (const stage of ['route', 'window', 'prepare', 'read', 'plan', 'write']) {
      expect(value(metrics, `baton_stage_seconds_count{stage="${stage}"}`), stage).toBeGreaterThanOrEqual(1);
    }
    // The window is the debounce; only the first event wrote.
    expect(value(metrics, 'baton_stage_seconds_sum{stage="window"}')).toBeGreaterThanOrEqual(0.28);
    expect(value(metrics, 'baton_stage_seconds_count{stage="write"}')).toBe(1);
  });
});
