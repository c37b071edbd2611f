/**
 * What ChatOps reads from a forge — the merge request (fork or not, head commit), CI's verdict on a
 * commit, and the commits that touched a file — on the GitHub and GitLab emulators.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitlabForge } from '../../src/forges/gitlab/index.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import { emulatedGitHub } from '../emulators/github/harness.js';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';

const SHA = '1234567890abcdef1234567890abcdef12345678';

describe('GitHub: pull request, CI verdict, file history', () => {
  let gh: EmulatedGitHub;
  beforeAll(async () => {
    gh = await emulatedGitHub({ 'a.txt': 'one\n', 'b.txt': 'b\n' });
  });
  afterAll(() => gh.emulator.close());

  it('tells a fork from a branch, and gives the head commit', async () => {
    const own = gh.emulator.openPull('acme/env', { head: 'main', base: 'main', title: 't', user: 'dave' });
    const fork = gh.emulator.openPull('acme/env', { head: 'x', base: 'main', title: 't', user: 'mallory', headRepo: 'mallory/env', headSha: SHA });
    const reviews = gh.forge.reviews;
    expect(await reviews.mergeRequest?.('acme/env', own)).toMatchObject({ author: 'dave', fromFork: false, state: 'open', headSha: await gh.emulator.state.repo('acme', 'env')?.testRepo.head() });
    expect(await reviews.mergeRequest?.('acme/env', fork)).toMatchObject({ author: 'mallory', fromFork: true, headSha: SHA });
    expect(gh.emulator.violations).toEqual([]);
  });

  it('combines check runs and commit statuses: none, pending, failure, success', async () => {
    const verdict = () => gh.forge.reviews.ciVerdict?.('acme/env', SHA);
    expect(await verdict()).toMatchObject({ state: 'none' });
    gh.emulator.addCheckRun('acme/env', { sha: SHA, name: 'build', status: 'in_progress' });
    expect(await verdict()).toEqual({ state: 'pending', summary: 'waiting for build' });
    gh.emulator.state.repo('acme', 'env')?.checkRuns.forEach((r) => Object.assign(r, { status: 'completed', conclusion: 'success' }));
    expect(await verdict()).toMatchObject({ state: 'success' });
    await gh.forge.setStatus('acme/env', { sha: await gh.forge.headOf('acme/env', 'main') ?? '', context: 'x', state: 'success', description: 'other commit' });
    const repo = gh.emulator.state.repo('acme', 'env');
    repo?.statuses.push({ id: 1, sha: SHA, state: 'failure', context: 'ci/legacy', description: null, targetUrl: null, creator: 'ci', createdAt: '' });
    expect(await verdict()).toEqual({ state: 'failure', summary: 'ci/legacy: failure' });
    expect(gh.emulator.violations).toEqual([]);
  });

  it('lists the commits that touched a file, newest first, with their messages', async () => {
    const head = await gh.forge.headOf('acme/env', 'main');
    const first = await gh.forge.write('acme/env', { branch: 'main', expectedHead: head ?? '', changes: [{ type: 'write', path: 'a.txt', contents: 'two\n' }], message: 'a two\n\nBaton-Image: r/x:2\n' });
    const mid = first.status === 'committed' ? first.commit : '';
    const second = await gh.forge.write('acme/env', { branch: 'main', expectedHead: mid, changes: [{ type: 'write', path: 'b.txt', contents: 'c\n' }], message: 'b only\n' });
    expect(second.status).toBe('committed');
    const commits = (await gh.forge.commitsTouching('acme/env', 'main', 'a.txt', 10)).map((c) => c.message.split('\n')[0]);
    expect(commits[0]).toBe('a two');
    expect(commits).not.toContain('b only');
    expect(await gh.forge.commitsTouching('acme/env', 'main', 'a.txt', 1)).toHaveLength(1);
    expect(gh.emulator.violations).toEqual([]);
  });
});

describe('GitLab: merge request, pipeline verdict, file history', () => {
  let emu: GitlabEmulator;
  let forge: GitlabForge;
  beforeAll(async () => {
    emu = await startGitlabEmulator();
    await emu.addProject('acme/env', { 'a.txt': 'one\n' });
    forge = new GitlabForge({ url: emu.url, token: emu.token, retry: { sleep: () => Promise.resolve() } });
  });
  afterAll(() => emu.close());

  it('tells a fork (another source project) from a branch', async () => {
    const own = emu.openMergeRequest('acme/env', { source: 'main', target: 'main', title: 't', author: 'dave' });
    const fork = emu.openMergeRequest('acme/env', { source: 'x', target: 'main', title: 't', author: 'mallory', sha: SHA, forkProjectId: 4242 });
    expect(await forge.reviews.mergeRequest?.('acme/env', own)).toMatchObject({ author: 'dave', fromFork: false, state: 'open', headSha: await emu.project('acme/env').repo.head() });
    expect(await forge.reviews.mergeRequest?.('acme/env', fork)).toMatchObject({ author: 'mallory', fromFork: true, headSha: SHA });
  });

  it('the newest pipeline and the commit statuses decide', async () => {
    const verdict = () => forge.reviews.ciVerdict?.('acme/env', SHA);
    expect(await verdict()).toMatchObject({ state: 'none' });
    const old = emu.addPipeline('acme/env', { sha: SHA, ref: 'x', status: 'failed' });
    expect(await verdict()).toEqual({ state: 'failure', summary: `pipeline #${old}: failed` });
    const rerun = emu.addPipeline('acme/env', { sha: SHA, ref: 'x', status: 'running' });
    expect(await verdict()).toEqual({ state: 'pending', summary: `waiting for pipeline #${rerun}` });
    emu.project('acme/env').pipelines.forEach((p) => p.id === rerun && (p.status = 'success'));
    expect(await verdict()).toMatchObject({ state: 'success' });
    emu.project('acme/env').statuses.push({ id: 1, sha: SHA, name: 'external-scan', status: 'failed', description: '', target_url: null });
    expect(await verdict()).toEqual({ state: 'failure', summary: 'external-scan: failed' });
  });

  it('lists the commits that touched a file, newest first', async () => {
    const head = await forge.headOf('acme/env', 'main');
    await forge.write('acme/env', { branch: 'main', expectedHead: head ?? '', changes: [{ type: 'write', path: 'a.txt', contents: 'two\n' }], message: 'a two\n' });
    const commits = await forge.commitsTouching('acme/env', 'main', 'a.txt', 10);
    expect(commits.map((c) => c.message.split('\n')[0])[0]).toBe('a two');
    expect(commits.length).toBeGreaterThanOrEqual(2);
  });
});
