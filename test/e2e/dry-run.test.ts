/**
 * BATON_DRY_RUN: the real server receives, routes and plans, logs the diff it would write and shows
 * it on /status — and writes nothing: the git remote keeps its refs, and the GitHub emulator receives
 * no write request at all (no REST call other than GET, no GraphQL mutation).
 */

import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/app/status.js';
import { emulatedGitHub } from '../emulators/github/harness.js';
import { REGISTRY_AUTH, distributionPush, kustomization, startTestBaton } from '../helpers/baton.js';
import { createBareRepo } from '../helpers/git-repo.js';
import { git } from '../../src/forges/git/run-git.js';

const HOST = 'registry.example.com';
const WEB = `${HOST}/team/web`;
const CONFIG = `version: 1
environments:
  staging:
    branch: main
  production:
    branch: main
    write: merge-request
images:
  web:
    repository: ${WEB}
    range: ">=1.0.0 <2.0.0"
    targets:
      staging: [envs/staging/web.yaml]
      production: [envs/production/web.yaml]
`;
const SEED = { '.baton.yml': CONFIG, 'envs/staging/web.yaml': kustomization(WEB, '1.0.0'), 'envs/production/web.yaml': kustomization(WEB, '1.0.0') };

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function statusOf(url: string): Promise<StatusReport> {
  return (await (await fetch(`${url}/status`, { headers: REGISTRY_AUTH })).json()) as StatusReport;
}

describe('BATON_DRY_RUN=true', () => {
  it('on git: logs the diff, shows it on /status, finishes the events, and leaves every ref of the remote as it was', async () => {
    const repo = await createBareRepo(SEED);
    cleanups.push(() => repo.cleanup());
    const refsBefore = await git(['for-each-ref', '--format=%(refname) %(objectname)'], { cwd: repo.bare });
    const lines: string[] = [];
    const t = await startTestBaton({ repo, env: { BATON_DRY_RUN: 'true' }, logger: pino({ level: 'info' }, { write: (s: string) => lines.push(s) }) });
    cleanups.push(() => t.close());

    expect((await t.post('/webhooks/registry/distribution', distributionPush('d1', HOST, 'team/web', '1.1.0'), REGISTRY_AUTH)).status).toBe(202);
    await t.idle();
    expect((await t.post('/webhooks/registry/distribution', distributionPush('d2', HOST, 'team/web', '2.0.0'), REGISTRY_AUTH)).status).toBe(202);
    await t.idle();

    expect(await git(['for-each-ref', '--format=%(refname) %(objectname)'], { cwd: repo.bare })).toBe(refsBefore);
    // The events are done once planned and logged: nothing waits to be written later.
    expect(t.baton.pipeline.queue.stats()).toMatchObject({ pending: 0, dead: 0 });

    const logs = lines.map((l) => JSON.parse(l) as { level: number; msg: string; diff?: string; branch?: string });
    expect(logs.some((l) => l.level === 40 && l.msg.startsWith('BATON_DRY_RUN is set'))).toBe(true);
    const wouldWrite = logs.filter((l) => l.msg.startsWith('dry run: would write'));
    expect(wouldWrite.map((l) => l.branch).sort()).toEqual(['baton/production', 'main']);
    for (const l of wouldWrite) expect(l.diff).toContain('+    newTag: "1.1.0"');
    expect(logs.some((l) => l.msg.startsWith('committed'))).toBe(false);

    const report = await statusOf(t.url);
    expect(report.dryRun).toBe(true);
    const staging = report.images.find((r) => r.env === 'staging');
    // The second event (out of range) is the last one seen; the env repo still holds 1.0.0.
    expect(staging).toMatchObject({ envRepoVersion: '1.0.0', last: { tag: '2.0.0', result: 'skipped', code: 'out-of-range' } });
    expect(staging?.written).toBeUndefined();
    expect(report.environments.find((e) => e.env === 'production')?.rollingBranchOpen).toBe(false);
  });

  it('shows what it would write as the last event when that is the newest', async () => {
    const repo = await createBareRepo(SEED);
    cleanups.push(() => repo.cleanup());
    const t = await startTestBaton({ repo, env: { BATON_DRY_RUN: '1' } });
    cleanups.push(() => t.close());
    await t.post('/webhooks/registry/distribution', distributionPush('d1', HOST, 'team/web', '1.2.0'), REGISTRY_AUTH);
    await t.idle();
    const staging = (await statusOf(t.url)).images.find((r) => r.env === 'staging');
    expect(staging?.last).toMatchObject({ tag: '1.2.0', result: 'dry-run', branch: 'main' });
    expect(staging?.last?.diff).toMatch(/^- {4}newTag: "1\.0\.0"\n\+ {4}newTag: "1\.2\.0"$/m);
  });

  it('on GitHub: reads through the API to plan, and sends not one write request', async () => {
    const gh = await emulatedGitHub(SEED);
    cleanups.push(() => gh.emulator.close());
    const headBefore = await gh.emulator.state.repo('acme', 'env')?.testRepo.head();
    const t = await startTestBaton({ envRepo: { forge: gh.forge, repo: gh.repo, label: `github:${gh.repo}`, embedded: false }, env: { BATON_DRY_RUN: 'true' } });
    cleanups.push(() => t.close());
    const readsBefore = gh.emulator.requests.length;

    expect((await t.post('/webhooks/registry/distribution', distributionPush('g1', HOST, 'team/web', '1.3.0'), REGISTRY_AUTH)).status).toBe(202);
    await t.idle();

    expect(gh.emulator.requests.length).toBeGreaterThan(readsBefore);
    const writes = gh.emulator.requests.filter((r) => (r.method !== 'GET' && r.route !== 'POST /graphql') || r.graphql === 'mutation');
    expect(writes).toEqual([]);
    expect(await gh.emulator.state.repo('acme', 'env')?.testRepo.head()).toBe(headBefore);
    const rows = (await statusOf(t.url)).images;
    expect(rows.map((r) => [r.env, r.last?.result, r.last?.branch])).toEqual([
      ['staging', 'dry-run', 'main'],
      ['production', 'dry-run', 'baton/production'],
    ]);
  });
});
