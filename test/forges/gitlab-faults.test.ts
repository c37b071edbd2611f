/**
 * Faults on GitLab: with 30% of calls failing (5xx), or 30% of write answers lost after the write
 * happened, every bump still lands exactly once, as one commit each, on a linear history — on a branch
 * (`write: commit`) and on the rolling merge request's branch (`write: merge-request`), where the
 * fewer-calls path (one read, the branch created or rebuilt by the commit, the MR call only when
 * needed) must keep the same guarantees.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { execute } from '../../src/app/executor.js';
import type { ExecutorDeps } from '../../src/app/executor.js';
import type { Destination, SetImage } from '../../src/core/intent.js';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';
import { RetryableError } from '../../src/forges/types.js';
import { runGit } from '../../src/forges/git/run-git.js';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';

const SERVICES = 8;
const PROJECT = 'acme/env';
const kustomization = (svc: string, tag: string): string => `images:\n  - name: registry.example.com/team/${svc}\n    newTag: "${tag}"\n`;

function intent(destination: Destination, i: number, tag: string): SetImage {
  const svc = `svc${i}`;
  return {
    type: 'set-image',
    destination,
    env: 'staging',
    image: svc,
    repository: `registry.example.com/team/${svc}`,
    tag,
    digestMode: 'ignore',
    mode: 'upgrade',
    policy: { policy: 'semver' },
    targets: [{ file: `envs/staging/${svc}/kustomization.yaml` }],
    cause: { source: 'registry/distribution', deliveryId: `delivery-${i}-${tag}` },
  };
}

const direct: Destination = { branch: 'main', write: 'commit' };
const rolling: Destination = { branch: 'main', write: 'merge-request', env: 'staging' };

let emu: GitlabEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function setup(): Promise<{ e: GitlabEmulator; deps: ExecutorDeps }> {
  const e = await startGitlabEmulator();
  emu = e;
  const seed: Record<string, string> = {};
  for (let i = 0; i < SERVICES; i++) seed[`envs/staging/svc${i}/kustomization.yaml`] = kustomization(`svc${i}`, '1.0.0');
  await e.addProject(PROJECT, seed);
  let rnd = 1;
  const forge = new GitlabForge({ url: e.url, token: e.token, retry: { sleep: () => Promise.resolve(), random: () => 0.5 } });
  // As the pipeline passes it: every image the environment lists, so a rebuild carries them all.
  const scope = Array.from({ length: SERVICES }, (_, i) => {
    const { image, repository, policy, digestMode, targets } = intent(rolling, i, '0.0.0');
    return { image, repository, policy, digestMode, targets };
  });
  return { e, deps: { forge, repo: PROJECT, random: () => (rnd = (rnd * 48271) % 2147483647) / 2147483647, sleep: async () => undefined, rolling: new Map(), scopeOf: () => scope } };
}

/** Subjects and parent counts of `branch` back to (not including) `until`, newest first. */
async function history(e: GitlabEmulator, branch: string, until: string): Promise<{ subject: string; parents: number }[]> {
  const out = await runGit(['log', '--format=%P%x09%s', `${until}..refs/heads/${branch}`], { cwd: e.project(PROJECT).repo.bare });
  return out.stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [parents = '', subject = ''] = l.split('\t');
      return { subject, parents: parents.split(' ').filter(Boolean).length };
    });
}

/** As the queue does: a batch that failed for now (RetryableError) is worked again. */
async function queued<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      if (!(e instanceof RetryableError) || attempt >= 20) throw e;
    }
  }
}

describe('GitLab forge under faults', () => {
  it('write: commit — racing writers land exactly once each when 30% of calls fail', async () => {
    const { e, deps } = await setup();
    const seedHead = await e.project(PROJECT).repo.head('main');
    e.failRandomly(0.3, 20260522, 503);
    // Which call draws which fault depends on how the writers interleave; a batch that met four 503s
    // in a row is worked again, as the queue does.
    const outcomes = await Promise.all(Array.from({ length: SERVICES }, (_, i) => queued(() => execute(direct, [intent(direct, i, '1.1.0')], deps))));
    e.failRandomly(0, 0);
    expect(outcomes.map((o) => o.status)).toEqual(Array.from({ length: SERVICES }, () => 'committed'));
    expect(e.requests.filter((r) => r.status >= 500).length / e.requests.length).toBeGreaterThan(0.15);
    const log = await history(e, 'main', seedHead);
    expect(log).toHaveLength(SERVICES);
    for (let i = 0; i < SERVICES; i++) expect(log.filter((c) => c.subject.startsWith(`svc${i} `))).toHaveLength(1);
    expect(log.every((c) => c.parents === 1)).toBe(true);
    for (let i = 0; i < SERVICES; i++) expect(await e.project(PROJECT).repo.show('main', `envs/staging/svc${i}/kustomization.yaml`)).toContain('"1.1.0"');
    expect(e.errors).toEqual([]);
  });

  it('write: merge-request — every bump lands once on the rolling branch, with one open MR, under 30% failures and a moving base', async () => {
    const { e, deps } = await setup();
    const p = e.project(PROJECT);
    e.failRandomly(0.3, 7, 502);
    for (let i = 0; i < SERVICES; i++) {
      // Someone merges unrelated work to the base now and then: the next bump rebuilds on it.
      if (i === 3 || i === 6) await p.repo.commit({ [`docs/${i}.md`]: `note ${i}\n` }, `unrelated ${i}`);
      // A batch whose MR call failed after its commit landed is worked again by the queue: then a noop.
      const outcome = await queued(() => execute(rolling, [intent(rolling, i, '2.0.0')], deps));
      expect(['committed', 'noop']).toContain(outcome.status);
    }
    e.failRandomly(0, 0);
    const base = await p.repo.head('main');
    for (let i = 0; i < SERVICES; i++) expect(await p.repo.show('baton/staging', `envs/staging/svc${i}/kustomization.yaml`)).toContain('"2.0.0"');
    // The base itself was never written; the rolling branch is the current base plus linear commits.
    for (let i = 0; i < SERVICES; i++) expect(await p.repo.show('main', `envs/staging/svc${i}/kustomization.yaml`)).toContain('"1.0.0"');
    const log = await history(e, 'baton/staging', base);
    expect(log.length).toBeGreaterThan(0);
    expect(log.every((c) => c.parents === 1)).toBe(true);
    expect((await runGit(['merge-base', '--is-ancestor', base, 'refs/heads/baton/staging'], { cwd: p.repo.bare })).code).toBe(0);
    expect(p.mergeRequests.filter((m) => m.state === 'opened')).toHaveLength(1);
    expect(e.errors).toEqual([]);
  });

  it('write: merge-request — answers lost after the commit or the MR call was made: still once each, never a second MR', async () => {
    const { e, deps } = await setup();
    const p = e.project(PROJECT);
    e.loseResponses(0.3, 11);
    const statuses: string[] = [];
    for (let i = 0; i < SERVICES; i++) statuses.push((await queued(() => execute(rolling, [intent(rolling, i, '3.0.0')], deps))).status);
    e.loseResponses(0, 0);
    expect(statuses.every((s) => s === 'committed' || s === 'noop')).toBe(true);
    const base = await p.repo.head('main');
    for (let i = 0; i < SERVICES; i++) expect(await p.repo.show('baton/staging', `envs/staging/svc${i}/kustomization.yaml`)).toContain('"3.0.0"');
    const log = await history(e, 'baton/staging', base);
    expect(log.every((c) => c.parents === 1)).toBe(true);
    // No bump's change appears in two commits of the branch.
    for (let i = 0; i < SERVICES; i++) expect(log.filter((c) => c.subject.includes(`svc${i} `)).length).toBeLessThanOrEqual(1);
    expect(p.mergeRequests.filter((m) => m.state === 'opened')).toHaveLength(1);
    expect(e.errors).toEqual([]);
  });
});
