/**
 * What a `write: merge-request` bump costs on GitHub, counted at the emulator: the first bump (branch,
 * commit, pull request) in at most 4 requests, later bumps in at most 3, the pull request edited
 * only when its title or body changes, and a merged or closed one followed by a new one.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { execute } from '../../src/app/executor.js';
import type { ExecutorDeps } from '../../src/app/executor.js';
import type { Destination, SetImage } from '../../src/core/intent.js';
import type { ScopeImage } from '../../src/core/rolling.js';
import { git } from '../../src/forges/git/run-git.js';
import { emulatedGitHub } from '../emulators/github/harness.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';

const WEB = 'registry.example.com/team/web';
const WORKER = 'registry.example.com/team/worker';
const kustomization = (repo: string, tag: string): string => `images:\n  - name: ${repo}\n    newTag: "${tag}"\n`;
const seed = { 'prod/web.yaml': kustomization(WEB, '1.4.2'), 'prod/worker.yaml': kustomization(WORKER, '2.0.0'), 'README.md': 'env repo\n' };
const prod: Destination = { branch: 'main', write: 'merge-request', env: 'production' };
const scope: ScopeImage[] = [
  { image: 'web', repository: WEB, policy: { policy: 'semver' }, digestMode: 'ignore', targets: [{ file: 'prod/web.yaml' }] },
  { image: 'worker', repository: WORKER, policy: { policy: 'semver' }, digestMode: 'ignore', targets: [{ file: 'prod/worker.yaml' }] },
];

function bump(image: 'web' | 'worker', tag: string): SetImage {
  const s = scope.find((x) => x.image === image)!;
  return { type: 'set-image', destination: prod, env: 'production', image, repository: s.repository, tag, digestMode: 'ignore', mode: 'upgrade', policy: s.policy, targets: s.targets, cause: { source: 'registry/distribution', deliveryId: `${image}-${tag}` } };
}

const envs: EmulatedGitHub[] = [];
afterEach(async () => {
  for (const gh of envs.splice(0)) await gh.emulator.close();
});

async function setup(): Promise<{ gh: EmulatedGitHub; deps: ExecutorDeps; run: (...intents: SetImage[]) => Promise<{ ops: string[]; mr?: number }> }> {
  const gh = await emulatedGitHub(seed);
  envs.push(gh);
  const deps: ExecutorDeps = { forge: gh.forge, repo: gh.repo, random: () => 0.5, sleep: async () => undefined, scopeOf: () => scope, rolling: new Map() };
  const run = async (...intents: SetImage[]): Promise<{ ops: string[]; mr?: number }> => {
    gh.emulator.resetCounts();
    const outcome = await execute(prod, intents, deps);
    expect(gh.emulator.violations).toEqual([]);
    const mr = 'mergeRequest' in outcome ? outcome.mergeRequest : undefined;
    return { ops: gh.emulator.requests.map((r) => r.operation ?? r.route), ...(mr && { mr: mr.number }) };
  };
  return { gh, deps, run };
}

const pulls = (gh: EmulatedGitHub) => gh.emulator.state.repo('acme', 'env')!.pulls.filter((p) => p.head === 'baton/production');
const branches = async (gh: EmulatedGitHub): Promise<string[]> =>
  (await git(['for-each-ref', '--format=%(refname:short)', 'refs/heads'], { cwd: gh.emulator.state.repo('acme', 'env')!.testRepo.bare })).split('\n').filter(Boolean);

describe('GitHub merge-request writes, counted per request', () => {
  it('first bump: branch + commit in one round trip, the PR in one more (3 requests, goal ≤ 4)', async () => {
    const { gh, run } = await setup();
    const first = await run(bump('web', '1.5.0'));
    expect(first.ops).toEqual(['repository', 'createRef+createCommitOnBranch', 'createPullRequest']);
    const [pr] = pulls(gh);
    expect(pr).toMatchObject({ number: first.mr, state: 'open', base: 'main' });
    expect(pr?.body).toContain('1.5.0');
    expect(await branches(gh)).toEqual(['baton/production', 'main']);
  });

  it('later bumps: read, commit, and a PR edit only because its text changed (3 requests, goal ≤ 3)', async () => {
    const { gh, run } = await setup();
    const first = await run(bump('web', '1.5.0'));
    const later = await run(bump('worker', '2.1.0'));
    expect(later.ops).toEqual(['repository', 'createCommitOnBranch', 'updatePullRequest']);
    expect(later.mr).toBe(first.mr);
    expect(pulls(gh)).toHaveLength(1);
    expect(pulls(gh)[0]?.body).toMatch(/2\.1\.0/);
    // The same bump again: one read, nothing written, nothing edited.
    expect((await run(bump('worker', '2.1.0'))).ops).toEqual(['repository']);
  });

  it('a retry after the PR edit failed (the commit had landed) brings the PR text up to date; an up-to-date PR costs nothing', async () => {
    const { gh, run } = await setup();
    await run(bump('web', '1.5.0'));
    await run(bump('worker', '2.1.0'));
    const pr = pulls(gh)[0]!;
    const written = pr.body;
    // As if the edit for 2.1.0 never reached GitHub: the PR still describes the first bump only.
    pr.body = written.replace(/2\.1\.0/g, '2.0.0');
    const retried = await run(bump('worker', '2.1.0'));
    expect(retried.ops).toEqual(['repository', 'updatePullRequest']);
    expect(pulls(gh)[0]?.body).toBe(written);
    expect((await run(bump('worker', '2.1.0'))).ops).toEqual(['repository']);
  });

  it('a rebuild whose PR text stays the same edits no PR; the rolling branch moves by compare-and-swap', async () => {
    const { gh, run } = await setup();
    const first = await run(bump('web', '1.5.0'));
    const before = pulls(gh)[0]!;
    const text = { title: before.title, body: before.body, updatedAt: before.updatedAt };
    // Someone edits an unrelated file on the base: the rolling branch is rebuilt on it.
    await gh.emulator.state.repo('acme', 'env')!.testRepo.commit({ 'README.md': 'env repo, edited\n' }, 'docs');
    const rebuilt = await run(bump('web', '1.5.0'));
    expect(rebuilt.ops).toEqual(['repository', 'createRef+createCommitOnBranch', 'updateRefs']);
    expect(rebuilt.ops).not.toContain('updatePullRequest');
    expect(rebuilt.mr).toBe(first.mr);
    expect({ title: pulls(gh)[0]!.title, body: pulls(gh)[0]!.body, updatedAt: pulls(gh)[0]!.updatedAt }).toEqual(text);
    // No scratch branch is left, and the rolling branch is one commit on the new base.
    expect(await branches(gh)).toEqual(['baton/production', 'main']);
    const bare = gh.emulator.state.repo('acme', 'env')!.testRepo.bare;
    expect((await git(['rev-parse', 'baton/production~1'], { cwd: bare })).trim()).toBe((await git(['rev-parse', 'main'], { cwd: bare })).trim());
  });

  it('after a squash-merge (branch kept) or a close, a new PR from a rebuilt branch (4 requests)', async () => {
    const { gh, run } = await setup();
    const first = await run(bump('web', '1.5.0'));
    await gh.emulator.mergePull('acme/env', first.mr!, { method: 'squash' });
    const afterMerge = await run(bump('worker', '2.1.0'));
    expect(afterMerge.ops).toEqual(['repository', 'createRef+createCommitOnBranch', 'updateRefs', 'createPullRequest']);
    expect(afterMerge.mr).not.toBe(first.mr);
    gh.emulator.closePull('acme/env', afterMerge.mr!);
    const afterClose = await run(bump('worker', '2.2.0'));
    expect(afterClose.ops).toEqual(['repository', 'createRef+createCommitOnBranch', 'updateRefs', 'createPullRequest']);
    expect(pulls(gh).map((p) => [p.number, p.mergedAt ? 'merged' : p.state])).toEqual([
      [first.mr, 'merged'],
      [afterMerge.mr, 'closed'],
      [afterClose.mr, 'open'],
    ]);
    // The new PR proposes only what is not in the base: worker 2.2.0 (web 1.5.0 was merged).
    expect(pulls(gh)[2]?.body).toMatch(/2\.2\.0/);
    expect(pulls(gh)[2]?.body).not.toMatch(/1\.5\.0/);
  });

  it('after a merge that deleted the branch, the first-bump path again (3 requests)', async () => {
    const { gh, run } = await setup();
    const first = await run(bump('web', '1.5.0'));
    await gh.emulator.mergePull('acme/env', first.mr!, { method: 'squash', deleteBranch: true });
    const next = await run(bump('worker', '2.1.0'));
    expect(next.ops).toEqual(['repository', 'createRef+createCommitOnBranch', 'createPullRequest']);
    expect(next.mr).not.toBe(first.mr);
  });
});

describe('GitHub rolling read', () => {
  it('reads more paths than one query holds on both branches, each pinned to its own head', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`envs/f${i}.yaml`] = `n: ${i}\n`;
    const gh = await emulatedGitHub(files);
    envs.push(gh);
    const repo = gh.emulator.state.repo('acme', 'env')!;
    await repo.testRepo.commit({ 'envs/f149.yaml': 'n: rolling\n' }, 'rolling', 'baton/production');
    gh.emulator.resetCounts();
    const paths = [...Object.keys(files), 'envs/missing.yaml'];
    const read = await gh.forge.readRolling(gh.repo, 'main', 'baton/production', paths);
    expect(read.base.files['envs/f149.yaml']).toBe('n: 149\n');
    expect(read.rolling?.files['envs/f149.yaml']).toBe('n: rolling\n');
    expect(read.rolling?.files['envs/f0.yaml']).toBe('n: 0\n');
    expect(read.base.files['envs/missing.yaml']).toBeNull();
    expect(read).toMatchObject({ state: 'none', open: null });
    expect(read.rolling?.head).toBe(await repo.testRepo.head('baton/production'));
    // One query for the heads, the first 100 paths of each and the PR; one more per branch for the rest.
    expect(gh.emulator.requests.map((r) => r.operation)).toEqual(['repository', 'repository', 'repository']);
    expect(gh.emulator.violations).toEqual([]);
  });
});

describe('GitHub rolling writes under races', () => {
  it('a PR opened meanwhile by another writer is updated, not duplicated', async () => {
    const { gh } = await setup();
    const repo = gh.emulator.state.repo('acme', 'env')!;
    await repo.testRepo.commit({ 'prod/web.yaml': kustomization(WEB, '1.6.0') }, 'rolling', 'baton/production');
    // The gap the caller's read could not see: it found no open PR, someone opened one since.
    const theirs = gh.emulator.openPull('acme/env', { head: 'baton/production', base: 'main', title: 'old', body: 'old', user: 'baton-bot' });
    // The caller's read (which also tells the forge the repository's node id).
    await gh.forge.readRolling(gh.repo, 'main', 'baton/production', []);
    gh.emulator.resetCounts();
    const mr = await gh.forge.ensureMergeRequest(gh.repo, { sourceBranch: 'baton/production', targetBranch: 'main', title: 'Deploy to production', body: 'web 1.6.0' }, null);
    expect(mr).toMatchObject({ number: theirs, created: false });
    expect(gh.emulator.requests.map((r) => r.operation)).toEqual(['createPullRequest', 'repository', 'updatePullRequest']);
    expect(repo.pulls.filter((p) => p.state === 'open')).toHaveLength(1);
    expect(repo.pulls[0]).toMatchObject({ title: 'Deploy to production', body: 'web 1.6.0' });
    expect(gh.emulator.violations).toEqual([]);
  });

  it('an unchanged PR the read already saw costs no request; a changed one exactly one', async () => {
    const { gh } = await setup();
    const repo = gh.emulator.state.repo('acme', 'env')!;
    await repo.testRepo.commit({ 'prod/web.yaml': kustomization(WEB, '1.6.0') }, 'rolling', 'baton/production');
    gh.emulator.openPull('acme/env', { head: 'baton/production', base: 'main', title: 'Deploy to production', body: 'web 1.6.0', user: 'baton-bot' });
    const read = await gh.forge.readRolling(gh.repo, 'main', 'baton/production', ['prod/web.yaml']);
    expect(read.state).toBe('open');
    expect(read.rolling?.files['prod/web.yaml']).toContain('1.6.0');
    expect(read.base.files['prod/web.yaml']).toContain('1.4.2');
    gh.emulator.resetCounts();
    const spec = { sourceBranch: 'baton/production', targetBranch: 'main', title: 'Deploy to production', body: 'web 1.6.0' };
    await gh.forge.ensureMergeRequest(gh.repo, spec, read.open);
    expect(gh.emulator.requests).toEqual([]);
    await gh.forge.ensureMergeRequest(gh.repo, { ...spec, body: 'web 1.6.0, worker 2.1.0' }, read.open);
    expect(gh.emulator.requests.map((r) => r.operation)).toEqual(['updatePullRequest']);
    expect(repo.pulls[0]?.body).toBe('web 1.6.0, worker 2.1.0');
  });

  it('a rebuild whose rolling branch moved since the read is stale: nothing moved, no scratch left', async () => {
    const { gh } = await setup();
    const repo = gh.emulator.state.repo('acme', 'env')!;
    const read = await repo.testRepo.commit({ 'prod/web.yaml': kustomization(WEB, '1.6.0') }, 'rolling', 'baton/production');
    const base = await repo.testRepo.head('main');
    const moved = await repo.testRepo.commit({ 'prod/worker.yaml': kustomization(WORKER, '9.9.9') }, 'someone else', 'baton/production');
    const result = await gh.forge.write(gh.repo, { branch: 'baton/production', expectedHead: base, replace: read, changes: [{ type: 'write', path: 'prod/web.yaml', contents: kustomization(WEB, '1.7.0') }], message: 'rebuild' });
    expect(result.status).toBe('stale');
    expect(await repo.testRepo.head('baton/production')).toBe(moved);
    expect(await branches(gh)).toEqual(['baton/production', 'main']);
    // A branch Baton believes missing but someone created: stale too, and theirs is kept.
    const created = await gh.forge.write(gh.repo, { branch: 'baton/production', expectedHead: base, replace: null, changes: [{ type: 'write', path: 'prod/web.yaml', contents: kustomization(WEB, '1.7.0') }], message: 'new' });
    expect(created.status).toBe('stale');
    expect(await repo.testRepo.head('baton/production')).toBe(moved);
    expect(gh.emulator.violations).toEqual([]);
  });
});

describe('GitHub Enterprise Server without updateRefs', () => {
  it('a rebuild moves the rolling branch over REST instead, and leaves no scratch branch', async () => {
    const { gh, run } = await setup();
    const first = await run(bump('web', '1.5.0'));
    gh.emulator.faults.withoutMutations(['updateRefs']);
    await gh.emulator.state.repo('acme', 'env')!.testRepo.commit({ 'README.md': 'env repo, edited\n' }, 'docs');
    const rebuilt = await run(bump('worker', '2.1.0'));
    expect(rebuilt.ops).toEqual([
      'repository',
      'createRef+createCommitOnBranch',
      'updateRefs',
      'GET /repos/{owner}/{repo}/git/ref/{ref}',
      'PATCH /repos/{owner}/{repo}/git/refs/{ref}',
      'DELETE /repos/{owner}/{repo}/git/refs/{ref}',
      'updatePullRequest',
    ]);
    expect(rebuilt.mr).toBe(first.mr);
    const repo = gh.emulator.state.repo('acme', 'env')!;
    expect(await repo.testRepo.show('baton/production', 'prod/web.yaml')).toContain('"1.5.0"');
    expect(await repo.testRepo.show('baton/production', 'prod/worker.yaml')).toContain('"2.1.0"');
    expect(await branches(gh)).toEqual(['baton/production', 'main']);
  });
});

describe('GitHub rolling writes under faults', () => {
  it('with 30% of calls failing and responses lost, every bump lands once: one open PR, linear history, no scratch left', async () => {
    const { gh, deps } = await setup();
    const repo = gh.emulator.state.repo('acme', 'env')!;
    gh.emulator.faults.failRandomly(0.3, 6, [500, 502, 503, 429]);
    gh.emulator.faults.loseResponses(0.3, 51);
    // (Seeds where a lost answer once left a scratch branch behind.) As the queue does: a bump
    // whose forge calls failed for now is tried again.
    const land = async (intent: SetImage): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          await execute(prod, [intent], deps);
          return;
        } catch (e) {
          if (attempt >= 10) throw e;
        }
      }
    };
    await land(bump('web', '1.5.0'));
    await land(bump('worker', '2.1.0'));
    await repo.testRepo.commit({ 'README.md': 'env repo, edited\n' }, 'docs');
    await land(bump('web', '1.6.0'));
    const first = pulls(gh).find((p) => p.state === 'open')!;
    await gh.emulator.mergePull('acme/env', first.number, { method: 'squash' });
    await land(bump('worker', '2.2.0'));
    gh.emulator.faults.clear();

    expect(gh.emulator.requests.some((r) => r.faulted)).toBe(true);
    // Exactly once: the merged PR and one open PR, never a duplicate.
    expect(pulls(gh).map((p) => (p.mergedAt ? 'merged' : p.state))).toEqual(['merged', 'open']);
    const open = pulls(gh)[1]!;
    expect(open.body).toMatch(/2\.2\.0/);
    expect(open.body).not.toMatch(/1\.6\.0/);
    expect(await repo.testRepo.show('baton/production', 'prod/worker.yaml')).toContain('"2.2.0"');
    expect(await repo.testRepo.show('baton/production', 'prod/web.yaml')).toContain('"1.6.0"');
    // Linear: the rolling branch is the current base plus Baton's commits, no merges, no scratch branches.
    const bare = repo.testRepo.bare;
    expect((await git(['merge-base', '--is-ancestor', 'main', 'baton/production'], { cwd: bare }).then(() => true, () => false))).toBe(true);
    expect((await git(['rev-list', '--merges', 'main..baton/production'], { cwd: bare })).trim()).toBe('');
    expect(await branches(gh)).toEqual(['baton/production', 'main']);
    expect(gh.emulator.violations).toEqual([]);
  });
});
