/**
 * Previews end to end over HTTP on the GitHub emulator: signed `pull_request` and `workflow_run`
 * deliveries from the app repo acme/web; Baton writes the preview Application into acme/env's
 * `previews` branch through the GitHub adapter.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import type { EmuRepo } from '../emulators/github/state.js';
import type { TestBaton } from '../helpers/baton.js';
import { batonOnGitHub, githubExample, githubHeaders } from '../helpers/github.js';
import { TEST_TOKEN } from '../helpers/baton.js';
import { TEMPLATE } from '../core/preview/fixtures.js';
import { previewCommand } from '../../src/core/preview/route.js';
import type { Payload } from '../helpers/github.js';

const SECRET = 'github-webhook-secret-0123456789';
const IMAGE = 'registry.example.com/acme/web';

const CONFIG = `version: 1
environments:
  staging:
    branch: main
images:
  web:
    repository: ${IMAGE}
    source: github:acme/web
    policy: sha
    targets:
      staging: [envs/staging/kustomization.yaml]
previews:
  web:
    branch: previews
    path: apps/{{name}}.yaml
    template: templates/preview-app.yaml
`;


/** GitHub's example `pull_request` delivery, re-pointed at acme/web's PR. */
function pullRequest(action: string, pr: { number: number; sha: string; branch: string; title: string; merged?: boolean; fork?: boolean }): Payload {
  const p = githubExample('pull_request', (x) => x['action'] === 'opened');
  p['action'] = action;
  p['number'] = pr.number;
  Object.assign(p['repository'] as Payload, { full_name: 'acme/web', default_branch: 'main' });
  p['sender'] = { login: 'alice', type: 'User' };
  const body = p['pull_request'] as Payload;
  Object.assign(body, {
    number: pr.number,
    title: pr.title,
    merged: pr.merged ?? false,
    state: action === 'closed' ? 'closed' : 'open',
    user: { login: 'alice' },
    labels: [],
    head: { ...(body['head'] as Payload), sha: pr.sha, ref: pr.branch, repo: { ...((body['head'] as Payload)['repo'] as Payload), full_name: pr.fork ? 'mallory/web' : 'acme/web' } },
    base: { ...(body['base'] as Payload), ref: 'main', repo: { ...((body['base'] as Payload)['repo'] as Payload), full_name: 'acme/web' } },
  });
  return p;
}

function workflowRun(branch: string, sha: string): Payload {
  const p = githubExample('workflow_run', (x) => x['action'] === 'completed');
  Object.assign(p['workflow_run'] as Payload, { conclusion: 'success', head_branch: branch, head_sha: sha, status: 'completed' });
  Object.assign(p['repository'] as Payload, { full_name: 'acme/web', default_branch: 'main' });
  p['sender'] = { login: 'alice', type: 'User' };
  return p;
}

describe('previews end to end on the GitHub emulator', () => {
  let gh: EmulatedGitHub;
  let baton: TestBaton;
  let app: EmuRepo;
  const env = () => {
    const r = gh.emulator.state.repo('acme', 'env');
    if (!r) throw new Error('no env repo');
    return r.testRepo;
  };
  const post = async (event: string, body: object) => {
    const raw = JSON.stringify(body);
    const r = await baton.post('/webhooks/github', raw, githubHeaders(event, raw, SECRET));
    expect(r.status).toBeLessThan(300);
    await baton.idle();
    return r;
  };
  const previewFile = async (name: string): Promise<string | undefined> => env().show('previews', `apps/${name}.yaml`).catch(() => undefined);

  beforeAll(async () => {
    ({ gh, baton } = await batonOnGitHub({ '.baton.yml': CONFIG, 'envs/staging/kustomization.yaml': 'images: []\n' }, SECRET));
    // The seed workflow: a previews branch holding the template.
    await env().commit({ 'templates/preview-app.yaml': TEMPLATE.replace('  finalizers: [resources-finalizer.argocd.argoproj.io]\n', '') }, 'Preview template', 'previews');
    app = await gh.emulator.createRepo('acme/web', { 'README.md': 'web\n' });
    gh.emulator.grant('acme/web', 'baton-bot', 'read');
  });
  afterAll(async () => {
    await baton?.close();
    await gh?.emulator.close();
  });

  let sha1 = '';
  let n = 0;

  it('MR opened with its build present → one commit adding a valid Application (finalizer added)', async () => {
    sha1 = await app.testRepo.commit({ 'src.txt': 'one\n' }, 'feature', 'feature/ÜBER--thing');
    n = gh.emulator.openPull('acme/web', { head: 'feature/ÜBER--thing', base: 'main', title: 'Add "x": y # {z}\n---\nkind: Secret', user: 'alice' });
    gh.emulator.addCheckRun('acme/web', sha1, { conclusion: 'success' });
    const before = (await env().subjects('previews')).length;
    gh.emulator.resetCounts();
    await post('pull_request', pullRequest('opened', { number: n, sha: sha1, branch: 'feature/ÜBER--thing', title: 'Add "x": y # {z}\n---\nkind: Secret' }));
    const text = await previewFile(`web-pr-${n}`);
    expect(text).toBeDefined();
    const doc = parse(text ?? '') as { kind: string; metadata: { name: string; finalizers: string[]; annotations: Record<string, string> }; spec: { source: { helm: { parameters: { value: string }[] } } } };
    expect(doc.kind).toBe('Application');
    expect(doc.metadata.name).toBe(`web-pr-${n}`);
    expect(doc.metadata.finalizers).toEqual(['resources-finalizer.argocd.argoproj.io']);
    expect(doc.metadata.annotations['title']).toBe('Add "x": y # {z}\n---\nkind: Secret');
    expect(doc.spec.source.helm.parameters[1]?.value).toBe(sha1.slice(0, 7));
    expect((await env().subjects('previews')).length).toBe(before + 1);
    const message = await env().message('previews');
    expect(message.split('\n')[0]).toBe(`Preview web-pr-${n} to web ${sha1.slice(0, 7)}`);
    expect(message).toContain(`Baton-Source: github:acme/web@${sha1.slice(0, 7)} (#${n})`);
    expect(baton.outcomes.at(-1)?.previews).toMatchObject([{ state: 'created', notes: [expect.stringMatching(/finalizer/)] }]);
    // .baton.yml freshness, the CI state of the head, one read of the preview branch, one commit
    // (then, apart from the write path, the MR's Baton comment says the preview was created).
    const routes = gh.emulator.requests.map((q) => q.route);
    expect(routes.filter((r) => !r.includes('/comments') && !r.startsWith('GET /user'))).toEqual(['POST /graphql', 'GET /repos/{owner}/{repo}/commits/{ref}/check-runs', 'POST /graphql', 'POST /graphql']);
    await baton.idle();
    expect(app.comments.find((c) => c.issueNumber === n && c.body.includes('<!-- baton:report -->'))?.body).toMatch(new RegExp(`\\| web-pr-${n} \\| created`));
    expect(gh.emulator.violations).toEqual([]);
  });

  it('a push moves the same file to the new build', async () => {
    const sha2 = await app.testRepo.commit({ 'src.txt': 'two\n' }, 'more', 'feature/ÜBER--thing');
    gh.emulator.addCheckRun('acme/web', sha2, { conclusion: 'success' });
    await post('pull_request', pullRequest('synchronize', { number: n, sha: sha2, branch: 'feature/ÜBER--thing', title: 't' }));
    const text = await previewFile(`web-pr-${n}`);
    expect(text).toContain(`value: "${sha2.slice(0, 7)}"`);
    expect((await env().message('previews')).split('\n')[0]).toBe(`Move preview web-pr-${n} to web ${sha2.slice(0, 7)}`);
    sha1 = sha2;
  });

  it('close deletes the file; reopen brings it back; merge deletes it', async () => {
    const pull = app.pulls.find((p) => p.number === n);
    if (!pull) throw new Error('no pull');
    pull.state = 'closed';
    await post('pull_request', pullRequest('closed', { number: n, sha: sha1, branch: 'feature/ÜBER--thing', title: 't' }));
    expect(await previewFile(`web-pr-${n}`)).toBeUndefined();
    expect((await env().message('previews')).split('\n')[0]).toBe(`Remove preview web-pr-${n} (closed)`);

    pull.state = 'open';
    await post('pull_request', pullRequest('reopened', { number: n, sha: sha1, branch: 'feature/ÜBER--thing', title: 't' }));
    expect(await previewFile(`web-pr-${n}`)).toContain(`value: "${sha1.slice(0, 7)}"`);

    pull.state = 'closed';
    pull.mergedAt = new Date().toISOString();
    await post('pull_request', pullRequest('closed', { number: n, sha: sha1, branch: 'feature/ÜBER--thing', title: 't', merged: true }));
    expect(await previewFile(`web-pr-${n}`)).toBeUndefined();
    expect((await env().message('previews')).split('\n')[0]).toBe(`Remove preview web-pr-${n} (merged)`);
  });

  it('an MR opened before its build gets nothing until CI succeeds, then the file', async () => {
    const sha = await app.testRepo.commit({ 'late.txt': '1\n' }, 'late', 'late');
    const m = gh.emulator.openPull('acme/web', { head: 'late', base: 'main', title: 'Late', user: 'alice' });
    const head = await env().head('previews');
    await post('pull_request', pullRequest('opened', { number: m, sha, branch: 'late', title: 'Late' }));
    expect(await env().head('previews')).toBe(head);
    expect(baton.outcomes.at(-1)?.previews).toMatchObject([{ state: 'waiting', message: `waiting for the build of ${sha.slice(0, 7)}` }]);
    // The developer reads it on the MR, in Baton's one comment.
    await baton.idle();
    const comment = app.comments.find((c) => c.issueNumber === m && c.body.includes('<!-- baton:report -->'))?.body ?? '';
    expect(comment).toMatch(new RegExp(`\\| web-pr-${m} \\| waiting: waiting for the build of ${sha.slice(0, 7)} \\|`));

    // The lint workflow passes while the image build still runs: not yet.
    gh.emulator.addCheckRun('acme/web', sha, { name: 'lint', conclusion: 'success' });
    gh.emulator.addCheckRun('acme/web', sha, { name: 'image', status: 'in_progress', conclusion: null });
    await post('workflow_run', workflowRun('late', sha));
    expect(await env().head('previews')).toBe(head);

    const image = app.checkRuns.find((r) => r.sha === sha && r.name === 'image');
    if (image) Object.assign(image, { status: 'completed', conclusion: 'success' });
    await post('workflow_run', workflowRun('late', sha));
    expect(await previewFile(`web-pr-${m}`)).toContain(`value: "${sha.slice(0, 7)}"`);
    expect(gh.emulator.violations).toEqual([]);
  });

  it('an MR opened before its build gets its preview when the registry announces the sha tag', async () => {
    const sha = await app.testRepo.commit({ 'r.txt': '1\n' }, 'registry', 'registry-built');
    const m = gh.emulator.openPull('acme/web', { head: 'registry-built', base: 'main', title: 'Registry', user: 'alice' });
    const head = await env().head('previews');
    await post('pull_request', pullRequest('opened', { number: m, sha, branch: 'registry-built', title: 'Registry' }));
    expect(await env().head('previews')).toBe(head);
    const digest = `sha256:${'ab'.repeat(32)}`;
    const push = { events: [{ id: `push-${sha}`, action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'acme/web', tag: sha.slice(0, 7), digest }, request: { host: 'registry.example.com' } }] };
    const r = await baton.post('/webhooks/registry/distribution', push, { authorization: `Bearer ${TEST_TOKEN}` });
    expect(r.status).toBe(202);
    await baton.idle();
    const doc = parse((await previewFile(`web-pr-${m}`)) ?? '') as { metadata: { annotations: Record<string, string> } };
    expect(doc.metadata.annotations['baton.dev/sha']).toBe(sha);
    expect(await env().message('previews')).toContain(`Baton-Image: ${IMAGE}:${sha.slice(0, 7)}@${digest}`);
  });

  it("a fork MR gets nothing from its events, nothing on a non-approver's command, and a pinned preview on an approver's", async () => {
    const head = await env().head('previews');
    const sha = 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0';
    const m = gh.emulator.openPull('acme/web', { head: 'patch-1', base: 'main', title: 'Fork', user: 'mallory', fork: { fullName: 'mallory/web', sha } });
    gh.emulator.addCheckRun('acme/web', sha, { conclusion: 'success' });
    await post('pull_request', pullRequest('opened', { number: m, sha, branch: 'patch-1', title: 'Fork', fork: true }));
    await post('workflow_run', workflowRun('patch-1', sha));
    expect(await env().head('previews')).toBe(head);

    // What the ChatOps parser will hand over for "/baton preview", with the commenter's role from GitHub.
    gh.emulator.addUser('mallory');
    gh.emulator.addUser('maria');
    gh.emulator.grant('acme/web', 'maria', 'maintain');
    const table = await baton.baton.pipeline.config.table();
    if (!table) throw new Error('no config');
    const mr = { repo: { forge: 'github', path: 'acme/web' } as const, number: m, title: 'Fork', author: 'mallory', headSha: sha, headBranch: 'patch-1', fromFork: true };
    const command = async (actor: string) => previewCommand({ action: 'preview', mr, actor, actorRole: await gh.forge.roleOf('acme/web', actor), source: 'github', deliveryId: `cmd-${actor}` }, table, 'github:acme/web');
    expect(await command('mallory')).toMatchObject({ kind: 'reply', message: expect.stringMatching(/maintain or admin/) });
    const approved = await command('maria');
    if (approved.kind !== 'intents') throw new Error(approved.message);
    await baton.baton.pipeline.runIntents(approved.intents);
    expect(await previewFile(`web-pr-${m}`)).toContain(`value: "${sha.slice(0, 7)}"`);
    expect(await env().message('previews')).toContain('Baton-Actor: maria');

    // A later push from the fork does not move it.
    const next = 'f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1';
    gh.emulator.addCheckRun('acme/web', next, { conclusion: 'success' });
    await post('pull_request', pullRequest('synchronize', { number: m, sha: next, branch: 'patch-1', title: 'Fork', fork: true }));
    expect(await previewFile(`web-pr-${m}`)).toContain(`value: "${sha.slice(0, 7)}"`);
  });

  it('a commit status from another CI (no check runs) counts as the build', async () => {
    const sha = await app.testRepo.commit({ 'c.txt': '1\n' }, 'jenkins', 'jenkins');
    const m = gh.emulator.openPull('acme/web', { head: 'jenkins', base: 'main', title: 'Jenkins', user: 'alice' });
    app.statuses.push({ id: gh.emulator.state.id(), sha, state: 'success', context: 'ci/jenkins', description: null, targetUrl: null, creator: 'jenkins', createdAt: new Date().toISOString() });
    await post('pull_request', pullRequest('opened', { number: m, sha, branch: 'jenkins', title: 'Jenkins' }));
    expect(await previewFile(`web-pr-${m}`)).toContain(`value: "${sha.slice(0, 7)}"`);
    expect(gh.emulator.violations).toEqual([]);
  });
});
