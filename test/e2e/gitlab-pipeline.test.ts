/**
 * End to end over HTTP: GitLab posts a Pipeline Hook to the real Baton server; Baton writes the env
 * repository that lives on the GitLab emulator, through the GitLab adapter.
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';
import { gitlabSourceFromEnv } from '../../src/sources/gitlab/index.js';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';
import type { TestBaton } from '../helpers/baton.js';
import { kustomization, startTestBaton } from '../helpers/baton.js';

const IMAGE = 'registry.example.com/team/web';
const ENV = 'acme/platform/env';
const APP = 'acme/web';
const SECRET = 'gitlab-hook-secret-0123456789';
const SHA = 'c0ffee1234567890abcdef1234567890abcdef12';

const CONFIG = `version: 1
environments:
  staging:
    branch: main
    write: commit
  production:
    branch: main
    write: merge-request
images:
  web:
    repository: ${IMAGE}
    source: gitlab:${APP}
    policy: sha
    digest: ignore
    targets:
      staging:
        - envs/staging/kustomization.yaml
      production:
        - envs/production/kustomization.yaml
`;

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/gitlab');

/** GitLab's documented Pipeline Hook, adapted to a branch pipeline of the app project (the example is an MR pipeline). */
function pipelineHook(status: string, sha = SHA): Record<string, unknown> {
  const body = JSON.parse(readFileSync(join(fixtures, 'pipeline.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  delete body['merge_request'];
  Object.assign(body['object_attributes'] ?? {}, { ref: 'main', sha, status, source: 'push' });
  Object.assign(body['project'] ?? {}, { path_with_namespace: APP, default_branch: 'main' });
  return body;
}

describe('GitLab end to end: Pipeline Hook → commit in the env repo on GitLab', () => {
  let emu: GitlabEmulator;
  let baton: TestBaton;
  beforeAll(async () => {
    emu = await startGitlabEmulator({ botUsername: 'baton-bot' });
    await emu.addProject(ENV, { '.baton.yml': CONFIG, 'envs/staging/kustomization.yaml': kustomization(IMAGE, 'aaaaaaa'), 'envs/production/kustomization.yaml': kustomization(IMAGE, 'aaaaaaa') });
    const forge = new GitlabForge({ url: emu.url, token: emu.token, botUsername: 'baton-bot' });
    baton = await startTestBaton({
      envRepo: { forge, repo: ENV, label: `gitlab:${ENV}`, embedded: false },
      sources: { gitlab: gitlabSourceFromEnv({ GITLAB_WEBHOOK_SECRET: `old-secret,${SECRET}`, BATON_GITLAB_BOT_USERNAME: 'baton-bot' }) },
    });
  });
  afterAll(async () => {
    await baton?.close();
    await emu?.close();
  });

  const post = (body: object, token = SECRET, key = crypto.randomUUID()) =>
    baton.post('/webhooks/gitlab', body, { 'x-gitlab-event': 'Pipeline Hook', 'x-gitlab-token': token, 'idempotency-key': key });

  it('refuses a wrong token', async () => {
    const r = await post(pipelineHook('success'), 'not-the-secret');
    expect(r.status).toBe(401);
  });

  it("ignores Baton's own push and note with 200, so GitLab keeps the hook enabled", async () => {
    const push = JSON.parse(readFileSync(join(fixtures, 'push.json'), 'utf8')) as Record<string, unknown>;
    const own = await baton.post('/webhooks/gitlab', { ...push, user_username: 'baton-bot' }, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET });
    expect(own.status).toBe(200);
    expect(own.json['reason']).toBe("Baton's own push");
    const note = JSON.parse(readFileSync(join(fixtures, 'note.merge_request.json'), 'utf8')) as Record<string, unknown>;
    const ownNote = await baton.post('/webhooks/gitlab', { ...note, user: { username: 'baton-bot' } }, { 'x-gitlab-event': 'Note Hook', 'x-gitlab-token': SECRET });
    expect(ownNote.status).toBe(200);
    const job = await baton.post('/webhooks/gitlab', readFileSync(join(fixtures, 'job.json')), { 'x-gitlab-event': 'Job Hook', 'x-gitlab-token': SECRET });
    expect(job.status).toBe(200);
  });

  it('a failed pipeline changes nothing', async () => {
    const before = await emu.project(ENV).repo.head();
    const r = await post(pipelineHook('failed'));
    expect(r.status).toBe(200);
    expect(r.json['status']).toBe('ignored');
    await baton.idle();
    expect(await emu.project(ENV).repo.head()).toBe(before);
  });

  it("a successful pipeline on the default branch sets GitLab's 8-character short sha (CI_COMMIT_SHORT_SHA), in one commit", async () => {
    const project = emu.project(ENV);
    const before = await project.repo.head();
    const key = crypto.randomUUID();
    const r = await post(pipelineHook('success'), SECRET, key);
    expect(r.status).toBe(202);
    // GitLab retrying the same event (same Idempotency-Key) does the work once.
    const again = await post(pipelineHook('success'), SECRET, key);
    expect(again.status).toBe(202);
    expect(again.json['deliveries']).toEqual([{ id: key, duplicate: true }]);
    await baton.idle();
    const head = await project.repo.head();
    expect(head).not.toBe(before);
    expect(await project.store.parents(head)).toEqual([before]);
    expect(await project.repo.show('main', 'envs/staging/kustomization.yaml')).toBe(kustomization(IMAGE, SHA.slice(0, 8)));
    const message = await project.repo.message('main');
    expect(message).toContain(`Baton-Event: gitlab ${key}`);
    expect(message).toContain(`Baton-Source: gitlab:${APP}@${SHA.slice(0, 8)}`);
    expect(await project.repo.subjects()).toHaveLength(2);
    // Production goes through one rolling merge request from baton/production.
    expect(await project.repo.show('baton/production', 'envs/production/kustomization.yaml')).toBe(kustomization(IMAGE, SHA.slice(0, 8)));
    expect(project.mergeRequests.map((m) => [m.source_branch, m.target_branch, m.state])).toEqual([['baton/production', 'main', 'opened']]);
  });

  it('the next successful pipeline updates the same merge request instead of opening another', async () => {
    const project = emu.project(ENV);
    const next = 'beef0000000000000000000000000000000000aa';
    expect((await post(pipelineHook('success', next))).status).toBe(202);
    await baton.idle();
    expect(await project.repo.show('main', 'envs/staging/kustomization.yaml')).toBe(kustomization(IMAGE, next.slice(0, 8)));
    expect(await project.repo.show('baton/production', 'envs/production/kustomization.yaml')).toBe(kustomization(IMAGE, next.slice(0, 8)));
    expect(project.mergeRequests).toHaveLength(1);
    expect(project.mergeRequests[0]?.description).toContain(next.slice(0, 8));
    expect(emu.errors).toEqual([]);
    // Every GraphQL document Baton sent was valid for GitLab's schema and under its complexity limit.
    expect(emu.graphqlRefusals).toEqual([]);
  });
});
