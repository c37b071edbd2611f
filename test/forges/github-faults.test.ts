/**
 * Faults: with 30% of GitHub calls failing (5xx, 429 secondary limits, and responses lost after the
 * write happened), every bump still lands exactly once, as one commit each, on a linear history.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute } from '../../src/app/executor.js';
import type { SetImage } from '../../src/core/intent.js';
import { emulatedGitHub } from '../emulators/github/harness.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';

const SERVICES = 12;
const kustomization = (svc: string, tag: string): string => `images:\n  - name: registry.example.com/team/${svc}\n    newTag: "${tag}"\n`;

function intent(i: number, tag: string): SetImage {
  const svc = `svc${i}`;
  return {
    type: 'set-image',
    destination: { branch: 'main', write: 'commit' },
    env: 'staging',
    image: svc,
    repository: `registry.example.com/team/${svc}`,
    tag,
    digestMode: 'ignore',
    mode: 'upgrade',
    policy: { policy: 'semver' },
    targets: [{ file: `envs/staging/${svc}/kustomization.yaml` }],
    cause: { source: 'github', deliveryId: `delivery-${i}-${tag}` },
  };
}

describe('GitHub forge under faults', () => {
  let gh: EmulatedGitHub;
  beforeAll(async () => {
    const seed: Record<string, string> = {};
    for (let i = 0; i < SERVICES; i++) seed[`envs/staging/svc${i}/kustomization.yaml`] = kustomization(`svc${i}`, '1.0.0');
    gh = await emulatedGitHub(seed);
  });
  afterAll(async () => {
    await gh.emulator.close();
  });

  it('lands every write exactly once when 30% of calls fail with 5xx or 429', async () => {
    const repo = gh.emulator.state.repo('acme', 'env');
    if (!repo) throw new Error('no repo');
    const before = await repo.testRepo.head();
    gh.emulator.faults.failRandomly(0.3, 20260522, [500, 502, 503, 429]);
    gh.emulator.resetCounts();
    let rnd = 1;
    const deps = { forge: gh.forge, repo: gh.repo, random: () => ((rnd = (rnd * 48271) % 2147483647) / 2147483647), sleep: async () => undefined };
    // Many writers racing on one branch (as replicas would), each bump its own commit.
    const outcomes = await Promise.all(Array.from({ length: SERVICES }, (_, i) => execute({ branch: 'main', write: 'commit' }, [intent(i, '1.1.0')], deps)));
    gh.emulator.faults.clear();

    expect(outcomes.map((o) => o.status)).toEqual(Array.from({ length: SERVICES }, () => 'committed'));
    const faulted = gh.emulator.requests.filter((r) => r.faulted).length;
    expect(faulted / gh.emulator.requests.length).toBeGreaterThan(0.15);
    const subjects = (await repo.testRepo.subjects()).slice(0, SERVICES + 1);
    expect(subjects[SERVICES]).toBe('seed');
    // One commit per bump, each bump exactly once.
    for (let i = 0; i < SERVICES; i++) expect(subjects.filter((s) => s.startsWith(`svc${i} `))).toHaveLength(1);
    expect((await repo.testRepo.parents()).slice(0, SERVICES)).toEqual(Array.from({ length: SERVICES }, () => 1));
    for (let i = 0; i < SERVICES; i++) expect(await repo.testRepo.show('main', `envs/staging/svc${i}/kustomization.yaml`)).toContain('"1.1.0"');
    expect(await repo.testRepo.head()).not.toBe(before);
    expect(gh.emulator.violations).toEqual([]);
  });

  it('lands every write exactly once when responses are lost after the commit was made', async () => {
    const repo = gh.emulator.state.repo('acme', 'env');
    if (!repo) throw new Error('no repo');
    const countBefore = (await repo.testRepo.subjects()).length;
    // Lost responses: the commit exists but the adapter sees a 502; its retry meets STALE_DATA, re-reads, finds nothing to do.
    gh.emulator.faults.loseResponses(0.3, 7);
    const deps = { forge: gh.forge, repo: gh.repo, random: () => 0.5, sleep: async () => undefined };
    const outcomes = [];
    for (let i = 0; i < SERVICES; i++) outcomes.push(await execute({ branch: 'main', write: 'commit' }, [intent(i, '1.2.0')], deps));
    gh.emulator.faults.clear();
    expect(outcomes.every((o) => o.status === 'committed' || o.status === 'noop')).toBe(true);
    expect(outcomes.some((o) => o.status === 'noop')).toBe(true);
    const subjects = await repo.testRepo.subjects();
    expect(subjects.length - countBefore).toBe(SERVICES);
    for (let i = 0; i < SERVICES; i++) expect(subjects.filter((s) => s.startsWith(`svc${i} 1.1.0 → 1.2.0`))).toHaveLength(1);
    expect(gh.emulator.violations).toEqual([]);
  });
});
