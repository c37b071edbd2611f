/**
 * The preview sweep against the GitHub emulator: closed and idle previews go, labelled and open ones
 * stay, a missing one is re-created; a forge outage or an empty listing deletes nothing.
 */

import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sweep } from '../../src/app/sweeper.js';
import type { SweepDeps } from '../../src/app/sweeper.js';
import type { AppRepoPort } from '../../src/forges/types.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import type { EmuRepo } from '../emulators/github/state.js';
import type { TestBaton } from '../helpers/baton.js';
import { batonOnGitHub } from '../helpers/github.js';
import { TEMPLATE } from '../core/preview/fixtures.js';

const CONFIG = `version: 1
environments:
  staging:
    branch: main
images:
  web:
    repository: registry.example.com/acme/web
    source: github:acme/web
    policy: sha
    targets:
      staging: [envs/staging/kustomization.yaml]
previews:
  web:
    branch: previews
    path: apps/{{name}}.yaml
    template: templates/preview-app.yaml
    ttl: 7d
`;

/** A preview file as Baton writes it, annotated with its MR. */
const previewOf = (n: number): string => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-pr-${n}
  annotations:
    baton.dev/merge-request: github:acme/web#${n}
    baton.dev/image: web
spec: {}
`;

describe('preview sweep', () => {
  let gh: EmulatedGitHub;
  let baton: TestBaton;
  let app: EmuRepo;
  const env = () => {
    const r = gh.emulator.state.repo('acme', 'env');
    if (!r) throw new Error('no env repo');
    return r.testRepo;
  };
  const files = async (): Promise<string[]> => (await gh.forge.listFiles('acme/env', 'previews', 'apps/')).paths.sort();
  const deps = (over: Partial<SweepDeps> = {}): SweepDeps => ({
    forge: gh.forge,
    repo: 'acme/env',
    table: () => baton.baton.pipeline.config.table(),
    appRepos: (ref) => (ref.path === 'acme/web' ? gh.forge : undefined),
    now: () => Date.parse('2030-01-20T00:00:00Z'),
    maxDeletes: 10,
    logger: pino({ level: 'silent' }),
    run: (intents) => baton.baton.pipeline.runIntents(intents),
    ...over,
  });
  const pull = (n: number) => {
    const p = app.pulls.find((x) => x.number === n);
    if (!p) throw new Error(`no pull ${n}`);
    return p;
  };

  beforeAll(async () => {
    ({ gh, baton } = await batonOnGitHub({ '.baton.yml': CONFIG, 'envs/staging/kustomization.yaml': 'images: []\n' }, 'secret-0123456789'));
    app = await gh.emulator.createRepo('acme/web', { 'README.md': 'web\n' });
    gh.emulator.grant('acme/web', 'baton-bot', 'read');
    for (const b of ['open', 'closed', 'merged', 'idle', 'kept', 'missing']) {
      const sha = await app.testRepo.commit({ [`${b}.txt`]: b }, b, b);
      gh.emulator.openPull('acme/web', { head: b, base: 'main', title: b, user: 'alice' });
      gh.emulator.addCheckRun('acme/web', sha, { conclusion: 'success' });
    }
    // #1 open, #2 closed, #3 merged, #4 idle for 30 days, #5 idle but labelled keep-preview, #6 open without a file.
    pull(2).state = 'closed';
    Object.assign(pull(3), { state: 'closed', mergedAt: '2030-01-10T00:00:00Z' });
    for (const n of [1, 2, 3, 6]) pull(n).updatedAt = '2030-01-19T00:00:00Z';
    pull(4).updatedAt = '2029-12-20T00:00:00Z';
    Object.assign(pull(5), { updatedAt: '2029-12-20T00:00:00Z', labels: ['keep-preview'] });
  });
  beforeEach(async () => {
    const reset: Record<string, string | null> = { 'templates/preview-app.yaml': TEMPLATE };
    for (const n of [1, 2, 3, 4, 5]) reset[`apps/web-pr-${n}.yaml`] = previewOf(n);
    reset['apps/web-pr-6.yaml'] = null;
    await env().commit(reset, 'reset previews', 'previews');
    gh.emulator.faults.clear();
  });
  afterAll(async () => {
    await baton?.close();
    await gh?.emulator.close();
  });

  it('removes closed, merged and idle previews, keeps open and keep-preview ones, re-creates a missing one', async () => {
    const report = await sweep(deps());
    expect(report.removed.map((r) => [r.number, r.reason])).toEqual([[2, 'closed'], [3, 'merged'], [4, 'idle']]);
    expect(report.kept.map((r) => r.number).sort()).toEqual([1, 5]);
    expect(report.recreated.map((r) => r.number)).toEqual([6]);
    expect(await files()).toEqual(['apps/web-pr-1.yaml', 'apps/web-pr-5.yaml', 'apps/web-pr-6.yaml']);
    // One commit for the whole sweep.
    expect((await env().message('previews')).split('\n')[0]).toBe('Update 4 previews');
  });

  it('--dry-run reports and writes nothing', async () => {
    const head = await env().head('previews');
    const report = await sweep(deps(), { dryRun: true });
    expect(report.removed).toHaveLength(3);
    expect(await env().head('previews')).toBe(head);
  });

  it('a forge outage (every call fails) deletes nothing', async () => {
    const head = await env().head('previews');
    const port: AppRepoPort = {
      getMergeRequest: () => Promise.reject(new Error('502 Bad Gateway')),
      listOpenMergeRequests: () => Promise.reject(new Error('502 Bad Gateway')),
      commitMergeRequests: () => Promise.reject(new Error('502 Bad Gateway')),
      buildState: () => Promise.reject(new Error('502 Bad Gateway')),
    };
    const report = await sweep(deps({ appRepos: () => port }));
    expect(report.removed).toEqual([]);
    expect(report.errors.length).toBeGreaterThan(0);
    expect(await env().head('previews')).toBe(head);
  });

  it('GitHub answering 502 to the MR reads deletes nothing', async () => {
    const head = await env().head('previews');
    const port: AppRepoPort = {
      getMergeRequest: async (repo, n) => {
        gh.emulator.faults.failNext(20, 502);
        try {
          return await gh.forge.getMergeRequest(repo, n);
        } finally {
          gh.emulator.faults.clear();
        }
      },
      listOpenMergeRequests: (repo) => gh.forge.listOpenMergeRequests(repo),
      commitMergeRequests: (repo, sha) => gh.forge.commitMergeRequests(repo, sha),
      buildState: (repo, sha) => gh.forge.buildState(repo, sha),
    };
    const report = await sweep(deps({ appRepos: () => port }));
    expect(report.removed).toEqual([]);
    expect(report.errors.filter((e) => /could not read/.test(e))).toHaveLength(5);
    expect((await files()).filter((f) => f !== 'apps/web-pr-6.yaml')).toEqual([1, 2, 3, 4, 5].map((n) => `apps/web-pr-${n}.yaml`));
    expect(await env().head('previews')).not.toBe(head); // only #6 was re-created
  });

  it('an empty listing of open MRs deletes nothing (deletion asks about each MR)', async () => {
    const port: AppRepoPort = {
      getMergeRequest: (repo, n) => gh.forge.getMergeRequest(repo, n),
      listOpenMergeRequests: async () => [],
      commitMergeRequests: async () => [],
      buildState: (repo, sha) => gh.forge.buildState(repo, sha),
    };
    const report = await sweep(deps({ appRepos: () => port }));
    expect(report.kept.map((r) => r.number).sort()).toEqual([1, 5]);
    expect(await files()).toContain('apps/web-pr-1.yaml');
  });

  it('removes at most BATON_SWEEP_MAX_DELETES per run', async () => {
    const report = await sweep(deps({ maxDeletes: 1 }));
    expect(report.removed).toHaveLength(1);
    expect(report.kept.filter((k) => /already removes 1/.test(k.reason))).toHaveLength(2);
  });
});
