/**
 * Closing the loop on GitHub, over HTTP: an app PR is merged, CI succeeds, Baton bumps the env repo,
 * the PR shows a pending row and pending `baton/<env>` statuses; Argo CD and Flux (configured as
 * docs/reporting.md says) then turn them into success or failure — across a restart of Baton.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_MARKER } from '../../src/core/report/comment.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import { BATON_LOGIN, emulatedGitHub } from '../emulators/github/harness.js';
import type { EmuComment, EmuRepo } from '../emulators/github/state.js';
import type { TestBaton } from '../helpers/baton.js';
import { TEST_TOKEN, kustomization, startTestBaton } from '../helpers/baton.js';
import { argoApp, argoFromDocs, fluxFromDocs } from '../helpers/cd.js';
import { githubExample, githubHeaders } from '../helpers/github.js';
import { githubWebhookRoute } from '../../src/sources/github/index.js';
import type { Payload } from '../helpers/github.js';

const SECRET = 'github-webhook-secret-0123456789';
const WEB = 'ghcr.io/acme/web';
// Port 1 on loopback refuses at once: the worker image has no reachable registry, so its tag is its only clue.
const WORKER = '127.0.0.1:1/acme/worker';

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
    repository: ${WEB}
    source: github:acme/web
    policy: sha
    digest: ignore
    targets:
      staging:
        - envs/staging/web/kustomization.yaml
      production:
        - envs/production/web/kustomization.yaml
  worker:
    repository: ${WORKER}
    source: github:acme/web
    policy: alphabetical
    pattern: '^[0-9a-f]{7}$'
    digest: ignore
    targets:
      staging:
        - envs/staging/worker/kustomization.yaml
`;


function workflowRun(sha: string): Payload {
  const p = githubExample('workflow_run', (x) => x['action'] === 'completed');
  Object.assign(p['workflow_run'] as Payload, { conclusion: 'success', head_branch: 'main', head_sha: sha, status: 'completed' });
  Object.assign(p['repository'] as Payload, { full_name: 'acme/web', default_branch: 'main' });
  return p;
}

describe('reporting back on GitHub pull requests', () => {
  let gh: EmulatedGitHub;
  let baton: TestBaton;
  let alice: string;
  const argo = argoFromDocs();
  const flux = fluxFromDocs();
  const repoOf = (name: string): EmuRepo => {
    const r = gh.emulator.state.repo('acme', name);
    if (!r) throw new Error(`no repo ${name}`);
    return r;
  };
  const batonComments = (repo: string, n: number): EmuComment[] => repoOf(repo).comments.filter((c) => c.issueNumber === n && c.user === BATON_LOGIN && c.body.startsWith(REPORT_MARKER));
  const statusOf = (sha: string, context: string) =>
    repoOf('web')
      .statuses.filter((s) => s.sha === sha && s.context === context)
      .sort((a, b) => b.id - a.id)[0];
  const start = () =>
    startTestBaton({
      envRepo: { forge: gh.forge, repo: gh.repo, label: `github:${gh.repo}`, embedded: false },
      sources: { github: githubWebhookRoute({ WEBHOOK_SECRET: SECRET, BATON_BOT_LOGIN: BATON_LOGIN }) },
      env: { BATON_ARGOCD_TOKEN: `old-token,${argo.token}`, BATON_FLUX_SECRET: flux.token },
    });
  const api = async (method: string, path: string, body?: object): Promise<Payload> => {
    const res = await fetch(`${gh.emulator.url}${path}`, { method, headers: { authorization: `token ${alice}`, 'content-type': 'application/json' }, ...(body && { body: JSON.stringify(body) }) });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Payload;
  };
  /** Alice opens a PR on acme/web and merges it; returns its number and the merge commit. */
  const mergedPull = async (branch: string, title: string, beforeMerge?: (n: number) => void): Promise<{ number: number; sha: string }> => {
    await repoOf('web').testRepo.commit({ [`${branch}.txt`]: title }, title, branch);
    const pull = await api('POST', '/repos/acme/web/pulls', { title, head: branch, base: 'main' });
    const number = Number(pull['number']);
    beforeMerge?.(number);
    const merged = await api('PUT', `/repos/acme/web/pulls/${number}/merge`, {});
    return { number, sha: String(merged['sha']) };
  };
  const postGithub = async (event: string, body: object) => {
    const raw = JSON.stringify(body);
    const r = await baton.post('/webhooks/github', raw, githubHeaders(event, raw, SECRET));
    expect(r.status).toBe(202);
    await baton.idle();
  };
  const send = async (d: { path: string; headers: Record<string, string>; body: string }, expected = 202) => {
    const r = await baton.post(d.path, d.body, d.headers);
    expect(r.status, JSON.stringify(r.json)).toBe(expected);
    await baton.idle();
  };
  const metric = async (env: string, result: string): Promise<number> => {
    const text = await (await fetch(`${baton.url}/metrics`)).text();
    const m = new RegExp(`^baton_deploy_results_total\\{env="${env}",result="${result}"\\} (\\d+)`, 'm').exec(text);
    return Number(m?.[1] ?? 0);
  };

  let first: { number: number; sha: string };
  let stagingCommit: string;

  beforeAll(async () => {
    gh = await emulatedGitHub({
      '.baton.yml': CONFIG,
      'envs/staging/web/kustomization.yaml': kustomization(WEB, 'aaaaaaa'),
      'envs/production/web/kustomization.yaml': kustomization(WEB, 'aaaaaaa'),
      'envs/staging/worker/kustomization.yaml': kustomization(WORKER, '0000000'),
    });
    await gh.emulator.createRepo('acme/web', { 'README.md': '# web\n' });
    alice = gh.emulator.addUser('alice');
    gh.emulator.grant('acme/web', 'alice', 'write');
    gh.emulator.grant('acme/env', 'alice', 'write');
    gh.emulator.grant('acme/web', BATON_LOGIN, 'write');
    baton = await start();
  });
  afterAll(async () => {
    await baton?.close();
    await gh?.emulator.close();
  });

  it('merged PR → CI → bump: the PR shows pending rows, the commit pending statuses, the env commit names the PR', async () => {
    first = await mergedPull('feature-a', 'Faster checkout | <img src=x> @acme/admins');
    await postGithub('workflow_run', workflowRun(first.sha));
    const env = repoOf('env').testRepo;
    stagingCommit = await env.head('main');
    expect(await env.message(stagingCommit)).toContain(`Baton-Source: github:acme/web@${first.sha.slice(0, 7)} (#${first.number})`);
    const [comment, ...more] = batonComments('web', first.number);
    expect(more).toEqual([]);
    expect(comment?.body).toMatch(/\| staging \| web \| .*aaaaaaa.* → .*\b\w*\b.* \| .*commit \| ⏳ pending · waiting for the operator/);
    expect(comment?.body).toMatch(/\| production \| web \| .*MR \\#1\]\(https:\/\/github\.com\/acme\/env\/pull\/1\) · merge request \| ⏳ pending · waiting for the merge request to be merged/);
    expect(statusOf(first.sha, 'baton/staging')).toMatchObject({ state: 'pending', creator: BATON_LOGIN, targetUrl: expect.stringContaining(stagingCommit) });
    expect(statusOf(first.sha, 'baton/production')?.state).toBe('pending');
    // The rolling env-repo PR carries the same comment, listing the app PR.
    const rolling = batonComments('env', 1)[0];
    expect(rolling?.body).toContain(`[\\#${first.number}](https://github.com/acme/web/pull/${first.number})`);
    expect(rolling?.body).toContain('| production | web |');
    expect(gh.emulator.violations).toEqual([]);
  });

  it('an Argo CD notification (as the docs configure it) for that revision turns staging to success', async () => {
    const before = await metric('staging', 'success');
    await send(argo.send(argoApp({ name: 'web-staging', environment: 'staging', revision: stagingCommit, sync: 'Synced', health: 'Healthy', phase: 'Succeeded' })));
    expect(statusOf(first.sha, 'baton/staging')).toMatchObject({ state: 'success', description: expect.stringContaining('deployed to staging') });
    expect(statusOf(first.sha, 'baton/production')?.state).toBe('pending');
    const comments = batonComments('web', first.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toMatch(/\| staging \| web \| .* \| ✅ deployed · Synced \/ Healthy/);
    expect(await metric('staging', 'success')).toBe(before + 1);
    // The same notification again (Argo CD retrying): worked once.
    const statuses = repoOf('web').statuses.length;
    await send(argo.send(argoApp({ name: 'web-staging', environment: 'staging', revision: stagingCommit, sync: 'Synced', health: 'Healthy', phase: 'Succeeded', finishedAt: '2026-12-01T10:00:00Z' })));
    await send(argo.send(argoApp({ name: 'web-staging', environment: 'staging', revision: stagingCommit, sync: 'Synced', health: 'Healthy', phase: 'Succeeded', finishedAt: '2026-12-01T10:00:00Z' })));
    expect(repoOf('web').statuses.length).toBe(statuses);
  });

  it('refuses a notification without the token', async () => {
    const d = argo.send(argoApp({ name: 'web-staging', revision: stagingCommit, sync: 'Synced', health: 'Degraded' }));
    await send({ ...d, headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' } }, 401);
    expect(statusOf(first.sha, 'baton/staging')?.state).toBe('success');
  });

  it('after a restart, the rolling PR is merged and Argo CD reports Degraded: the PR is found from git log and told, with the message', async () => {
    await baton.close();
    baton = await start();
    const merged = await api('PUT', '/repos/acme/env/pulls/1/merge', {});
    await send(
      argo.send(argoApp({ name: 'web-production', environment: 'production', revision: String(merged['sha']), sync: 'Synced', health: 'Degraded', phase: 'Succeeded', message: 'successfully synced', healthMessage: 'Deployment "web" exceeded its progress deadline | @acme/oncall' })),
    );
    const status = statusOf(first.sha, 'baton/production');
    expect(status).toMatchObject({ state: 'failure' });
    expect(status?.description).toContain('exceeded its progress deadline');
    expect(Array.from(status?.description ?? '').length).toBeLessThanOrEqual(140);
    const comments = batonComments('web', first.number);
    expect(comments).toHaveLength(1);
    const body = comments[0]?.body ?? '';
    expect(body).toMatch(/\| production \| web \| .* \| ❌ failed · Synced \/ Degraded/);
    expect(body).toContain('exceeded its progress deadline \\| @&#8203;acme/oncall');
    // Staging's state survived the restart (the comment remembers it).
    expect(body).toMatch(/\| staging \| web \| .* \| ✅ deployed · Synced \/ Healthy/);
    expect(await metric('production', 'failure')).toBe(1);
  });

  it('a second bump for the same PR (its worker image pushed) edits the same comment; Flux ReconciliationFailed fails staging', async () => {
    const r = await baton.post('/webhooks/registry/generic', { repository: WORKER, tag: first.sha.slice(0, 7) }, { authorization: `Bearer ${TEST_TOKEN}` });
    expect(r.status).toBe(202);
    await baton.idle();
    const head = await repoOf('env').testRepo.head('main');
    expect(await repoOf('env').testRepo.message(head)).toContain(`Baton-Source: github:acme/web@${first.sha.slice(0, 7)} (#${first.number})`);
    let comments = batonComments('web', first.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toMatch(/\| staging \| worker \| .* \| ⏳ pending/);
    expect(statusOf(first.sha, 'baton/staging')?.state).toBe('pending');

    await send(flux.send({ reason: 'ReconciliationFailed', severity: 'error', message: 'Deployment/apps/worker dry-run failed: `image` is invalid\nsecond line', revision: head }));
    comments = batonComments('web', first.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toMatch(/\| staging \| worker \| .* \| ❌ failed/);
    expect(comments[0]?.body).toContain('dry-run failed: \\`image\\` is invalid second line');
    expect(statusOf(first.sha, 'baton/staging')).toMatchObject({ state: 'failure', description: expect.stringContaining('dry-run failed') });
    expect(gh.emulator.violations).toEqual([]);
  });

  it('finds its comment on page 3 of a long thread and edits it; a stranger quoting the marker is left alone', async () => {
    const pr = await mergedPull('feature-b', 'Busy PR', (n) => {
      gh.emulator.addComments('acme/web', n, 'bob', [`quoting ${REPORT_MARKER}`, ...Array.from({ length: 230 }, (_, i) => `comment ${i}`)]);
    });
    await postGithub('workflow_run', workflowRun(pr.sha));
    const mine = batonComments('web', pr.number);
    expect(mine).toHaveLength(1);
    const all = repoOf('web').comments.filter((c) => c.issueNumber === pr.number);
    // 231 comments came first: with 100 a page, Baton's is on page 3.
    expect(all.indexOf(mine[0] as EmuComment)).toBe(231);
    const head = await repoOf('env').testRepo.head('main');
    await send(argo.send(argoApp({ name: 'web-staging', environment: 'staging', revision: head, sync: 'Synced', health: 'Healthy', phase: 'Succeeded' })));
    const after = batonComments('web', pr.number);
    expect(after).toHaveLength(1);
    expect(after[0]?.id).toBe(mine[0]?.id);
    expect(after[0]?.body).toMatch(/\| staging \| web \| .* \| ✅ deployed/);
    expect(all[0]?.body).toBe(`quoting ${REPORT_MARKER}`);
  });

  it('the rolling PR carries every source PR; once merged and healthy, each of them is told', async () => {
    const third = await mergedPull('feature-c', 'Smaller bundle');
    await postGithub('workflow_run', workflowRun(third.sha));
    const rolling = repoOf('env').pulls.find((p) => p.state === 'open' && p.head === 'baton/production');
    if (!rolling) throw new Error('no open rolling PR');
    const carried = repoOf('web').pulls.filter((p) => p.number !== first.number).map((p) => p.number);
    const rollingComment = batonComments('env', rolling.number)[0]?.body ?? '';
    for (const n of carried) expect(rollingComment).toContain(`[\\#${n}](https://github.com/acme/web/pull/${n})`);
    const merged = await api('PUT', `/repos/acme/env/pulls/${rolling.number}/merge`, {});
    await send(argo.send(argoApp({ name: 'web-production', environment: 'production', revision: String(merged['sha']), sync: 'Synced', health: 'Healthy', phase: 'Succeeded' })));
    for (const n of carried) {
      const pull = repoOf('web').pulls.find((p) => p.number === n);
      expect(batonComments('web', n)[0]?.body).toMatch(/\| production \| web \| .* \| ✅ deployed · Synced \/ Healthy/);
      expect(statusOf(pull?.mergeCommitSha ?? '', 'baton/production')?.state).toBe('success');
    }
    expect(batonComments('env', rolling.number)[0]?.body).toMatch(/\| production \| web \| .* \| ✅ deployed/);
    expect(gh.emulator.violations).toEqual([]);
  });

  it('a squash-merged rolling PR (branch kept) is followed too: its squash commit deployed settles every PR it carried', async () => {
    const fourth = await mergedPull('feature-d', 'Squash me');
    await postGithub('workflow_run', workflowRun(fourth.sha));
    const rolling = repoOf('env').pulls.find((p) => p.state === 'open' && p.head === 'baton/production');
    if (!rolling) throw new Error('no open rolling PR');
    const squash = await gh.emulator.mergePull('acme/env', rolling.number, { method: 'squash' });
    await send(argo.send(argoApp({ name: 'web-production', environment: 'production', revision: squash, sync: 'Synced', health: 'Healthy', phase: 'Succeeded' })));
    expect(batonComments('web', fourth.number)[0]?.body).toMatch(/\| production \| web \| .* \| ✅ deployed · Synced \/ Healthy/);
    expect(gh.emulator.violations).toEqual([]);
  });

  it('a build that is not deployed because its environment is paused is told on its PR, and changes nothing', async () => {
    const env = repoOf('env').testRepo;
    await env.commit({ '.baton/state.yml': 'paused:\n  staging:\n    by: alice\n' }, 'pause staging');
    const head = await env.head('main');
    const fifth = await mergedPull('feature-e', 'Held back');
    await postGithub('workflow_run', workflowRun(fifth.sha));
    await baton.idle();
    expect(await env.head('main')).toBe(head);
    expect(batonComments('web', fifth.number)[0]?.body).toMatch(/\| staging \| web \| .* \| ⏳ pending · ⏸ not deployed: staging is paused/);
    expect(gh.emulator.violations).toEqual([]);
  });
});
