/**
 * Closing the loop on GitLab, over HTTP: an app MR is merged, its pipeline succeeds, Baton bumps the
 * env repo; the MR gets one Baton note (found on page 3 of a long thread) and `baton/<env>` statuses,
 * which Argo CD and Flux notifications (as docs/reporting.md configures them) settle.
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_MARKER } from '../../src/core/report/comment.js';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';
import { gitlabSourceFromEnv } from '../../src/sources/gitlab/index.js';
import type { EmulatedProject, GitlabEmulator } from '../emulators/gitlab/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';
import type { TestBaton } from '../helpers/baton.js';
import { kustomization, startTestBaton } from '../helpers/baton.js';
import { argoApp, argoFromDocs, fluxFromDocs } from '../helpers/cd.js';

const IMAGE = 'registry.example.com/team/web';
const ENV = 'acme/platform/env';
const APP = 'acme/web';
const SECRET = 'gitlab-hook-secret-0123456789';

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

function pipelineHook(sha: string): Record<string, unknown> {
  const body = JSON.parse(readFileSync(join(fixtures, 'pipeline.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  delete body['merge_request'];
  Object.assign(body['object_attributes'] ?? {}, { ref: 'main', sha, status: 'success', source: 'push' });
  Object.assign(body['project'] ?? {}, { path_with_namespace: APP, default_branch: 'main' });
  return body;
}

describe('reporting back on GitLab merge requests', () => {
  let emu: GitlabEmulator;
  let baton: TestBaton;
  let app: EmulatedProject;
  let mergeSha: string;
  const argo = argoFromDocs();
  const flux = fluxFromDocs();
  const notes = (p: EmulatedProject, iid: number) => p.mergeRequests.find((m) => m.iid === iid)?.notes.filter((n) => n.author === 'baton-bot' && n.body.startsWith(REPORT_MARKER)) ?? [];
  const status = (context: string) => [...app.statuses].reverse().find((s) => s.sha === mergeSha && s.name === context);
  const rest = async (method: string, path: string, body?: object): Promise<Record<string, unknown>> => {
    const res = await fetch(`${emu.url}/api/v4/projects/${encodeURIComponent(APP)}${path}`, { method, headers: { 'private-token': emu.token, 'content-type': 'application/json' }, ...(body && { body: JSON.stringify(body) }) });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const send = async (d: { path: string; headers: Record<string, string>; body: string }) => {
    const r = await baton.post(d.path, d.body, d.headers);
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    await baton.idle();
  };

  beforeAll(async () => {
    emu = await startGitlabEmulator({ botUsername: 'baton-bot' });
    await emu.addProject(ENV, { '.baton.yml': CONFIG, 'envs/staging/kustomization.yaml': kustomization(IMAGE, 'aaaaaaa'), 'envs/production/kustomization.yaml': kustomization(IMAGE, 'aaaaaaa') });
    app = await emu.addProject(APP, { 'README.md': '# web\n' });
    const forge = new GitlabForge({ url: emu.url, token: emu.token, botUsername: 'baton-bot' });
    baton = await startTestBaton({
      envRepo: { forge, repo: ENV, label: `gitlab:${ENV}`, embedded: false },
      sources: { gitlab: gitlabSourceFromEnv({ GITLAB_WEBHOOK_SECRET: SECRET, BATON_GITLAB_BOT_USERNAME: 'baton-bot' }) },
      env: { BATON_ARGOCD_TOKEN: argo.token, BATON_FLUX_SECRET: flux.token, BATON_ARGOCD_URL: 'https://argocd.example.com/' },
    });
  });
  afterAll(async () => {
    await baton?.close();
    await emu?.close();
  });

  it('merged MR → pipeline → bump: one note (after 230 others) with pending rows, pending statuses', async () => {
    await app.repo.commit({ 'feature.txt': 'x' }, 'Faster checkout', 'feature');
    const mr = await rest('POST', '/merge_requests', { source_branch: 'feature', target_branch: 'main', title: 'Faster checkout `now` | @everyone' });
    const iid = Number(mr['iid']);
    const thread = app.mergeRequests.find((m) => m.iid === iid);
    for (let i = 0; i < 230; i++) thread?.notes.push({ id: 100_000 + i, body: i === 0 ? `quoting ${REPORT_MARKER}` : `note ${i}`, author: 'bob', system: false, createdAt: i, emoji: [] });
    mergeSha = String((await rest('PUT', `/merge_requests/${iid}/merge`, {}))['merge_commit_sha']);
    const r = await baton.post('/webhooks/gitlab', pipelineHook(mergeSha), { 'x-gitlab-event': 'Pipeline Hook', 'x-gitlab-token': SECRET, 'idempotency-key': crypto.randomUUID() });
    expect(r.status).toBe(202);
    await baton.idle();
    const env = emu.project(ENV);
    expect(await env.repo.message('main')).toContain(`Baton-Source: gitlab:${APP}@${mergeSha.slice(0, 7)} (#${iid})`);
    const mine = notes(app, iid);
    expect(mine).toHaveLength(1);
    expect(thread?.notes.indexOf(mine[0] as NonNullable<typeof thread>['notes'][number])).toBe(230);
    expect(mine[0]?.body).toMatch(/\| staging \| web \| .* \| ⏳ pending/);
    expect(mine[0]?.body).toMatch(/\| production \| web \| .*MR \\#1\].* \| ⏳ pending/);
    expect(status('baton/staging')?.status).toBe('pending');
    expect(status('baton/production')?.status).toBe('pending');
    // The rolling MR in the env project lists the app MR it carries.
    expect(notes(env, 1)[0]?.body).toContain(`gitlab:acme/web [\\#${iid}](${emu.url}/${APP}/-/merge_requests/${iid})`);
    expect(emu.errors).toEqual([]);
  });

  it('Argo CD reports staging healthy at that revision: the same note is edited, the status turns success', async () => {
    const head = await emu.project(ENV).repo.head('main');
    const before = notes(app, 1)[0];
    await send(argo.send(argoApp({ name: 'web-staging', revision: head, sync: 'Synced', health: 'Healthy', phase: 'Succeeded' })));
    const after = notes(app, 1);
    expect(after).toHaveLength(1);
    expect(after[0]?.id).toBe(before?.id);
    expect(after[0]?.body).toMatch(/\| staging \| web \| .* \| ✅ deployed · Synced \/ Healthy/);
    // Settled by Argo CD: the status links to the application there (BATON_ARGOCD_URL).
    expect(status('baton/staging')).toMatchObject({ status: 'success', target_url: 'https://argocd.example.com/applications/web-staging' });
    expect(status('baton/production')?.status).toBe('pending');
    expect(status('baton/production')?.target_url).toMatch(/\/-\/commit\/[0-9a-f]{40}$/);
  });

  it('Flux reports the rolling MR, once merged, failed: production turns failed with the message', async () => {
    const env = emu.project(ENV);
    const res = await fetch(`${emu.url}/api/v4/projects/${encodeURIComponent(ENV)}/merge_requests/1/merge`, { method: 'PUT', headers: { 'private-token': emu.token, 'content-type': 'application/json' }, body: '{}' });
    const merged = String(((await res.json()) as Record<string, unknown>)['merge_commit_sha']);
    expect(await env.repo.head('main')).toBe(merged);
    // The docs' Alert is for staging; production has its own Alert with eventMetadata.environment: production.
    const d = flux.send({ reason: 'HealthCheckFailed', severity: 'error', message: 'Deployment/apps/web status: "Failed" <script>', revision: merged });
    const body = d.body.replace('"environment":"staging"', '"environment":"production"');
    const { createHmac } = await import('node:crypto');
    await send({ ...d, body, headers: { ...d.headers, 'x-signature': `sha256=${createHmac('sha256', flux.token).update(body).digest('hex')}` } });
    const note = notes(app, 1)[0]?.body ?? '';
    expect(note).toMatch(/\| production \| web \| .* \| ❌ failed/);
    expect(note).toContain('status: "Failed" &lt;script&gt;');
    expect(status('baton/production')).toMatchObject({ status: 'failed', description: expect.stringContaining('status: "Failed" <script>') });
    expect(status('baton/staging')?.status).toBe('success');
    expect(emu.errors).toEqual([]);
  });
});
