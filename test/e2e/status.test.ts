/**
 * `GET /status`, `baton status`, skip logs and metrics, end to end: the real server over HTTP on a
 * real bare repository, after a mix of written, skipped and failed events (a pre-receive hook that
 * declines pushes to the production branch), then the CLI against the running server and, once it
 * is stopped, against what it left in its data directory.
 */

import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport, StatusRow } from '../../src/app/status.js';
import { runBaton } from '../cli/helpers.js';
import type { Run } from '../cli/helpers.js';
import { REGISTRY_AUTH, TEST_TOKEN, distributionPush, eventually, kustomization, startTestBaton } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import type { TestRepo } from '../helpers/git-repo.js';

const HOST = 'registry.example.com';
const WEB = `${HOST}/team/web`;
const WORKER = `${HOST}/team/worker`;
const API = `${HOST}/team/api`;

const CONFIG = `version: 1
environments:
  staging:
    branch: main
  production:
    branch: prod
images:
  web:
    repository: ${WEB}
    targets:
      staging: [envs/staging/web.yaml]
  worker:
    repository: ${WORKER}
    range: ">=1.0.0 <2.0.0"
    targets:
      staging: [envs/staging/worker.yaml]
  api:
    repository: ${API}
    targets:
      production: [envs/production/api.yaml]
`;

/** `baton <args>` as a user runs it, with only these settings. */
const cli = (args: string[], env: Record<string, string>): Promise<Run> => runBaton(args, { env });

describe('status after written, skipped and failed events', () => {
  let repo: TestRepo;
  let dataDir: string;
  let t: TestBaton;
  let closed = false;
  const lines: string[] = [];
  const push = (id: string, path: string, tag: string) => t.post('/webhooks/registry/distribution', distributionPush(id, HOST, path, tag), REGISTRY_AUTH);
  const getStatus = async (headers: Record<string, string> = REGISTRY_AUTH) => {
    const res = await fetch(`${t.url}/status`, { headers });
    return { status: res.status, json: (await res.json()) as StatusReport & { error?: string } };
  };
  const row = (r: StatusReport, env: string, image: string): StatusRow | undefined => r.images.find((x) => x.env === env && x.image === image);

  beforeAll(async () => {
    repo = await createBareRepo({
      '.baton.yml': CONFIG,
      'envs/staging/web.yaml': kustomization(WEB, '1.0.0'),
      'envs/staging/worker.yaml': kustomization(WORKER, '1.0.0'),
      'envs/production/api.yaml': kustomization(API, '1.0.0'),
    });
    await repo.commit({}, 'production branch', 'prod');
    // The remote refuses every push to prod, as a protected branch would: writes there fail for good.
    await writeFile(join(repo.bare, 'hooks', 'pre-receive'), '#!/bin/sh\nwhile read old new ref; do\n  if [ "$ref" = refs/heads/prod ]; then echo "prod is frozen for the release" >&2; exit 1; fi\ndone\nexit 0\n', { mode: 0o755 });
    dataDir = await tempDir('baton-data-');
    const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
    t = await startTestBaton({ repo, dataDir, logger });

    expect((await push('w1', 'team/web', '1.1.0')).status).toBe(202);
    await t.idle();
    expect((await push('w2', 'team/web', '1.0.5')).status).toBe(202); // a downgrade
    expect((await push('k1', 'team/worker', '2.0.0')).status).toBe(202); // out of range
    expect((await push('a1', 'team/api', '1.1.0')).status).toBe(202); // production refuses
    expect((await t.post('/webhooks/registry/distribution', distributionPush('x1', 'other.example.com', 'team/web', '1.2.0'), REGISTRY_AUTH)).status).toBe(202);
    await eventually(() => t.baton.pipeline.queue.stats().dead === 1, 20_000, 'the production write parked');
    await t.idle();
  }, 60_000);
  afterAll(async () => {
    if (!closed) await t?.close();
    await repo?.cleanup();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('GET /status needs the token, and says per environment × image what Baton did', async () => {
    expect((await getStatus({})).status).toBe(401);
    expect((await getStatus({ authorization: 'Bearer wrong-token' })).status).toBe(401);
    const { status, json } = await getStatus();
    expect(status).toBe(200);

    const web = row(json, 'staging', 'web');
    expect(web).toMatchObject({ envRepoVersion: '1.1.0', paused: false, written: { version: '1.1.0', commit: await repo.head('main') } });
    expect(web?.last).toMatchObject({ tag: '1.0.5', result: 'skipped', code: 'downgrade', deliveryId: 'w2' });
    expect(web?.last?.reason).toBe('staging already runs 1.1.0, newer than 1.0.5');

    const worker = row(json, 'staging', 'worker');
    expect(worker).toMatchObject({ envRepoVersion: '1.0.0', last: { tag: '2.0.0', result: 'skipped', code: 'out-of-range' } });
    expect(worker?.written).toBeUndefined();

    const api = row(json, 'production', 'api');
    expect(api).toMatchObject({ envRepoVersion: '1.0.0', last: { tag: '1.1.0', result: 'failed', deliveryId: 'a1', parked: true } });
    expect(api?.last?.reason).toContain('prod is frozen for the release');

    expect(json.failed).toHaveLength(1);
    expect(json.failed[0]).toMatchObject({ id: 'registry/distribution:a1' });
    expect(json.failed[0]?.reason).toContain('prod is frozen for the release');
    expect(json.queue).toMatchObject({ pending: 0, dead: 1 });
    expect(json.unmatched.map((u) => [u.repository, u.tag, u.code])).toEqual([['other.example.com/team/web', '1.2.0', 'no-image']]);
    expect(json.unmatched[0]?.reason).toContain('registry.example.com/team/web is configured');
    expect(json.environments.map((e) => [e.env, e.branch])).toEqual([
      ['staging', 'main'],
      ['production', 'prod'],
    ]);
    expect(json.dryRun).toBe(false);
  });

  it('BATON_STATUS_TOKEN, when set, is the one token /status takes', async () => {
    const own = await startTestBaton({ env: { BATON_STATUS_TOKEN: 'status-reader-token-0123' }, seed: { '.baton.yml': CONFIG } });
    try {
      expect((await fetch(`${own.url}/status`, { headers: REGISTRY_AUTH })).status).toBe(401);
      expect((await fetch(`${own.url}/status`, { headers: { authorization: 'Bearer status-reader-token-0123' } })).status).toBe(200);
    } finally {
      await own.close();
    }
  });

  it('logs each skip at info with its reason, and counts it in /metrics with the last written version', async () => {
    const skipped = lines.map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string; image?: string; env?: string }).filter((l) => l.msg.startsWith('bump skipped'));
    expect(skipped.map((l) => [l.level, l.image, l.env, l.reason])).toEqual(
      expect.arrayContaining([
        [30, 'web', 'staging', 'downgrade'],
        [30, 'worker', 'staging', 'out-of-range'],
        [30, undefined, undefined, 'no-image'],
      ]),
    );
    expect(skipped.find((l) => l.reason === 'downgrade')?.msg).toBe('bump skipped: staging already runs 1.1.0, newer than 1.0.5');
    expect(skipped.find((l) => l.reason === 'no-image')?.msg).toContain('no image in .baton.yml uses other.example.com/team/web; registry.example.com/team/web is configured');
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^baton_skips_total\{image="web",env="staging",reason="downgrade"\} 1$/m);
    expect(metrics).toMatch(/^baton_skips_total\{image="worker",env="staging",reason="out-of-range"\} 1$/m);
    expect(metrics).toMatch(/^baton_skips_total\{image="",env="",reason="no-image"\} 1$/m);
    expect(metrics).toMatch(/^baton_version_info\{image="web",env="staging",version="1\.1\.0"\} 1$/m);
    expect(metrics).not.toMatch(/baton_version_info\{[^}]*image="api"/);
  });

  it('`baton status` asks the running server and prints the table; --json gives the report', { timeout: 60_000 }, async () => {
    const env = { BATON_URL: t.url, BATON_REGISTRY_TOKEN: TEST_TOKEN, BATON_ENV_REPO: repo.bare, BATON_DATA_DIR: dataDir };
    const r = await cli(['status'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Baton at ${t.url}`);
    expect(r.stdout).toMatch(/^ENVIRONMENT +IMAGE +ENV REPO +AUTOMATION +LAST WRITTEN +LAST EVENT$/m);
    expect(r.stdout).toMatch(/^staging +web +1\.1\.0 +on +1\.1\.0 \([0-9a-f]{7}\) +1\.0\.5 skipped: staging already runs 1\.1\.0, newer than 1\.0\.5 \[downgrade\]$/m);
    expect(r.stdout).toMatch(/^staging +worker +1\.0\.0 +on +— +2\.0\.0 skipped: tag 2\.0\.0 is outside the range >=1\.0\.0 <2\.0\.0 \[out-of-range\]$/m);
    expect(r.stdout).toMatch(/^production +api +1\.0\.0 +on +— +1\.1\.0 failed \(parked; baton retry works it again\): .*pre-receive hook declined/m);
    expect(r.stdout).toMatch(/^ {2}registry\/distribution:a1: .*prod is frozen/m);
    expect(r.stdout).toMatch(/other\.example\.com\/team\/web:1\.2\.0: no image in \.baton\.yml uses/);

    const wrong = await cli(['status'], { ...env, BATON_REGISTRY_TOKEN: 'not-the-token' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('the server refused the token');

    const json = await cli(['status', '--json'], env);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as StatusReport & { origin: { kind: string } };
    expect(report.origin.kind).toBe('server');
    expect(row(report, 'staging', 'web')?.last?.code).toBe('downgrade');
  });

  it('with the server stopped, `baton status` reads the data directory and the env repo', { timeout: 60_000 }, async () => {
    await t.close();
    closed = true;
    const r = await cli(['status'], { BATON_URL: 'http://127.0.0.1:9', BATON_ENV_REPO: repo.bare, BATON_DATA_DIR: dataDir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^No Baton answered at http:\/\/127\.0\.0\.1:9 .*read from the data directory/m);
    expect(r.stdout).toMatch(/^staging +web +1\.1\.0 +on +1\.1\.0 \([0-9a-f]{7}\) +1\.0\.5 skipped: .*\[downgrade\]$/m);
    expect(r.stdout).toMatch(/^production +api +1\.0\.0 +on +— +1\.1\.0 failed \(parked; baton retry works it again\): /m);
    expect(r.stdout).toMatch(/^ {2}registry\/distribution:a1: /m);
  });

  it('a restart says how many journaled events it replays, and the version gauge survives it', async () => {
    const restartLines: string[] = [];
    const again = await startTestBaton({ repo, dataDir, logger: pino({ level: 'info' }, { write: (s: string) => restartLines.push(s) }) });
    try {
      expect(restartLines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('replaying 0 journaled events');
      expect(await (await fetch(`${again.url}/metrics`)).text()).toMatch(/^baton_version_info\{image="web",env="staging",version="1\.1\.0"\} 1$/m);
    } finally {
      await again.close();
    }
  });
});
