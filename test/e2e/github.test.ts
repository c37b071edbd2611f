/**
 * End to end over HTTP: GitHub posts signed deliveries to the real Baton server; Baton writes the
 * env repo that lives on the GitHub emulator, through the GitHub adapter (one read, one commit).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import type { TestBaton } from '../helpers/baton.js';
import { kustomization } from '../helpers/baton.js';
import { batonOnGitHub, ghcrPackageEvent, githubExample, githubHeaders } from '../helpers/github.js';
import type { Payload } from '../helpers/github.js';

const SECRET = 'github-webhook-secret-0123456789';
const WEB = 'ghcr.io/acme/web';
const API = 'registry.example.com/acme/api';
const SHA = '3f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e';

const CONFIG = `version: 1
environments:
  staging:
    branch: main
    write: commit
images:
  web:
    repository: ${WEB}
    policy: semver
    digest: ignore
    targets:
      staging:
        - envs/staging/web/kustomization.yaml
  api:
    repository: ${API}
    source: github:acme/api
    policy: sha
    digest: ignore
    targets:
      staging:
        - envs/staging/api/kustomization.yaml
`;



/** GitHub's example `workflow_run` completed event, on acme/api's default branch. */
function workflowRun(conclusion: string, branch = 'main', sha = SHA): Payload {
  const p = githubExample('workflow_run', (x) => x['action'] === 'completed');
  Object.assign(p['workflow_run'] as Payload, { conclusion, head_branch: branch, head_sha: sha, status: 'completed' });
  Object.assign(p['repository'] as Payload, { full_name: 'acme/api', default_branch: 'main' });
  return p;
}

describe('GitHub end to end: webhooks → commit in the env repo on GitHub', () => {
  let gh: EmulatedGitHub;
  let baton: TestBaton;
  const envRepo = () => {
    const r = gh.emulator.state.repo('acme', 'env');
    if (!r) throw new Error('no env repo');
    return r.testRepo;
  };
  const post = (event: string, body: object, secret: string | null = SECRET) => {
    const raw = JSON.stringify(body);
    return baton.post('/webhooks/github', raw, githubHeaders(event, raw, secret));
  };

  beforeAll(async () => {
    ({ gh, baton } = await batonOnGitHub({
      '.baton.yml': CONFIG,
      'envs/staging/web/kustomization.yaml': kustomization(WEB, '1.4.2'),
      'envs/staging/api/kustomization.yaml': kustomization(API, 'aaaaaaa'),
    }, SECRET));
  });
  afterAll(async () => {
    await baton?.close();
    await gh?.emulator.close();
  });

  it('refuses unsigned and wrongly signed deliveries', async () => {
    expect((await post('package', ghcrPackageEvent('9.9.9'), null)).status).toBe(401);
    expect((await post('package', ghcrPackageEvent('9.9.9'), 'wrong-secret')).status).toBe(401);
  });

  it('a signed package delivery lands as one commit, written with one read and one write', async () => {
    const before = await envRepo().head();
    gh.emulator.resetCounts();
    const r = await post('package', ghcrPackageEvent('1.5.0'));
    expect(r.status).toBe(202);
    await baton.idle();
    expect(await envRepo().show('main', 'envs/staging/web/kustomization.yaml')).toContain('newTag: "1.5.0"');
    const subjects = await envRepo().subjects();
    expect(subjects[0]).toBe('web 1.4.2 → 1.5.0 in staging');
    expect(await envRepo().message('main')).toMatch(/Baton-Event: registry\/ghcr /);
    expect((await envRepo().parents()).slice(0, 1)).toEqual([1]);
    expect(await envRepo().head()).not.toBe(before);
    // `.baton.yml` freshness check, one read of the target files with the head, one createCommitOnBranch; no REST at all.
    expect(gh.emulator.requests.map((q) => q.route)).toEqual(['POST /graphql', 'POST /graphql', 'POST /graphql']);
    expect(gh.emulator.violations).toEqual([]);
  });

  it('workflow_run success on the app repo default branch bumps a policy: sha image to the short sha', async () => {
    const r = await post('workflow_run', workflowRun('success'));
    expect(r.status).toBe(202);
    await baton.idle();
    expect(await envRepo().show('main', 'envs/staging/api/kustomization.yaml')).toContain(`newTag: "${SHA.slice(0, 7)}"`);
    expect(await envRepo().message('main')).toContain(`github:acme/api@${SHA.slice(0, 7)}`);
  });

  it('a failed run, or a run on another branch, bumps nothing', async () => {
    const before = await envRepo().head();
    const other = '0123456789abcdef0123456789abcdef01234567';
    expect((await post('workflow_run', workflowRun('failure', 'main', other))).status).toBeLessThan(300);
    expect((await post('workflow_run', workflowRun('success', 'feature/x', other))).status).toBeLessThan(300);
    await baton.idle();
    expect(await envRepo().head()).toBe(before);
    expect(await envRepo().show('main', 'envs/staging/api/kustomization.yaml')).toContain(`newTag: "${SHA.slice(0, 7)}"`);
  });

  it("ignores Baton's own push to the env repo with 200", async () => {
    const push = githubExample('push', (x) => x['ref'] === 'refs/heads/master');
    push['sender'] = { login: 'baton-bot', type: 'User' };
    const r = await post('push', push);
    expect(r.status).toBe(200);
    expect(String(r.json['reason'])).toMatch(/caused by Baton itself/);
  });

  it('the same delivery twice does the work once', async () => {
    const raw = JSON.stringify(ghcrPackageEvent('1.6.0'));
    const headers = githubHeaders('package', raw, SECRET, 'fixed-delivery-1');
    const count = (await envRepo().subjects()).length;
    expect((await baton.post('/webhooks/github', raw, headers)).status).toBe(202);
    expect((await baton.post('/webhooks/github', raw, headers)).status).toBe(202);
    await baton.idle();
    expect((await envRepo().subjects()).length).toBe(count + 1);
    expect(gh.emulator.violations).toEqual([]);
  });
});

describe('GitHub end to end: write: merge-request keeps one rolling pull request per environment', () => {
  let gh: EmulatedGitHub;
  let baton: TestBaton;
  const post = (event: string, body: object) => {
    const raw = JSON.stringify(body);
    return baton.post('/webhooks/github', raw, githubHeaders(event, raw, SECRET));
  };

  beforeAll(async () => {
    ({ gh, baton } = await batonOnGitHub({
      '.baton.yml': `version: 1
environments:
  production:
    branch: main
    write: merge-request
images:
  web:
    repository: ${WEB}
    policy: semver
    digest: ignore
    targets:
      production:
        - envs/production/web/kustomization.yaml
`,
      'envs/production/web/kustomization.yaml': kustomization(WEB, '1.4.2'),
    }, SECRET));
  });
  afterAll(async () => {
    await baton?.close();
    await gh?.emulator.close();
  });

  it('opens baton/production once, then moves it forward in place', async () => {
    const repo = gh.emulator.state.repo('acme', 'env');
    if (!repo) throw new Error('no env repo');
    const main = await repo.testRepo.head();
    expect((await post('package', ghcrPackageEvent('1.5.0'))).status).toBe(202);
    await baton.idle();
    expect((await post('package', ghcrPackageEvent('1.6.0'))).status).toBe(202);
    await baton.idle();
    const open = repo.pulls.filter((p) => p.state === 'open');
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ head: 'baton/production', base: 'main', user: 'baton-bot' });
    expect(open[0]?.body.replace(/\\(.)/g, '$1')).toContain('1.6.0');
    expect(await repo.testRepo.show('baton/production', 'envs/production/web/kustomization.yaml')).toContain('newTag: "1.6.0"');
    // main is untouched until someone merges.
    expect(await repo.testRepo.head()).toBe(main);
    expect(gh.emulator.violations).toEqual([]);
  });
});
