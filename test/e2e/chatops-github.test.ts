/**
 * ChatOps end to end over HTTP on the GitHub emulator: signed `issue_comment` deliveries with
 * `/baton` commands on a pull request of the app repo acme/web; Baton writes the env repo acme/env.
 */

import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_MARKER } from '../../src/core/report/comment.js';
import { githubWebhookRoute } from '../../src/sources/github/index.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import { emulatedGitHub } from '../emulators/github/harness.js';
import type { EmuRole } from '../emulators/github/state.js';
import type { TestBaton } from '../helpers/baton.js';
import { kustomization, startTestBaton } from '../helpers/baton.js';
import { ghcrPackageEvent, githubExample, githubHeaders } from '../helpers/github.js';
import type { Payload } from '../helpers/github.js';

const SECRET = 'github-webhook-secret-0123456789';
const WEB = 'ghcr.io/acme/web';
const API = 'registry.example.com/acme/api';
const HEAD = 'b7e2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4';

const CONFIG = `version: 1
environments:
  staging:
    branch: main
    write: commit
    approvers: [write, maintain, admin]
  production:
    branch: main
    write: merge-request
    promoteFrom: staging
    auto: false
images:
  web:
    repository: ${WEB}
    source: github:acme/web
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
previews:
  web:
    branch: previews
    path: apps/{{name}}.yaml
    template: templates/preview.yaml
    trigger: command
`;

const SEED = {
  '.baton.yml': CONFIG,
  'envs/staging/web/kustomization.yaml': kustomization(WEB, '1.4.2'),
  'envs/staging/api/kustomization.yaml': kustomization(API, '2.0.0'),
  'envs/production/web/kustomization.yaml': kustomization(WEB, '1.4.2'),
  'envs/production/api/kustomization.yaml': kustomization(API, '1.0.0'),
};



/** GitHub's example `issue_comment` delivery, made a comment on pull request `number` of acme/web. */
function commentEvent(id: number, number: number, user: string, body: string, previousBody?: string): Payload {
  // GitHub's examples are comments on issues; a pull request's issue carries a `pull_request` link object.
  const p = githubExample('issue_comment', (x) => x['action'] === 'created');
  Object.assign(p['repository'] as Payload, { full_name: 'acme/web', default_branch: 'main' });
  Object.assign(p['issue'] as Payload, { number, pull_request: { url: `https://api.github.com/repos/acme/web/pulls/${number}` } });
  Object.assign(p['comment'] as Payload, { id, body, user: { login: user, type: 'User' } });
  p['sender'] = { login: user, type: 'User' };
  if (previousBody !== undefined) {
    p['action'] = 'edited';
    p['changes'] = { body: { from: previousBody } };
  }
  return p;
}

interface Harness {
  gh: EmulatedGitHub;
  baton: TestBaton;
  logs: string[];
}

async function start(seed: Record<string, string>): Promise<Harness> {
  const gh = await emulatedGitHub(seed);
  await gh.emulator.createRepo('acme/web', { 'README.md': '# web\n' });
  gh.emulator.grant('acme/web', 'baton-bot', 'write');
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const baton = await startTestBaton({
    envRepo: { forge: gh.forge, repo: gh.repo, label: `github:${gh.repo}`, embedded: false },
    sources: { github: githubWebhookRoute({ WEBHOOK_SECRET: SECRET, BATON_BOT_LOGIN: 'baton-bot' }) },
    logger,
  });
  return { gh, baton, logs };
}

function tools(h: () => Harness) {
  const post = async (event: string, body: object) => {
    const raw = JSON.stringify(body);
    const r = await h().baton.post('/webhooks/github', raw, githubHeaders(event, raw, SECRET));
    expect(r.status).toBeLessThan(300);
    return r;
  };
  const web = () => {
    const r = h().gh.emulator.state.repo('acme', 'web');
    if (!r) throw new Error('no app repo');
    return r;
  };
  const env = () => {
    const r = h().gh.emulator.state.repo('acme', 'env');
    if (!r) throw new Error('no env repo');
    return r;
  };
  /** Write a comment on acme/web#number as `user` (the emulator keeps it) and deliver its webhook. */
  const comment = async (user: string, body: string, number = 1): Promise<number> => {
    const [id] = h().gh.emulator.addComments('acme/web', number, user, [body]);
    if (id === undefined) throw new Error('no comment id');
    await post('issue_comment', commentEvent(id, number, user, body));
    // GitHub's client spaces comment creation (its content-creation limit), so replies take seconds.
    await h().baton.idle(60_000);
    return id;
  };
  const reactions = (commentId: number) => web().reactions.filter((r) => r.subject.kind === 'comment' && r.subject.id === commentId).map((r) => r.content);
  const replyTo = (commentId: number) => web().comments.find((c) => c.body.includes(`<!-- baton:reply:${commentId} -->`))?.body;
  // Command results live in the MR's one Baton comment (the report).
  const results = (number = 1) => web().comments.find((c) => c.issueNumber === number && c.body.includes(REPORT_MARKER))?.body;
  const push = async (tag: string) => {
    await post('package', ghcrPackageEvent(tag));
    await h().baton.idle();
  };
  return { post, web, env, comment, reactions, replyTo, results, push };
}

/** The MR text as a person reads it: Markdown escapes and code spans undone. */
const rendered = (text: string | undefined): string => (text ?? '').replace(/\\(.)/g, '$1').replace(/<\/?code>/g, '');

describe('ChatOps on GitHub: promote, rollback, pause, resume, deploy', () => {
  let h: Harness;
  const t = tools(() => h);

  beforeAll(async () => {
    h = await start(SEED);
    h.gh.emulator.grant('acme/web', 'alice', 'maintain');
    h.gh.emulator.openPull('acme/web', { head: 'feature', base: 'main', title: 'Feature', user: 'dave', headSha: HEAD });
    // Two releases reach staging through Baton, so its history has trailers to roll back along.
    await t.push('1.5.0');
    await t.push('1.6.0');
  });
  afterAll(async () => {
    await h?.baton.close();
    await h?.gh.emulator.close();
  });

  it('/baton promote production by a maintainer opens the rolling pull request with staging versions of every image', async () => {
    const main = await t.env().testRepo.head();
    const id = await t.comment('alice', 'Ship it\n\n/baton promote production');
    const open = t.env().pulls.filter((p) => p.state === 'open');
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ head: 'baton/production', base: 'main' });
    expect(rendered(open[0]?.body)).toMatch(/\| web \| 1\.4\.2 \| 1\.6\.0 \|/);
    expect(rendered(open[0]?.body)).toMatch(/\| api \| 1\.0\.0 \| 2\.0\.0 \|/);
    expect(await t.env().testRepo.show('baton/production', 'envs/production/web/kustomization.yaml')).toContain('newTag: "1.6.0"');
    expect(await t.env().testRepo.show('baton/production', 'envs/production/api/kustomization.yaml')).toContain('newTag: "2.0.0"');
    // A merge-request environment never gets a direct commit from a command.
    expect(await t.env().testRepo.head()).toBe(main);
    const message = await t.env().testRepo.message('baton/production');
    expect(message).toContain('Baton-Actor: alice');
    expect(message).toContain('Baton-Command: promote production');
    expect(t.reactions(id)).toEqual(['eyes', 'rocket']);
    expect(t.results()).toMatch(/web 1\.4\.2 → 1\.6\.0 in production/);
    expect(h.gh.emulator.violations).toEqual([]);
  });

  it('a second promote after staging moved updates the same pull request in place', async () => {
    await t.push('1.7.0');
    await t.comment('alice', '/baton promote production web');
    const pulls = t.env().pulls.filter((p) => p.head === 'baton/production');
    expect(pulls).toHaveLength(1);
    expect(pulls[0]?.state).toBe('open');
    expect(rendered(pulls[0]?.body)).toContain('1.7.0');
    expect(await t.env().testRepo.show('baton/production', 'envs/production/web/kustomization.yaml')).toContain('newTag: "1.7.0"');
  });

  it('/baton diff production shows the plan as a diff and writes nothing', async () => {
    await t.push('1.7.1');
    const before = [await t.env().testRepo.head(), await t.env().testRepo.show('baton/production', 'envs/production/web/kustomization.yaml')];
    await t.comment('bob', '/baton diff production');
    expect(t.results()).toMatch(/- {4}newTag: "1\.7\.0"\n\+ {4}newTag: "1\.7\.1"/);
    expect([await t.env().testRepo.head(), await t.env().testRepo.show('baton/production', 'envs/production/web/kustomization.yaml')]).toEqual(before);
  });

  it('/baton rollback staging web commits the previous version, naming who and why', async () => {
    const id = await t.comment('alice', '/baton rollback staging web');
    expect(await t.env().testRepo.show('main', 'envs/staging/web/kustomization.yaml')).toContain('newTag: "1.7.0"');
    const message = await t.env().testRepo.message('main');
    expect(message.split('\n')[0]).toBe('web 1.7.1 → 1.7.0 in staging');
    expect(message).toContain('Baton-Rollback: alice: rollback from 1.7.1 to 1.7.0');
    expect(t.reactions(id)).toEqual(['eyes', 'rocket']);
    // Rolling back again walks further back instead of undoing the first rollback.
    await t.comment('alice', '/baton rollback staging web');
    expect(await t.env().testRepo.show('main', 'envs/staging/web/kustomization.yaml')).toContain('newTag: "1.6.0"');
  });

  it('/baton rollback … to <version> goes where it is told, even down', async () => {
    await t.comment('alice', '/baton rollback staging web to 1.5.0');
    expect(await t.env().testRepo.show('main', 'envs/staging/web/kustomization.yaml')).toContain('newTag: "1.5.0"');
  });

  it('/baton pause staging, then a registry push: no bump, and the reason is logged and shown in status', async () => {
    const id = await t.comment('alice', '/baton pause staging');
    expect(t.reactions(id)).toEqual(['eyes', 'rocket']);
    const state = await t.env().testRepo.show('main', '.baton/state.yml');
    expect(state).toMatch(/paused:\n {2}staging:\n {4}by: alice\n/);
    const head = await t.env().testRepo.head();
    h.logs.length = 0;
    await t.push('1.8.0');
    expect(await t.env().testRepo.head()).toBe(head);
    expect(h.logs.join('\n')).toContain('web: staging is paused');
    // A preview of this merge request (and one of another) on the preview branch.
    await t.env().testRepo.commit({ 'apps/web-pr-1.yaml': 'kind: Application\n', 'apps/web-pr-7.yaml': 'kind: Application\n' }, 'previews', 'previews');
    await t.comment('bob', '/baton status');
    expect(t.results()).toMatch(/\| staging \| web \| 1\.5\.0 \| paused by `alice` \|/);
    expect(t.results()).toContain('Previews: `web-pr-1` (this merge request), `web-pr-7`.');
  });

  it('/baton resume staging: the next push lands', async () => {
    await t.comment('alice', '/baton resume staging');
    await t.push('1.9.0');
    expect(await t.env().testRepo.show('main', 'envs/staging/web/kustomization.yaml')).toContain('newTag: "1.9.0"');
  });

  it('/baton deploy staging on a red CI is refused with the reason', async () => {
    h.gh.emulator.addCheckRun('acme/web', { sha: HEAD, name: 'build', status: 'completed', conclusion: 'success' });
    h.gh.emulator.addCheckRun('acme/web', { sha: HEAD, name: 'test', status: 'completed', conclusion: 'failure' });
    const head = await t.env().testRepo.head();
    const id = await t.comment('alice', '/baton deploy staging');
    expect(await t.env().testRepo.head()).toBe(head);
    expect(t.replyTo(id)).toMatch(/@alice This merge request's build `b7e2c1d` cannot be deployed: its CI failed \(test: failure\)/);
    expect(t.reactions(id)).toEqual(['eyes', 'confused']);
  });

  it('/baton deploy staging once CI is green sets the pull request build', async () => {
    const green = 'c0ffee0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e';
    const number = h.gh.emulator.openPull('acme/web', { head: 'green', base: 'main', title: 'Green', user: 'dave', headSha: green });
    h.gh.emulator.addCheckRun('acme/web', { sha: green, name: 'build', status: 'completed', conclusion: 'success' });
    await t.comment('alice', '/baton deploy staging', number);
    expect(await t.env().testRepo.show('main', 'envs/staging/web/kustomization.yaml')).toContain('newTag: "c0ffee0"');
    expect(await t.env().testRepo.message('main')).toContain(`Baton-Source: github:acme/web@c0ffee0 (#${number})`);
    // Promoting that version on links back to the app commit it was built from.
    await t.comment('alice', '/baton promote production web', number);
    expect(await t.env().testRepo.message('baton/production')).toContain(`Baton-Source: github:acme/web@c0ffee0 (#${number})`);
    // Against what production runs on its base branch (the rolling branch was rebuilt on the moved base).
    expect(t.results(number)).toMatch(/web \S+ → c0ffee0 in production in https:\/\/github\.com\/acme\/env\/pull\//);
    expect(t.results(number)).toContain(`(built from \`github:acme/web@c0ffee0 (#${number})\`)`);
  });

  it('/baton promote refuses a version whose source commit’s CI has turned red, naming the check', async () => {
    const sha = await t.web().testRepo.commit({ 'red.txt': 'x\n' }, 'turns red later', 'red-later');
    const number = h.gh.emulator.openPull('acme/web', { head: 'red-later', base: 'main', title: 'Red later', user: 'dave' });
    h.gh.emulator.addCheckRun('acme/web', { sha, name: 'build', status: 'completed', conclusion: 'success' });
    await t.comment('alice', '/baton deploy staging', number);
    expect(await t.env().testRepo.show('main', 'envs/staging/web/kustomization.yaml')).toContain(`newTag: "${sha.slice(0, 7)}"`);
    const before = await t.env().testRepo.show('baton/production', 'envs/production/web/kustomization.yaml').catch(() => '');
    h.gh.emulator.addCheckRun('acme/web', { sha, name: 'e2e', status: 'completed', conclusion: 'failure' });
    const id = await t.comment('alice', '/baton promote production web', number);
    expect(t.replyTo(id)).toMatch(new RegExp(`Nothing was promoted to \`production\`: \`web\` \`${sha.slice(0, 7)}\` was built from \`acme/web@${sha.slice(0, 7)}\`, whose CI failed \\(e2e: failure\\)`));
    expect(await t.env().testRepo.show('baton/production', 'envs/production/web/kustomization.yaml').catch(() => '')).toBe(before);
  });

  it('an edited comment runs only its new command; code and quotes never run', async () => {
    const before = await t.env().testRepo.show('main', '.baton/state.yml');
    const body = '> /baton pause staging\n\n```\n/baton pause staging\n```\n/baton status';
    const [id] = h.gh.emulator.addComments('acme/web', 1, 'alice', [body]);
    await t.post('issue_comment', commentEvent(id ?? 0, 1, 'alice', `${body}\n/baton help`, body));
    await h.baton.idle();
    expect(await t.env().testRepo.show('main', '.baton/state.yml')).toBe(before);
    expect(t.results()).toMatch(/`\/baton help`/);
  });

  it('a usage error gets one reply with a suggestion, and 😕', async () => {
    const id = await t.comment('alice', '/baton promot production');
    expect(t.replyTo(id)).toMatch(/`promot` is not a Baton command\. Did you mean `promote`\?/);
    expect(t.reactions(id)).toEqual(['eyes', 'confused']);
    expect(h.gh.emulator.violations).toEqual([]);
  });
});

const MATRIX_CONFIG = `version: 1
environments:
  staging:
    branch: main
    write: commit
  production:
    branch: main
    write: merge-request
    promoteFrom: staging
    approvers: [maintain, admin]
    auto: false
images:
  web:
    repository: ${WEB}
    source: github:acme/web
    policy: semver
    targets:
      staging:
        - envs/staging/web/kustomization.yaml
      production:
        - envs/production/web/kustomization.yaml
`;

describe('ChatOps on GitHub: who may run what (roles from the collaborator permission API)', () => {
  let h: Harness;
  const t = tools(() => h);
  const roles: (EmuRole | 'none')[] = ['admin', 'maintain', 'write', 'triage', 'read', 'none'];
  const commands = ['help', 'status', 'diff production', 'deploy production', 'promote production', 'rollback production web to 1.4.2', 'pause production', 'resume production'];

  beforeAll(async () => {
    h = await start({
      '.baton.yml': MATRIX_CONFIG,
      'envs/staging/web/kustomization.yaml': kustomization(WEB, '1.5.0'),
      'envs/production/web/kustomization.yaml': kustomization(WEB, '1.4.2'),
    });
    for (const role of roles) if (role !== 'none') h.gh.emulator.grant('acme/web', `user-${role}`, role);
    h.gh.emulator.addUser('user-none');
    h.gh.emulator.openPull('acme/web', { head: 'feature', base: 'main', title: 'Feature', user: 'dave', headSha: HEAD });
    h.gh.emulator.addCheckRun('acme/web', { sha: HEAD, name: 'build', status: 'completed', conclusion: 'success' });
  });
  afterAll(async () => {
    await h?.baton.close();
    await h?.gh.emulator.close();
  });

  for (const role of roles) {
    it(`${role}: open commands run, guarded ones only for maintain/admin, and each refusal names the role needed and held`, async () => {
      // All eight commands in one comment, one per line: one reply lists every refusal.
      const id = await t.comment(`user-${role}`, commands.map((c) => `/baton ${c}`).join('\n'));
      const reply = t.replyTo(id) ?? '';
      const allowed = role === 'admin' || role === 'maintain';
      for (const command of commands) {
        const label = command.split(' ').slice(0, 2).join(' ');
        const refusal = `\`${label}\` needs the role \`maintain\` or \`admin\` (\`environments.production.approvers\`); \`user-${role}\` has \`${role}\`.`;
        const guarded = !['help', 'status', 'diff production'].includes(command);
        if (guarded && !allowed) expect(reply, `${role} ${command}`).toContain(refusal);
        else expect(reply, `${role} ${command}`).not.toContain(`\`${label}\` needs the role`);
      }
      expect(t.reactions(id)).toEqual(allowed ? ['eyes', 'rocket'] : ['eyes', 'confused']);
    });
  }

  it("a fork's author cannot deploy or promote, whatever their role", async () => {
    h.gh.emulator.grant('acme/web', 'mallory', 'admin');
    const number = h.gh.emulator.openPull('acme/web', { head: 'evil', base: 'main', title: 'From a fork', user: 'mallory', headRepo: 'mallory/web', headSha: HEAD });
    const head = await t.env().testRepo.head();
    for (const command of ['deploy staging', 'promote production']) {
      const id = await t.comment('mallory', `/baton ${command}`, number);
      expect(t.replyTo(id)).toMatch(/cannot be run by the author of a pull request from a fork/);
      expect(t.reactions(id)).toEqual(['eyes', 'confused']);
    }
    expect(await t.env().testRepo.head()).toBe(head);
    expect(t.env().pulls.filter((p) => p.head === 'baton/production' && p.user === 'mallory')).toEqual([]);
  });

  it('the role is checked again when the work is written: a role taken away meanwhile stops it', async () => {
    h.gh.emulator.grant('acme/web', 'carol', 'maintain');
    await t.push('1.6.0');
    const [id] = h.gh.emulator.addComments('acme/web', 1, 'carol', ['/baton promote production']);
    // Carol loses the role right after the command is accepted, before the debounce window ends.
    const delivered = t.post('issue_comment', commentEvent(id ?? 0, 1, 'carol', '/baton promote production'));
    await delivered;
    for (let i = 0; i < 400 && !(t.results() ?? '').includes('· carol ·'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(t.results()).toMatch(/Queued web 1\.6\.0 for `production`/);
    h.gh.emulator.grant('acme/web', 'carol', 'read');
    await h.baton.idle();
    const after = await t.env().testRepo.show('baton/production', 'envs/production/web/kustomization.yaml').catch(() => undefined);
    expect(after ?? '').not.toContain('1.6.0');
    expect(t.replyTo(id ?? 0)).toMatch(/was not carried out: `carol` now has the role `read`/);
  });
});
