/**
 * Requests per coalesced commit on GitLab, path by path, through the real executor against the GitLab
 * emulator (which validates every GraphQL document against GitLab's schema and refuses any over the
 * complexity limit). Fewer requests must not cost a guarantee: each test also checks where the commit
 * landed (its parent) and what the merge request says.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { execute } from '../../src/app/executor.js';
import type { ExecutorDeps } from '../../src/app/executor.js';
import type { Destination, SetImage } from '../../src/core/intent.js';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';
import { readPlanComplexity } from '../../src/forges/gitlab/read-query.js';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';

const IMAGE = 'registry.example.com/team/web';
const PROJECT = 'acme/platform/env';
const direct: Destination = { branch: 'main', write: 'commit' };
const mr: Destination = { branch: 'main', write: 'merge-request', env: 'staging' };

function kustomization(n: number, tag = '1.4.2'): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base/svc-${n}\nimages:\n  - name: ${IMAGE}\n    newTag: "${tag}"\n`;
}

function bump(destination: Destination, files: string[], tag: string): SetImage {
  return {
    type: 'set-image',
    destination,
    env: 'staging',
    image: 'web',
    repository: IMAGE,
    tag,
    digestMode: 'ignore',
    mode: 'upgrade',
    policy: { policy: 'semver' },
    targets: files.map((file) => ({ file })),
    cause: { source: 'registry/distribution', deliveryId: `d-${tag}` },
  };
}

let emu: GitlabEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function setup(files: number): Promise<{ emu: GitlabEmulator; deps: ExecutorDeps; targets: string[]; run: (destination: Destination, tag: string) => Promise<{ status: string; counts: Record<string, number>; requests: number; mergeRequest?: { number: number } }> }> {
  const e = await startGitlabEmulator();
  emu = e;
  const seed: Record<string, string> = { '.baton.yml': 'version: 1\n' };
  for (let n = 0; n < files; n++) seed[`envs/staging/svc-${n}/kustomization.yaml`] = kustomization(n);
  await e.addProject(PROJECT, seed);
  const forge = new GitlabForge({ url: e.url, token: e.token, retry: { sleep: () => Promise.resolve() } });
  const deps: ExecutorDeps = { forge, repo: PROJECT, random: () => 0.5, sleep: () => Promise.resolve(), rolling: new Map() };
  const targets = Object.keys(seed).filter((p) => p.startsWith('envs/'));
  const run = async (destination: Destination, tag: string) => {
    e.resetCounts();
    const outcome = await execute(destination, [bump(destination, targets, tag)], deps);
    expect(e.errors).toEqual([]);
    expect(e.graphqlRefusals).toEqual([]);
    const mergeRequest = 'mergeRequest' in outcome ? outcome.mergeRequest : undefined;
    return { status: outcome.status, counts: e.counts(), requests: e.requests.length, ...(mergeRequest && { mergeRequest }) };
  };
  return { emu: e, deps, targets, run };
}

const COMMIT = 'POST /projects/:id/repository/commits';

describe('GitLab requests per commit, write: commit', () => {
  it('a first bump costs 3 requests (head, blobs at it, commit); a later one 2, the head and blobs in one document', async () => {
    const { emu: e, run } = await setup(1);
    const first = await run(direct, '1.5.0');
    expect(first).toMatchObject({ status: 'committed', counts: { 'POST /graphql': 2, [COMMIT]: 1 }, requests: 3 });
    const later = await run(direct, '1.6.0');
    expect(later).toMatchObject({ status: 'committed', counts: { 'POST /graphql': 1, [COMMIT]: 1 }, requests: 2 });
    expect(await e.project(PROJECT).repo.show('main', 'envs/staging/svc-0/kustomization.yaml')).toContain('newTag: "1.6.0"');
  });

  it('100 files: one document carries all the blobs (score 214 of 250), so 3 requests, then 2', { timeout: 180_000 }, async () => {
    const { emu: e, run, targets } = await setup(100);
    const first = await run(direct, '1.5.0');
    expect(first).toMatchObject({ status: 'committed', counts: { 'POST /graphql': 2, [COMMIT]: 1 }, requests: 3 });
    expect(e.graphqlScores.slice(-2)).toEqual([15, 214]);
    expect(Math.max(...e.graphqlScores)).toBeLessThanOrEqual(250);
    const later = await run(direct, '1.6.0');
    expect(later.requests).toBe(2);
    for (const t of targets) expect(await e.project(PROJECT).repo.show('main', t)).toContain('newTag: "1.6.0"');
  });

  it('someone changing a target file after the read makes the write stale, and the re-read keeps their change', async () => {
    const { emu: e, deps, targets } = await setup(2);
    await execute(direct, [bump(direct, targets, '1.5.0')], deps);
    // Between this bump's read and its write, a person edits one of the files (a comment line).
    const forge = deps.forge as GitlabForge;
    const original = forge.write.bind(forge);
    let pushed = false;
    forge.write = async (repo, req) => {
      if (!pushed) {
        pushed = true;
        const text = await e.project(PROJECT).repo.show('main', targets[0] ?? '');
        await e.project(PROJECT).repo.commit({ [targets[0] ?? '']: `# reviewed\n${text}` }, 'person');
      }
      return original(repo, req);
    };
    const outcome = await execute(direct, [bump(direct, targets, '1.6.0')], deps);
    expect(outcome).toMatchObject({ status: 'committed', attempts: 2 });
    const after = await e.project(PROJECT).repo.show('main', targets[0] ?? '');
    expect(after.startsWith('# reviewed\n')).toBe(true);
    expect(after).toContain('newTag: "1.6.0"');
  });
});

describe('GitLab requests per commit, write: merge-request', () => {
  it('first bump: 4 requests — heads and MRs, blobs, one commit that creates the branch, one MR', async () => {
    const { emu: e, run } = await setup(1);
    const base = await e.project(PROJECT).repo.head('main');
    const first = await run(mr, '1.5.0');
    expect(first).toMatchObject({ status: 'committed', counts: { 'POST /graphql': 2, [COMMIT]: 1, 'POST /projects/:id/merge_requests': 1 }, requests: 4 });
    const p = e.project(PROJECT);
    // The branch was created by the commit call itself, on the base head.
    expect(await p.store.parents(await p.repo.head('baton/staging'))).toEqual([base]);
    expect(p.mergeRequests.map((m) => [m.source_branch, m.state])).toEqual([['baton/staging', 'opened']]);
  });

  it('later bump: 3 requests — one read of both branches and the MR, a stacked commit, the MR edit; an unchanged MR is left alone', async () => {
    const { emu: e, run } = await setup(1);
    await run(mr, '1.5.0');
    const p = e.project(PROJECT);
    const before = await p.repo.head('baton/staging');
    const later = await run(mr, '1.6.0');
    expect(later).toMatchObject({ status: 'committed', counts: { 'POST /graphql': 1, [COMMIT]: 1, 'PUT /projects/:id/merge_requests/:n': 1 }, requests: 3 });
    // Stacked: the new commit's parent is the previous rolling head.
    expect(await p.store.parents(await p.repo.head('baton/staging'))).toEqual([before]);
    expect(p.mergeRequests[0]?.description).toContain('1.6.0');
    // The same version again: nothing to write, and the MR already says it: the read is all.
    const again = await run(mr, '1.6.0');
    expect(again).toMatchObject({ status: 'noop', requests: 1 });
  });

  it('50 files: the later bump is still 3 requests (both branches’ blobs, the heads and the MRs in one document)', { timeout: 120_000 }, async () => {
    const { emu: e, run } = await setup(50);
    await run(mr, '1.5.0');
    const later = await run(mr, '1.6.0');
    expect(later.requests).toBe(3);
    expect(e.graphqlScores.at(-1)).toBe(readPlanComplexity({ heads: ['main', 'baton/staging'], mergeRequests: 'baton/staging', blobs: [1, 2].map(() => ({ ref: 'x', paths: Array.from({ length: 50 }, String), withContent: true })) }));
  });

  it('the base moved: the branch is rebuilt on it (start_sha + force) in 4 requests, carrying what it proposed', async () => {
    const { emu: e, run, targets } = await setup(2);
    await run(mr, '1.5.0');
    const p = e.project(PROJECT);
    const moved = await p.repo.commit({ 'README.md': 'someone merged something\n' }, 'unrelated');
    const rebuilt = await run(mr, '1.6.0');
    // The base's blobs at the head seen last time were wasted: one more document for the new head.
    expect(rebuilt).toMatchObject({ status: 'committed', counts: { 'POST /graphql': 2, [COMMIT]: 1, 'PUT /projects/:id/merge_requests/:n': 1 }, requests: 4 });
    const head = await p.repo.head('baton/staging');
    expect(await p.store.parents(head)).toEqual([moved]);
    for (const t of targets) expect(await p.repo.show('baton/staging', t)).toContain('newTag: "1.6.0"');
    expect(p.mergeRequests.filter((m) => m.state === 'opened')).toHaveLength(1);
  });

  it('after the MR was merged, the next bump starts afresh from the base and opens a new MR without looking for one', async () => {
    const { emu: e, run } = await setup(1);
    const first = await run(mr, '1.5.0');
    const p = e.project(PROJECT);
    const merged = await e.mergeMergeRequest(PROJECT, first.mergeRequest?.number ?? 0);
    const next = await run(mr, '1.6.0');
    expect(next).toMatchObject({ status: 'committed', counts: { 'POST /graphql': 2, [COMMIT]: 1, 'POST /projects/:id/merge_requests': 1 }, requests: 4 });
    expect(await p.store.parents(await p.repo.head('baton/staging'))).toEqual([merged]);
    expect(p.mergeRequests.map((m) => m.state)).toEqual(['merged', 'opened']);
  });

  it('a rebuild (force) names the rolling head it expects: checked against the read moments ago, else asked', async () => {
    const { emu: e, targets } = await setup(1);
    let clock = 1_000_000;
    const forge = new GitlabForge({ url: e.url, token: e.token, retry: { sleep: () => Promise.resolve() }, now: () => clock });
    const p = e.project(PROJECT);
    const base = await p.repo.head('main');
    await p.repo.commit({ 'x.yaml': 'x: 1\n' }, 'rolling', 'baton/staging');
    const read = await forge.readRolling(PROJECT, 'main', 'baton/staging', targets);
    const rolling = read.rolling?.head ?? '';
    const req = { branch: 'baton/staging', expectedHead: base, changes: [{ type: 'write' as const, path: targets[0] ?? '', contents: kustomization(0, '9.9.9') }], message: 'm\n' };
    // A head other than the one the read just saw: stale, without a request.
    e.resetCounts();
    expect(await forge.write(PROJECT, { ...req, replace: base })).toEqual({ status: 'stale', head: rolling });
    expect(e.requests).toHaveLength(0);
    // Long after the read, the adapter asks GitLab; a branch moved since is stale and left as it is.
    clock += 60_000;
    const moved = await p.repo.commit({ 'y.yaml': 'y: 1\n' }, 'someone', 'baton/staging');
    e.resetCounts();
    expect(await forge.write(PROJECT, { ...req, replace: rolling })).toEqual({ status: 'stale', head: moved });
    expect(e.counts()).toEqual({ 'GET /projects/:id/repository/branches/:ref': 1 });
    expect(await p.repo.head('baton/staging')).toBe(moved);
    // Named right, the rebuild lands on the base in one call.
    e.resetCounts();
    const done = await forge.write(PROJECT, { ...req, replace: moved });
    expect(done.status).toBe('committed');
    expect(e.counts()).toEqual({ 'GET /projects/:id/repository/branches/:ref': 1, [COMMIT]: 1 });
    expect(await p.store.parents(await p.repo.head('baton/staging'))).toEqual([base]);
  });
});

describe('the emulator models the Commits API calls the adapter makes as GitLab does', () => {
  async function commit(e: GitlabEmulator, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${e.url}/api/v4/projects/${encodeURIComponent(PROJECT)}/repository/commits`, { method: 'POST', headers: { 'private-token': e.token, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('start_sha creates a missing branch; on an existing one it is refused unless force, which moves the branch', async () => {
    const { emu: e } = await setup(1);
    const p = e.project(PROJECT);
    const base = await p.repo.head('main');
    const action = { action: 'create', file_path: 'x.yaml', content: 'x: 1\n' };
    expect((await commit(e, { branch: 'baton/a', commit_message: 'm', start_sha: base, actions: [action] })).status).toBe(201);
    const refused = await commit(e, { branch: 'baton/a', commit_message: 'm', start_sha: base, actions: [action] });
    expect(refused).toEqual({ status: 400, body: { message: "A branch called 'baton/a' already exists. Switch to that branch in order to make changes" } });
    const forced = await commit(e, { branch: 'baton/a', commit_message: 'm', start_sha: base, force: true, actions: [action] });
    expect(forced.status).toBe(201);
    expect(await p.store.parents(await p.repo.head('baton/a'))).toEqual([base]);
    // Without a start, the branch must exist.
    expect((await commit(e, { branch: 'nope', commit_message: 'm', actions: [action] })).body).toEqual({ message: 'You can only create or edit files when you are on a branch' });
  });

  it("last_commit_id may name any commit: refused only when the file's last commit differs between it and the branch", async () => {
    const { emu: e, targets } = await setup(1);
    const p = e.project(PROJECT);
    const file = targets[0] ?? '';
    const read = await p.repo.head('main');
    await p.repo.commit({ 'other.yaml': 'o: 1\n' }, 'unrelated');
    const update = (content: string) => ({ branch: 'main', commit_message: 'm', actions: [{ action: 'update', file_path: file, content, last_commit_id: read }] });
    // Another file changed since `read`: this file's last commit is the same as of `read`, so it passes.
    expect((await commit(e, update('a\n'))).status).toBe(201);
    // Now this file changed since `read`.
    expect(await commit(e, update('b\n'))).toEqual({ status: 400, body: { message: `The file has changed since you started editing it: ${file}` } });
  });

  it("the head of a branch through GraphQL is its newest commit even when that is a merge commit", async () => {
    const { emu: e } = await setup(1);
    const p = e.project(PROJECT);
    await p.repo.commit({ 'f.yaml': 'f: 1\n' }, 'feature', 'feature');
    const iid = e.openMergeRequest(PROJECT, { source: 'feature', title: 't', author: 'dev' });
    const res = await fetch(`${e.url}/api/v4/projects/${encodeURIComponent(PROJECT)}/merge_requests/${iid}/merge`, { method: 'PUT', headers: { 'private-token': e.token } });
    const merge = ((await res.json()) as { merge_commit_sha: string }).merge_commit_sha;
    const forge = new GitlabForge({ url: e.url, token: e.token });
    expect((await forge.readFiles(PROJECT, 'main', ['f.yaml'])).head).toBe(merge);
  });
});
