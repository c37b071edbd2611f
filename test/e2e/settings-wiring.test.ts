/** The server wired from settings alone, as an operator deploys it: BATON_ENV_REPO=gitlab:…, GITLAB_* and hook secrets. */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';
import type { TestBaton } from '../helpers/baton.js';
import { TEST_TOKEN, kustomization, oneImageConfig, startTestBaton } from '../helpers/baton.js';

const IMAGE = 'registry.example.com/team/web';
const ENV_PROJECT = 'platform/env';
const HOOK_SECRET = 'gitlab-hook-secret-from-settings';

describe('BATON_ENV_REPO=gitlab:… from settings', () => {
  let emu: GitlabEmulator;
  let t: TestBaton;
  beforeAll(async () => {
    emu = await startGitlabEmulator({ botUsername: 'baton-bot' });
    await emu.addProject(ENV_PROJECT, { '.baton.yml': oneImageConfig(IMAGE), 'envs/staging/kustomization.yaml': kustomization(IMAGE, '1.0.0') });
    t = await startTestBaton({
      env: { BATON_ENV_REPO: `gitlab:${ENV_PROJECT}`, GITLAB_URL: emu.url, GITLAB_TOKEN: emu.token, GITLAB_WEBHOOK_SECRET: HOOK_SECRET },
    });
  });
  afterAll(async () => {
    await t?.close();
    await emu?.close();
  });

  it('writes a registry push into the GitLab project through the API', async () => {
    const push = { events: [{ id: 'gl-1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: '1.1.0' }, request: { host: 'registry.example.com' } }] };
    expect((await t.post('/webhooks/registry/distribution', push, { authorization: `Bearer ${TEST_TOKEN}` })).status).toBe(202);
    await t.idle();
    expect(t.outcomes.map((o) => o.status)).toEqual(['committed']);
    const snap = await t.baton.envRepo.forge.readFiles(ENV_PROJECT, 'main', ['envs/staging/kustomization.yaml']);
    expect(snap.files['envs/staging/kustomization.yaml']).toContain('newTag: "1.1.0"');
  });

  it('mounts /webhooks/gitlab with the secret from GITLAB_WEBHOOK_SECRET', async () => {
    const hook = { object_kind: 'push', ref: 'refs/heads/feature', before: '0'.repeat(40), after: '1'.repeat(40), user_username: 'alice', project: { path_with_namespace: 'acme/web', default_branch: 'main' }, commits: [], total_commits_count: 0 };
    expect((await t.post('/webhooks/gitlab', hook, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 'nope' })).status).toBe(401);
    const ok = await t.post('/webhooks/gitlab', hook, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': HOOK_SECRET, 'idempotency-key': 'k-1' });
    expect([200, 202]).toContain(ok.status);
  });
});
