/**
 * GitLab's review side (merge requests, sticky note, award emoji, commit statuses, roles) on the emulator:
 * the forge-neutral reviews contract, then what is particular to GitLab.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitlabForge, GitlabForge, roleFromAccessLevel } from '../../src/forges/gitlab/index.js';
import type { ReviewPort, Role } from '../../src/forges/types.js';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import { NOTE_LIMIT, startGitlabEmulator } from '../emulators/gitlab/server.js';
import { reviewsContract } from './reviews-contract.js';

const repo = 'acme/platform/env';
const MARKER = '<!-- baton:report -->';

/** The access level GitLab gives the role Baton reads back (docs/gitlab.md has the mapping). */
const LEVEL: Record<Exclude<Role, 'none'>, number> = { read: 10, triage: 20, write: 30, maintain: 40, admin: 50 };

reviewsContract('gitlab', async () => {
  const emu = await startGitlabEmulator();
  const project = await emu.addProject('acme/env', { 'README.md': '# env\n' });
  const forge = new GitlabForge({ url: emu.url, token: emu.token, retry: { sleep: () => Promise.resolve() } });
  const mrOf = (n: number) => {
    const mr = project.mergeRequests.find((m) => m.iid === n);
    if (!mr) throw new Error(`no MR !${n}`);
    return mr;
  };
  return {
    forge,
    repo: 'acme/env',
    branch: 'main',
    pageSize: 100,
    maxCommentLength: NOTE_LIMIT,
    postForeignComments: async (n, bodies) => bodies.map((b) => String(emu.addNote('acme/env', n, 'mallory', b))),
    comments: async (n) => [...mrOf(n).notes].sort((a, b) => a.createdAt - b.createdAt).map((c) => ({ id: String(c.id), body: c.body, author: c.author })),
    reactions: async (n, id) => mrOf(n).notes.find((c) => String(c.id) === id)?.emoji.map((e) => e.name) ?? [],
    statuses: async (sha) =>
      project.statusLog
        .filter((s) => s.sha === sha)
        .reverse()
        .map((s) => ({ context: s.name, state: s.status, description: s.description })),
    grantRole: async (user, role) => {
      emu.addMember('acme/env', user, role === 'none' ? 0 : LEVEL[role]);
      if (role === 'none') project.members.delete(user);
    },
    openMergeRequests: async (source) => project.mergeRequests.filter((m) => m.state === 'opened' && m.source_branch === source).map((m) => ({ number: m.iid, title: m.title, body: m.description })),
    cleanup: async () => {
      expect(emu.errors).toEqual([]);
      await emu.close();
    },
  };
});

describe('gitlab reviews', () => {
  let emu: GitlabEmulator;
  let forge: GitlabForge;
  let reviews: ReviewPort;
  let head = '';
  beforeAll(async () => {
    emu = await startGitlabEmulator({ botUsername: 'baton-bot' });
    const p = await emu.addProject(repo, { 'a.yaml': 'a: 1\n' });
    head = await p.repo.head();
    forge = new GitlabForge({ url: emu.url, token: emu.token, retry: { sleep: () => Promise.resolve() } });
    reviews = forge.reviews;
    await forge.ensureBranch(repo, 'baton/production', 'main');
    await p.repo.commit({ 'a.yaml': 'a: 2\n' }, 'bump', 'baton/production');
  });
  afterAll(async () => {
    await emu?.close();
  });

  it('opens one merge request per source branch, then updates it in place', async () => {
    const first = await reviews.ensureMergeRequest(repo, { sourceBranch: 'baton/production', targetBranch: 'main', title: 'Deploy to production', body: 'web 1.0 → 1.1' });
    expect(first).toMatchObject({ number: 1, created: true });
    expect(first.url).toContain('/acme/platform/env/-/merge_requests/1');
    emu.resetCounts();
    const same = await reviews.ensureMergeRequest(repo, { sourceBranch: 'baton/production', targetBranch: 'main', title: 'Deploy to production', body: 'web 1.0 → 1.1' });
    expect(same).toMatchObject({ number: 1, created: false });
    expect(emu.counts()).toEqual({ 'GET /projects/:id/merge_requests': 1 });
    const second = await reviews.ensureMergeRequest(repo, { sourceBranch: 'baton/production', targetBranch: 'main', title: 'Deploy to production (2 images)', body: 'web 1.0 → 1.2\napi 2.0 → 2.1' });
    expect(second).toMatchObject({ number: 1, created: false });
    const mrs = emu.project(repo).mergeRequests;
    expect(mrs).toHaveLength(1);
    expect(mrs[0]).toMatchObject({ title: 'Deploy to production (2 images)', description: 'web 1.0 → 1.2\napi 2.0 → 2.1', state: 'opened' });
  });

  it('a later bump edits the merge request it knows in one request; one closed meanwhile is noticed and replaced', async () => {
    const spec = { sourceBranch: 'baton/rolling', targetBranch: 'main' };
    await forge.ensureBranch(repo, 'baton/rolling', 'main');
    const opened = await reviews.ensureMergeRequest(repo, { ...spec, title: 'Deploy to rolling', body: 'web 1 → 2' });
    emu.resetCounts();
    const later = await reviews.ensureMergeRequest(repo, { ...spec, title: 'Deploy to rolling', body: 'web 1 → 3' });
    expect(later).toEqual({ number: opened.number, url: opened.url, created: false });
    expect(emu.counts()).toEqual({ 'PUT /projects/:id/merge_requests/:n': 1 });
    // Someone closes it; the next bump's edit reports it closed, so Baton opens a new one.
    const mr = emu.project(repo).mergeRequests.find((m) => m.iid === opened.number);
    if (mr) mr.state = 'closed';
    const replaced = await reviews.ensureMergeRequest(repo, { ...spec, title: 'Deploy to rolling', body: 'web 1 → 4' });
    expect(replaced.created).toBe(true);
    expect(replaced.number).not.toBe(opened.number);
    const open = emu.project(repo).mergeRequests.filter((m) => m.source_branch === 'baton/rolling' && m.state === 'opened');
    expect(open.map((m) => [m.iid, m.description])).toEqual([[replaced.number, 'web 1 → 4']]);
  });

  it('the emulator refuses a second open merge request for a source branch, as GitLab does', async () => {
    const res = await fetch(`${emu.url}/api/v4/projects/${encodeURIComponent(repo)}/merge_requests`, {
      method: 'POST',
      headers: { 'private-token': emu.token, 'content-type': 'application/json' },
      body: JSON.stringify({ source_branch: 'baton/production', target_branch: 'main', title: 'dup' }),
    });
    expect(res.status).toBe(409);
    expect(JSON.stringify(await res.json())).toContain('Another open merge request already exists');
  });

  it('upserts the sticky note: created once, untouched when unchanged, edited on change', async () => {
    const created = await reviews.upsertComment(repo, 1, MARKER, `${MARKER}\n| env | web |\n| staging | 1.1 |`);
    expect(created.changed).toBe(true);
    emu.resetCounts();
    const unchanged = await reviews.upsertComment(repo, 1, MARKER, `${MARKER}\n| env | web |\n| staging | 1.1 |`);
    expect(unchanged).toEqual({ id: created.id, changed: false });
    expect(Object.keys(emu.counts())).toEqual(['GET /projects/:id/merge_requests/:n/notes']);
    const edited = await reviews.upsertComment(repo, 1, MARKER, `${MARKER}\n| env | web |\n| staging | 1.2 |`);
    expect(edited).toEqual({ id: created.id, changed: true });
    const notes = emu.project(repo).mergeRequests[0]?.notes ?? [];
    expect(notes.filter((n) => n.body.includes(MARKER))).toHaveLength(1);
    expect(notes[0]?.body).toContain('1.2');
  });

  it("finds its note past the first page, and never edits someone else's note that quotes the marker", async () => {
    await reviews.ensureMergeRequest(repo, { sourceBranch: 'baton/production', targetBranch: 'main', title: 't', body: 'b' });
    await forge.ensureBranch(repo, 'baton/staging', 'main');
    await emu.project(repo).repo.commit({ 'a.yaml': 'a: 3\n' }, 'bump', 'baton/staging');
    const mr = await reviews.ensureMergeRequest(repo, { sourceBranch: 'baton/staging', targetBranch: 'main', title: 'staging', body: 'b' });
    const quote = emu.addNote(repo, mr.number, 'mallory', `look: ${MARKER}`);
    for (let i = 0; i < 120; i++) emu.addNote(repo, mr.number, 'alice', `comment ${i}`);
    const first = await reviews.upsertComment(repo, mr.number, MARKER, 'report v1');
    expect(first.id).not.toBe(String(quote));
    for (let i = 0; i < 120; i++) emu.addNote(repo, mr.number, 'bob', `later ${i}`);
    emu.resetCounts();
    const again = await reviews.upsertComment(repo, mr.number, MARKER, 'report v2');
    expect(again).toEqual({ id: first.id, changed: true });
    // 242 notes at 100 per page: three pages read, then one edit.
    expect(emu.counts()).toEqual({ 'GET /projects/:id/merge_requests/:n/notes': 3, 'PUT /projects/:id/merge_requests/:n/notes/:n': 1 });
    const notes = emu.project(repo).mergeRequests.find((m) => m.iid === mr.number)?.notes ?? [];
    expect(notes.find((n) => n.id === quote)?.body).toBe(`look: ${MARKER}`);
    expect(notes.find((n) => String(n.id) === first.id)?.body).toBe(`${MARKER}\nreport v2`);
  });

  it('keeps a huge report under the 1,000,000-character note limit the emulator enforces', async () => {
    const res = await fetch(`${emu.url}/api/v4/projects/${encodeURIComponent(repo)}/merge_requests/1/notes`, {
      method: 'POST',
      headers: { 'private-token': emu.token, 'content-type': 'application/json' },
      body: JSON.stringify({ body: 'x'.repeat(NOTE_LIMIT + 1) }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('is too long (maximum is 1000000 characters)');
    const r = await reviews.upsertComment(repo, 1, MARKER, 'y'.repeat(NOTE_LIMIT + 50));
    const note = emu.project(repo).mergeRequests[0]?.notes.find((n) => String(n.id) === r.id);
    expect(note?.body.length).toBe(NOTE_LIMIT);
    expect(note?.body).toContain('Truncated');
  });

  it('awards emoji on a note and on the merge request, and treats a repeat as done', async () => {
    const { id } = await reviews.upsertComment(repo, 1, MARKER, 'short');
    await reviews.react(repo, id, 'eyes', 1);
    await reviews.react(repo, id, 'eyes', 1);
    await reviews.react(repo, id, 'rocket', 1);
    await reviews.react(repo, '', 'confused', 1);
    const mr = emu.project(repo).mergeRequests[0];
    expect(mr?.notes.find((n) => String(n.id) === id)?.emoji.map((e) => e.name)).toEqual(['eyes', 'rocket']);
    expect(mr?.emoji.map((e) => e.name)).toEqual(['confused']);
    await expect(reviews.react(repo, id, 'eyes')).rejects.toThrow(/merge request number/);
  });

  it('sets commit statuses mapped onto GitLab states, skipping a repeat of the current one', async () => {
    await reviews.setStatus(repo, { sha: head, context: 'baton/staging', state: 'pending', description: 'bumping web' });
    emu.resetCounts();
    await reviews.setStatus(repo, { sha: head, context: 'baton/staging', state: 'pending', description: 'bumping web' });
    expect(emu.counts()).toEqual({ 'GET /projects/:id/repository/commits/:sha/statuses': 1 });
    await reviews.setStatus(repo, { sha: head, context: 'baton/staging', state: 'success', description: 'deployed', targetUrl: 'https://argocd.example/app' });
    await reviews.setStatus(repo, { sha: head, context: 'baton/production', state: 'failure', description: 'sync failed' });
    await reviews.setStatus(repo, { sha: head, context: 'baton/canary', state: 'error', description: 'could not write' });
    const byName = Object.fromEntries(emu.project(repo).statuses.map((s) => [s.name, s.status]));
    expect(byName).toEqual({ 'baton/staging': 'success', 'baton/production': 'failed', 'baton/canary': 'failed' });
  });

  it('the emulator refuses re-posting a pending status, and the adapter treats that refusal as done', async () => {
    const post = (): Promise<Response> =>
      fetch(`${emu.url}/api/v4/projects/${encodeURIComponent(repo)}/statuses/${head}`, {
        method: 'POST',
        headers: { 'private-token': emu.token, 'content-type': 'application/json' },
        body: JSON.stringify({ state: 'pending', name: 'baton/race' }),
      });
    expect((await post()).status).toBe(201);
    const again = await post();
    expect(again.status).toBe(400);
    expect(JSON.stringify(await again.json())).toContain('Cannot transition status via :enqueue from :pending');
    // A description change on the same state reaches the POST, which GitLab refuses: not an error for Baton.
    await expect(reviews.setStatus(repo, { sha: head, context: 'baton/race', state: 'pending', description: 'new text' })).resolves.toBeUndefined();
  });

  it('maps access levels onto roles', async () => {
    const levels: [string, number][] = [
      ['guest', 10],
      ['planner', 15],
      ['reporter', 20],
      ['developer', 30],
      ['maintainer', 40],
      ['owner', 50],
    ];
    for (const [name, level] of levels) emu.addMember(repo, name, level);
    const roles: Record<string, string> = {};
    for (const [name] of levels) roles[name] = await reviews.roleOf(repo, name);
    expect(roles).toEqual({ guest: 'read', planner: 'read', reporter: 'triage', developer: 'write', maintainer: 'maintain', owner: 'admin' });
    expect(await reviews.roleOf(repo, 'nobody')).toBe('none');
    emu.addMember('acme/platform/env', 'outsider', 30);
    emu.project(repo).members.delete('outsider');
    expect(await reviews.roleOf(repo, 'outsider')).toBe('none');
    emu.resetCounts();
    expect(await reviews.roleOf(repo, '../admin')).toBe('none');
    expect(emu.requests).toHaveLength(0);
    expect(roleFromAccessLevel(0)).toBe('none');
  });
});

describe('gitlab forge from settings', () => {
  it('needs a token, accepts an /api/v4 URL and refuses credentials in the URL', () => {
    expect(() => createGitlabForge({})).toThrow(/GITLAB_TOKEN/);
    expect(createGitlabForge({ GITLAB_TOKEN: 't', GITLAB_URL: 'https://gitlab.example.com/api/v4/' }).kind).toBe('gitlab');
    expect(() => createGitlabForge({ GITLAB_TOKEN: 't', GITLAB_URL: 'https://u:p@gitlab.example.com' })).toThrow(/credentials/);
  });
});
