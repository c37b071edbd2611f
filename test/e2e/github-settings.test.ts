/** The server wired from settings alone (BATON_ENV_REPO=github:…, GITHUB_TOKEN, GITHUB_API_URL, WEBHOOK_SECRET) onto the emulator. */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitHubEmulator } from '../emulators/github/server.js';
import type { GitHubEmulator } from '../emulators/github/server.js';
import type { TestBaton } from '../helpers/baton.js';
import { kustomization, startTestBaton } from '../helpers/baton.js';
import { githubHeaders } from '../helpers/github.js';

const SECRET = 'github-webhook-secret-settings-only';
const IMAGE = 'registry.example.com/acme/api';
const SHA = '9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b';

describe('GitHub wired from settings alone', () => {
  let emu: GitHubEmulator;
  let baton: TestBaton;
  beforeAll(async () => {
    emu = await startGitHubEmulator();
    await emu.createRepo('acme/env', {
      '.baton.yml': `version: 1\nenvironments:\n  staging:\n    branch: main\n    write: commit\nimages:\n  api:\n    repository: ${IMAGE}\n    source: github:acme/api\n    policy: sha\n    digest: ignore\n    targets:\n      staging:\n        - envs/staging/api/kustomization.yaml\n`,
      'envs/staging/api/kustomization.yaml': kustomization(IMAGE, 'aaaaaaa'),
    });
    const token = emu.addUser('baton-machine');
    emu.grant('acme/env', 'baton-machine', 'write');
    baton = await startTestBaton({ env: { BATON_ENV_REPO: 'github:acme/env', GITHUB_TOKEN: token, GITHUB_API_URL: emu.url, WEBHOOK_SECRET: SECRET } });
  });
  afterAll(async () => {
    await baton?.close();
    await emu?.close();
  });

  it('a signed workflow_run success bumps the env repo on GitHub; Baton ignores its own push', async () => {
    const run = { action: 'completed', repository: { full_name: 'acme/api', default_branch: 'main' }, sender: { login: 'alice' }, workflow_run: { head_branch: 'main', head_sha: SHA, conclusion: 'success', status: 'completed', actor: { login: 'alice' } } };
    const raw = JSON.stringify(run);
    const r = await baton.post('/webhooks/github', raw, githubHeaders('workflow_run', raw, SECRET));
    expect(r.status).toBe(202);
    await baton.idle();
    const repo = emu.state.repo('acme', 'env');
    expect(await repo?.testRepo.show('main', 'envs/staging/api/kustomization.yaml')).toContain(`newTag: "${SHA.slice(0, 7)}"`);
    // The forge found its own login (GET /user) and the webhook side ignores it.
    const push = { ref: 'refs/heads/main', before: SHA, after: SHA, repository: { full_name: 'acme/env', default_branch: 'main' }, sender: { login: 'baton-machine' } };
    const pushRaw = JSON.stringify(push);
    const p = await baton.post('/webhooks/github', pushRaw, githubHeaders('push', pushRaw, SECRET));
    expect(p.status).toBe(200);
    expect(emu.violations).toEqual([]);
  });
});
