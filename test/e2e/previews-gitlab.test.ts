/**
 * Previews end to end over HTTP on the GitLab emulator: Merge Request Hooks and Pipeline Hooks of
 * the app project acme/web; Baton writes the preview into acme/platform/env's `previews` branch.
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';
import { gitlabSourceFromEnv } from '../../src/sources/gitlab/index.js';
import type { EmulatedProject, GitlabEmulator } from '../emulators/gitlab/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';
import type { TestBaton } from '../helpers/baton.js';
import { startTestBaton } from '../helpers/baton.js';
import { TEMPLATE } from '../core/preview/fixtures.js';

const ENV = 'acme/platform/env';
const APP = 'acme/web';
const SECRET = 'gitlab-hook-secret-0123456789';
const CONFIG = `version: 1
environments:
  staging:
    branch: main
images:
  web:
    repository: registry.example.com/acme/web
    source: gitlab:${APP}
    policy: sha
    targets:
      staging: [envs/staging/kustomization.yaml]
previews:
  web:
    branch: previews
    path: apps/{{name}}.yaml
    template: templates/preview-app.yaml
`;

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/gitlab');
const load = (name: string): Record<string, Record<string, unknown>> => JSON.parse(readFileSync(join(fixtures, name), 'utf8')) as Record<string, Record<string, unknown>>;

/** GitLab's documented Merge Request Hook, re-pointed at acme/web's MR. */
function mrHook(action: 'open' | 'update' | 'close' | 'reopen' | 'merge', mr: { iid: number; sha: string; branch: string; title: string; projectId: number }): Record<string, unknown> {
  const body = load('merge_request.open.json');
  Object.assign(body['project'] ?? {}, { path_with_namespace: APP, default_branch: 'main', id: mr.projectId });
  Object.assign(body['object_attributes'] ?? {}, {
    iid: mr.iid,
    action,
    title: mr.title,
    source_branch: mr.branch,
    target_branch: 'main',
    source_project_id: mr.projectId,
    target_project_id: mr.projectId,
    state: action === 'close' ? 'closed' : action === 'merge' ? 'merged' : 'opened',
    last_commit: { ...(body['object_attributes']?.['last_commit'] as object), id: mr.sha },
    ...(action === 'update' && { oldrev: '0'.repeat(40) }),
  });
  body['user'] = { ...body['user'], username: 'alice' };
  return body;
}

function pipelineHook(branch: string, sha: string, projectId: number): Record<string, unknown> {
  const body = load('pipeline.json');
  delete body['merge_request'];
  Object.assign(body['object_attributes'] ?? {}, { ref: branch, sha, status: 'success', source: 'push' });
  Object.assign(body['project'] ?? {}, { path_with_namespace: APP, default_branch: 'main', id: projectId });
  return body;
}

describe('previews end to end on the GitLab emulator', () => {
  let emu: GitlabEmulator;
  let baton: TestBaton;
  let app: EmulatedProject;
  const env = () => emu.project(ENV).repo;
  const previewFile = (name: string): Promise<string | undefined> => env().show('previews', `apps/${name}.yaml`).catch(() => undefined);
  const post = async (event: string, body: object) => {
    const r = await baton.post('/webhooks/gitlab', body, { 'x-gitlab-event': event, 'x-gitlab-token': SECRET, 'idempotency-key': crypto.randomUUID() });
    expect(r.status).toBeLessThan(300);
    await baton.idle();
  };

  beforeAll(async () => {
    emu = await startGitlabEmulator({ botUsername: 'baton-bot' });
    await emu.addProject(ENV, { '.baton.yml': CONFIG, 'envs/staging/kustomization.yaml': 'images: []\n' });
    await env().commit({ 'templates/preview-app.yaml': TEMPLATE }, 'Preview template', 'previews');
    app = await emu.addProject(APP, { 'README.md': 'web\n' });
    const forge = new GitlabForge({ url: emu.url, token: emu.token, botUsername: 'baton-bot' });
    baton = await startTestBaton({
      envRepo: { forge, repo: ENV, label: `gitlab:${ENV}`, embedded: false },
      sources: { gitlab: gitlabSourceFromEnv({ GITLAB_WEBHOOK_SECRET: SECRET, BATON_GITLAB_BOT_USERNAME: 'baton-bot' }) },
    });
  });
  afterAll(async () => {
    await baton?.close();
    await emu?.close();
  });

  let iid = 0;
  let sha = '';

  it('MR opened with its pipeline passed → one commit adding the Application', async () => {
    sha = await app.repo.commit({ 'a.txt': '1\n' }, 'feature', 'feature/x');
    iid = emu.openMergeRequest(APP, { source: 'feature/x', title: 'Feature: x', author: 'alice' });
    emu.addPipeline(APP, sha, 'success', 'feature/x');
    emu.resetCounts();
    await post('Merge Request Hook', mrHook('open', { iid, sha, branch: 'feature/x', title: 'Feature: x', projectId: app.id }));
    const doc = parse((await previewFile(`web-pr-${iid}`)) ?? '') as { metadata: { name: string; annotations: Record<string, string> }; spec: { source: { helm: { parameters: { value: string }[] } } } };
    expect(doc.metadata.name).toBe(`web-pr-${iid}`);
    expect(doc.metadata.annotations['baton.dev/merge-request']).toBe(`gitlab:${APP}#${iid}`);
    expect(doc.spec.source.helm.parameters[1]?.value).toBe(sha.slice(0, 7));
    expect(await env().message('previews')).toContain(`Baton-Source: gitlab:${APP}@${sha.slice(0, 7)} (#${iid})`);
    expect(emu.counts()).toMatchObject({ 'GET /projects/:id/pipelines': 1, 'POST /projects/:id/repository/commits': 1 });
    expect(emu.errors).toEqual([]);
  });

  it('a push moves the file; close deletes it; reopen brings it back; merge deletes it', async () => {
    const sha2 = await app.repo.commit({ 'a.txt': '2\n' }, 'more', 'feature/x');
    emu.addPipeline(APP, sha2, 'success', 'feature/x');
    await post('Merge Request Hook', mrHook('update', { iid, sha: sha2, branch: 'feature/x', title: 'Feature: x', projectId: app.id }));
    expect(await previewFile(`web-pr-${iid}`)).toContain(`value: "${sha2.slice(0, 7)}"`);

    await post('Merge Request Hook', mrHook('close', { iid, sha: sha2, branch: 'feature/x', title: 'Feature: x', projectId: app.id }));
    expect(await previewFile(`web-pr-${iid}`)).toBeUndefined();

    await post('Merge Request Hook', mrHook('reopen', { iid, sha: sha2, branch: 'feature/x', title: 'Feature: x', projectId: app.id }));
    expect(await previewFile(`web-pr-${iid}`)).toContain(`value: "${sha2.slice(0, 7)}"`);

    await post('Merge Request Hook', mrHook('merge', { iid, sha: sha2, branch: 'feature/x', title: 'Feature: x', projectId: app.id }));
    expect(await previewFile(`web-pr-${iid}`)).toBeUndefined();
    expect((await env().message('previews')).split('\n')[0]).toBe(`Remove preview web-pr-${iid} (merged)`);
  });

  it('an MR opened before its pipeline gets nothing until the pipeline succeeds', async () => {
    const late = await app.repo.commit({ 'b.txt': '1\n' }, 'late', 'late');
    const m = emu.openMergeRequest(APP, { source: 'late', title: 'Late', author: 'alice' });
    emu.addPipeline(APP, late, 'running', 'late');
    const head = await env().head('previews');
    await post('Merge Request Hook', mrHook('open', { iid: m, sha: late, branch: 'late', title: 'Late', projectId: app.id }));
    expect(await env().head('previews')).toBe(head);
    expect(baton.outcomes.at(-1)?.previews).toMatchObject([{ state: 'waiting', message: `waiting for the build of ${late.slice(0, 7)}` }]);

    const pipe = app.pipelines.find((p) => p.sha === late);
    if (pipe) pipe.status = 'success';
    await post('Pipeline Hook', pipelineHook('late', late, app.id));
    expect(await previewFile(`web-pr-${m}`)).toContain(`value: "${late.slice(0, 7)}"`);
    expect(emu.errors).toEqual([]);
  });
});
