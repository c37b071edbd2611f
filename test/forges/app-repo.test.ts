/** The app-repository reads previews rely on, against the GitHub and GitLab emulators. */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitlabAppRepo } from '../../src/forges/gitlab/app-repo.js';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import { emulatedGitHub } from '../emulators/github/harness.js';
import type { EmuRepo } from '../emulators/github/state.js';
import type { EmulatedProject, GitlabEmulator } from '../emulators/gitlab/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';

describe('GitHub app-repo reads', () => {
  let gh: EmulatedGitHub;
  let app: EmuRepo;
  let sha = '';
  beforeAll(async () => {
    gh = await emulatedGitHub({ 'x.txt': 'x\n' });
    app = await gh.emulator.createRepo('acme/web', { 'README.md': 'web\n' });
    gh.emulator.grant('acme/web', 'baton-bot', 'read');
    sha = await app.testRepo.commit({ 'a.txt': '1\n' }, 'a', 'feature');
    for (let i = 0; i < 130; i++) gh.emulator.openPull('acme/web', { head: 'feature', base: 'main', title: `PR ${i}`, user: 'alice' });
  });
  afterAll(async () => {
    await gh?.emulator.close();
  });

  it('reads a pull request as open, closed or merged, fork or not; 404 is undefined', async () => {
    expect(await gh.forge.getMergeRequest('acme/web', 1)).toMatchObject({ number: 1, state: 'open', headSha: sha, headBranch: 'feature', fromFork: false, author: 'alice' });
    const p2 = app.pulls.find((p) => p.number === 2);
    if (p2) Object.assign(p2, { state: 'closed', mergedAt: '2030-01-01T00:00:00Z' });
    expect((await gh.forge.getMergeRequest('acme/web', 2))?.state).toBe('merged');
    const p3 = app.pulls.find((p) => p.number === 3);
    if (p3) Object.assign(p3, { state: 'closed', fork: { fullName: 'mallory/web', sha } });
    expect(await gh.forge.getMergeRequest('acme/web', 3)).toMatchObject({ state: 'closed', fromFork: true });
    expect(await gh.forge.getMergeRequest('acme/web', 9999)).toBeUndefined();
  });

  it('lists every open pull request across pages, and fails rather than answer partly', async () => {
    gh.emulator.resetCounts();
    const open = await gh.forge.listOpenMergeRequests('acme/web');
    expect(open).toHaveLength(128);
    expect(new Set(open.map((p) => p.number)).size).toBe(128);
    expect(gh.emulator.requests.map((r) => r.route)).toEqual(['GET /repos/{owner}/{repo}/pulls', 'GET /repos/{owner}/{repo}/pulls']);
    gh.emulator.faults.failNext(100, 502);
    await expect(gh.forge.listOpenMergeRequests('acme/web')).rejects.toThrow();
    gh.emulator.faults.clear();
    expect(gh.emulator.violations).toEqual([]);
  });

  it('build state from check runs: none, pending, failure, success', async () => {
    const s = await app.testRepo.commit({ 'b.txt': '1\n' }, 'b', 'other');
    expect(await gh.forge.buildState('acme/web', s)).toBe('none');
    gh.emulator.addCheckRun('acme/web', s, { name: 'test', status: 'in_progress', conclusion: null });
    expect(await gh.forge.buildState('acme/web', s)).toBe('pending');
    gh.emulator.addCheckRun('acme/web', s, { name: 'lint', conclusion: 'failure' });
    expect(await gh.forge.buildState('acme/web', s)).toBe('failure');
    const t = await app.testRepo.commit({ 'b.txt': '2\n' }, 'b2', 'other');
    gh.emulator.addCheckRun('acme/web', t, { name: 'build', conclusion: 'success' });
    gh.emulator.addCheckRun('acme/web', t, { name: 'docs', conclusion: 'skipped' });
    expect(await gh.forge.buildState('acme/web', t)).toBe('success');
  });

  it('finds the pull requests whose head is a commit', async () => {
    const prs = await gh.forge.commitMergeRequests('acme/web', sha);
    expect(prs.length).toBeGreaterThan(0);
    expect(prs.every((p) => p.headSha === sha)).toBe(true);
    expect(gh.emulator.violations).toEqual([]);
  });
});

describe('GitLab app-repo reads', () => {
  let emu: GitlabEmulator;
  let app: EmulatedProject;
  let port: GitlabAppRepo;
  let sha = '';
  beforeAll(async () => {
    emu = await startGitlabEmulator({ botUsername: 'baton-bot' });
    app = await emu.addProject('acme/web', { 'README.md': 'web\n' });
    port = new GitlabAppRepo(new GitlabForge({ url: emu.url, token: emu.token, botUsername: 'baton-bot', retry: { sleep: () => Promise.resolve() } }));
    sha = await app.repo.commit({ 'a.txt': '1\n' }, 'a', 'feature');
    for (let i = 0; i < 130; i++) emu.openMergeRequest('acme/web', { source: 'feature', title: `MR ${i}`, author: 'alice', labels: i === 0 ? ['keep-preview'] : [] });
  });
  afterAll(async () => {
    await emu?.close();
  });

  it('reads an MR as open, closed or merged, fork or not; 404 is undefined', async () => {
    expect(await port.getMergeRequest('acme/web', 1)).toMatchObject({ number: 1, state: 'open', headSha: sha, headBranch: 'feature', fromFork: false, labels: ['keep-preview'] });
    const mr2 = app.mergeRequests[1];
    if (mr2) mr2.state = 'merged';
    expect((await port.getMergeRequest('acme/web', 2))?.state).toBe('merged');
    const mr3 = app.mergeRequests[2];
    if (mr3) Object.assign(mr3, { state: 'closed', fork: { projectId: 999, sha } });
    expect(await port.getMergeRequest('acme/web', 3)).toMatchObject({ state: 'closed', fromFork: true });
    expect(await port.getMergeRequest('acme/web', 9999)).toBeUndefined();
  });

  it('lists every open MR across pages', async () => {
    const open = await port.listOpenMergeRequests('acme/web');
    expect(open).toHaveLength(128);
  });

  it('build state from the newest pipeline; MRs of a commit', async () => {
    const s = await app.repo.commit({ 'b.txt': '1\n' }, 'b', 'other');
    expect(await port.buildState('acme/web', s)).toBe('none');
    emu.addPipeline('acme/web', s, 'failed', 'other');
    expect(await port.buildState('acme/web', s)).toBe('failure');
    emu.addPipeline('acme/web', s, 'running', 'other');
    expect(await port.buildState('acme/web', s)).toBe('pending');
    emu.addPipeline('acme/web', s, 'success', 'other');
    expect(await port.buildState('acme/web', s)).toBe('success');
    const mrs = await port.commitMergeRequests('acme/web', sha);
    expect(mrs.length).toBeGreaterThan(100);
    expect(emu.errors).toEqual([]);
  });
});
