/**
 * ChatOps end to end over HTTP on the GitLab emulator: Note Hooks with `/baton` commands on a merge
 * request of the app project acme/web; Baton writes the env project acme/platform/env.
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_MARKER } from '../../src/core/report/comment.js';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';
import { gitlabSourceFromEnv } from '../../src/sources/gitlab/index.js';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';
import type { TestBaton } from '../helpers/baton.js';
import { TEST_TOKEN, kustomization, startTestBaton } from '../helpers/baton.js';

const ENV = 'acme/platform/env';
const APP = 'acme/web';
const SECRET = 'gitlab-hook-secret-0123456789';
const WEB = 'registry.example.com/acme/web';
const API = 'registry.example.com/acme/api';
const RED = 'deadbeef00112233445566778899aabbccddeeff';

const CONFIG = (approvers: string) => `version: 1
environments:
  staging:
    branch: main
    write: commit
  production:
    branch: main
    write: merge-request
    promoteFrom: staging
    approvers: ${approvers}
    auto: false
images:
  web:
    repository: ${WEB}
    source: gitlab:${APP}
    policy: semver
    targets:
      staging:
        - envs/staging/web/kustomization.yaml
      production:
        - envs/production/web/kustomization.yaml
  api:
    repository: ${API}
    policy: semver
    targets:
      staging:
        - envs/staging/api/kustomization.yaml
      production:
        - envs/production/api/kustomization.yaml
`;

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/gitlab');

/** GitLab's documented Note Hook for a merge request comment, on acme/web !iid by `user`. */
function noteHook(id: number, iid: number, user: string, note: string, action = 'create'): Record<string, unknown> {
  const body = JSON.parse(readFileSync(join(fixtures, 'note.merge_request.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  Object.assign(body['object_attributes'] ?? {}, { id, note, action, system: false });
  Object.assign(body['merge_request'] ?? {}, { iid });
  Object.assign(body['project'] ?? {}, { path_with_namespace: APP });
  body['user'] = { id: 7, name: user, username: user };
  return body;
}

interface Harness {
  emu: GitlabEmulator;
  baton: TestBaton;
  logs: string[];
}

async function start(approvers: string): Promise<Harness> {
  const emu = await startGitlabEmulator({ botUsername: 'baton-bot' });
  await emu.addProject(ENV, {
    '.baton.yml': CONFIG(approvers),
    'envs/staging/web/kustomization.yaml': kustomization(WEB, '1.4.2'),
    'envs/staging/api/kustomization.yaml': kustomization(API, '2.0.0'),
    'envs/production/web/kustomization.yaml': kustomization(WEB, '1.4.2'),
    'envs/production/api/kustomization.yaml': kustomization(API, '1.0.0'),
  });
  await emu.addProject(APP, { 'README.md': '# web\n' });
  const forge = new GitlabForge({ url: emu.url, token: emu.token, botUsername: 'baton-bot' });
  const logs: string[] = [];
  const baton = await startTestBaton({
    envRepo: { forge, repo: ENV, label: `gitlab:${ENV}`, embedded: false },
    sources: { gitlab: gitlabSourceFromEnv({ GITLAB_WEBHOOK_SECRET: SECRET, BATON_GITLAB_BOT_USERNAME: 'baton-bot' }) },
    logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
  });
  return { emu, baton, logs };
}

function tools(h: () => Harness) {
  const env = () => h().emu.project(ENV);
  const mr = (iid: number) => {
    const found = h().emu.project(APP).mergeRequests.find((m) => m.iid === iid);
    if (!found) throw new Error(`no !${iid}`);
    return found;
  };
  const comment = async (user: string, body: string, iid = 1): Promise<number> => {
    const id = h().emu.addNote(APP, iid, user, body);
    const r = await h().baton.post('/webhooks/gitlab', noteHook(id, iid, user, body), { 'x-gitlab-event': 'Note Hook', 'x-gitlab-token': SECRET });
    expect(r.status).toBe(202);
    await h().baton.idle(60_000);
    return id;
  };
  const note = (iid: number, id: number) => mr(iid).notes.find((n) => n.id === id);
  const reactions = (id: number, iid = 1) => (note(iid, id)?.emoji ?? []).map((e) => e.name);
  const replyTo = (id: number, iid = 1) => mr(iid).notes.find((n) => n.body.includes(`<!-- baton:reply:${id} -->`))?.body;
  // Command results live in the MR's one Baton note (the report).
  const results = (iid = 1) => mr(iid).notes.find((n) => n.body.includes(REPORT_MARKER))?.body;
  const push = async (repository: string, tag: string) => {
    const r = await h().baton.post('/webhooks/registry/generic', { repository, tag }, { authorization: `Bearer ${TEST_TOKEN}` });
    expect(r.status).toBe(202);
    await h().baton.idle(60_000);
  };
  const file = (branch: string, path: string) => env().repo.show(branch, path);
  return { env, mr, comment, reactions, replyTo, results, push, file };
}

/** The MR text as a person reads it: Markdown escapes and code spans undone. */
const rendered = (text: string | undefined): string => (text ?? '').replace(/\\(.)/g, '$1').replace(/<\/?code>/g, '');

describe('ChatOps on GitLab: promote, rollback, pause, resume, deploy', () => {
  let h: Harness;
  const t = tools(() => h);

  beforeAll(async () => {
    h = await start('[maintain, admin]');
    h.emu.addMember(APP, 'alice', 40);
    h.emu.addMember(APP, 'dave', 30);
    h.emu.openMergeRequest(APP, { source: 'feature', target: 'main', title: 'Feature', author: 'dave', sha: RED });
    await t.push(WEB, '1.5.0');
    await t.push(WEB, '1.6.0');
  });
  afterAll(async () => {
    await h?.baton.close();
    await h?.emu.close();
  });

  it('/baton promote production by a maintainer opens the rolling merge request with staging versions of every image', async () => {
    const main = await t.env().repo.head();
    const id = await t.comment('alice', '/baton promote production');
    const open = t.env().mergeRequests.filter((m) => m.state === 'opened');
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ source_branch: 'baton/production', target_branch: 'main' });
    expect(rendered(open[0]?.description)).toMatch(/\| web \| 1\.4\.2 \| 1\.6\.0 \|/);
    expect(rendered(open[0]?.description)).toMatch(/\| api \| 1\.0\.0 \| 2\.0\.0 \|/);
    expect(await t.file('baton/production', 'envs/production/web/kustomization.yaml')).toBe(kustomization(WEB, '1.6.0'));
    expect(await t.file('baton/production', 'envs/production/api/kustomization.yaml')).toBe(kustomization(API, '2.0.0'));
    expect(await t.env().repo.head()).toBe(main);
    expect(t.reactions(id)).toEqual(['eyes', 'rocket']);
    expect(t.results()).toMatch(/web 1\.4\.2 → 1\.6\.0 in production/);
  });

  it('a second promote updates the same merge request', async () => {
    await t.push(WEB, '1.7.0');
    await t.comment('alice', '/baton promote production');
    const mrs = t.env().mergeRequests.filter((m) => m.source_branch === 'baton/production');
    expect(mrs).toHaveLength(1);
    expect(rendered(mrs[0]?.description)).toContain('1.7.0');
    expect(await t.file('baton/production', 'envs/production/web/kustomization.yaml')).toBe(kustomization(WEB, '1.7.0'));
  });

  it('/baton rollback staging web commits the previous version with a Baton-Rollback trailer', async () => {
    await t.comment('alice', '/baton rollback staging web');
    expect(await t.file('main', 'envs/staging/web/kustomization.yaml')).toBe(kustomization(WEB, '1.6.0'));
    expect(await t.env().repo.message('main')).toContain('Baton-Rollback: alice: rollback from 1.7.0 to 1.6.0');
  });

  it('/baton pause staging, then a registry push: no bump and the reason in the log; resume: the next push lands', async () => {
    await t.comment('alice', '/baton pause staging');
    expect(await t.file('main', '.baton/state.yml')).toMatch(/staging:\n {4}by: alice/);
    const head = await t.env().repo.head();
    h.logs.length = 0;
    await t.push(WEB, '1.8.0');
    expect(await t.env().repo.head()).toBe(head);
    expect(h.logs.join('\n')).toContain('web: staging is paused');
    const metrics = await (await fetch(`${h.baton.url}/metrics`)).text();
    expect(metrics).toContain('baton_paused_skips_total{env="staging"} 1');
    await t.comment('alice', '/baton resume staging');
    await t.push(WEB, '1.9.0');
    expect(await t.file('main', 'envs/staging/web/kustomization.yaml')).toBe(kustomization(WEB, '1.9.0'));
  });

  it('/baton deploy staging on a failed pipeline is refused with the reason', async () => {
    const pipeline = h.emu.addPipeline(APP, { sha: RED, ref: 'feature', status: 'failed' });
    const head = await t.env().repo.head();
    const id = await t.comment('alice', '/baton deploy staging');
    expect(await t.env().repo.head()).toBe(head);
    expect(t.replyTo(id)).toContain(`@alice This merge request's build \`deadbee\` cannot be deployed: its CI failed (pipeline #${pipeline}: failed)`);
    expect(t.reactions(id)).toEqual(['eyes', 'confused']);
  });

  it('/baton deploy staging on a running pipeline is refused until it passes, then lands', async () => {
    const sha = 'feedface00112233445566778899aabbccddeeff';
    const iid = h.emu.openMergeRequest(APP, { source: 'green', target: 'main', title: 'Green', author: 'dave', sha });
    h.emu.addPipeline(APP, { sha, ref: 'green', status: 'running' });
    const first = await t.comment('alice', '/baton deploy staging', iid);
    expect(t.replyTo(first, iid)).toMatch(/its CI is still running/);
    h.emu.addPipeline(APP, { sha, ref: 'green', status: 'success' });
    await t.comment('alice', '/baton deploy staging', iid);
    expect(await t.file('main', 'envs/staging/web/kustomization.yaml')).toBe(kustomization(WEB, 'feedfac'));
  });

  it('/baton promote refuses a version whose source commit’s pipeline has since failed', async () => {
    const app = h.emu.project(APP).repo;
    const sha = await app.commit({ 'red.txt': 'x\n' }, 'turns red later', 'red-later');
    const iid = h.emu.openMergeRequest(APP, { source: 'red-later', target: 'main', title: 'Red later', author: 'dave' });
    h.emu.addPipeline(APP, { sha, ref: 'red-later', status: 'success' });
    await t.comment('alice', '/baton deploy staging', iid);
    const short = sha.slice(0, 7);
    expect(await t.file('main', 'envs/staging/web/kustomization.yaml')).toContain(`newTag: "${short}"`);
    const pipeline = h.emu.addPipeline(APP, { sha, ref: 'red-later', status: 'failed' });
    const head = await t.env().repo.head('baton/production').catch(() => undefined);
    const id = await t.comment('alice', '/baton promote production web', iid);
    expect(t.replyTo(id, iid)).toContain(`Nothing was promoted to \`production\`: \`web\` \`${short}\``);
    // The pipeline reference is shown, not linked (Markdown-escaped as every forge-supplied text).
    expect(t.replyTo(id, iid)).toContain(`whose CI failed (pipeline \\#&#8203;${pipeline}: failed)`);
    expect(await t.env().repo.head('baton/production').catch(() => undefined)).toBe(head);
  });

  it('an edited note runs only what is new in it', async () => {
    const before = await t.env().repo.head();
    const id = await t.comment('alice', '/baton status');
    const statusRuns = (): number => (t.results() ?? '').split('<code>status</code>').length - 1;
    const ranBefore = statusRuns();
    const edited = '/baton status\n/baton help';
    const r = await h.baton.post('/webhooks/gitlab', noteHook(id, 1, 'alice', edited, 'update'), { 'x-gitlab-event': 'Note Hook', 'x-gitlab-token': SECRET });
    expect(r.status).toBe(202);
    await h.baton.idle(60_000);
    expect(t.results()).toContain('· alice · <code>help</code>');
    // The edit's unchanged `/baton status` line did not run a second time.
    expect(statusRuns()).toBe(ranBefore);
    expect(await t.env().repo.head()).toBe(before);
  });
});

describe('ChatOps on GitLab: who may run what (access levels mapped onto roles)', () => {
  let h: Harness;
  const t = tools(() => h);
  // GitLab access levels: Owner 50 → admin, Maintainer 40 → maintain, Developer 30 → write, Reporter 20 → triage, Guest 10 → read.
  const levels: [string, number | undefined][] = [['admin', 50], ['maintain', 40], ['write', 30], ['triage', 20], ['read', 10], ['none', undefined]];
  const commands = ['help', 'status', 'diff production', 'deploy production', 'promote production', 'rollback production web to 1.4.2', 'pause production', 'resume production'];

  beforeAll(async () => {
    h = await start('[write, maintain, admin]');
    for (const [role, level] of levels) if (level !== undefined) h.emu.addMember(APP, `user-${role}`, level);
    h.emu.openMergeRequest(APP, { source: 'feature', target: 'main', title: 'Feature', author: 'dave', sha: RED });
    h.emu.addPipeline(APP, { sha: RED, ref: 'feature', status: 'success' });
  });
  afterAll(async () => {
    await h?.baton.close();
    await h?.emu.close();
  });

  for (const [role] of levels) {
    it(`${role}: guarded commands only for write/maintain/admin; a refusal names the role needed and held`, async () => {
      const id = await t.comment(`user-${role}`, commands.map((c) => `/baton ${c}`).join('\n'));
      const reply = t.replyTo(id) ?? '';
      const allowed = ['admin', 'maintain', 'write'].includes(role);
      for (const command of commands) {
        const label = command.split(' ').slice(0, 2).join(' ');
        const guarded = !['help', 'status', 'diff production'].includes(command);
        if (guarded && !allowed) expect(reply, `${role} ${command}`).toContain(`\`${label}\` needs the role \`write\` or \`maintain\` or \`admin\` (\`environments.production.approvers\`); \`user-${role}\` has \`${role}\`.`);
        else expect(reply, `${role} ${command}`).not.toContain(`\`${label}\` needs the role`);
      }
    });
  }

  it("a fork's author cannot deploy or promote, whatever their access level", async () => {
    h.emu.addMember(APP, 'mallory', 50);
    const iid = h.emu.openMergeRequest(APP, { source: 'evil', target: 'main', title: 'From a fork', author: 'mallory', sha: RED, forkProjectId: 999 });
    const head = await t.env().repo.head();
    const id = await t.comment('mallory', '/baton deploy staging\n/baton promote production', iid);
    const reply = t.replyTo(id, iid) ?? '';
    expect(reply).toContain('`deploy staging` cannot be run by the author of a pull request from a fork');
    expect(reply).toContain('`promote production` cannot be run by the author of a pull request from a fork');
    expect(t.reactions(id, iid)).toEqual(['eyes', 'confused']);
    expect(await t.env().repo.head()).toBe(head);
  });
});
