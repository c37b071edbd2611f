/**
 * The rolling `baton/<env>` merge request on every forge: it stacks while the base stands still, is
 * rebuilt as one commit on the current base when the base moved, starts afresh after a merge (squash,
 * branch kept) or a close, and its title and body always describe the whole difference with the base.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { execute } from '../../src/app/executor.js';
import type { ExecutorDeps } from '../../src/app/executor.js';
import { RollingLedger } from '../../src/app/rolling-ledger.js';
import type { Destination, SetImage } from '../../src/core/intent.js';
import type { ScopeImage } from '../../src/core/rolling.js';
import { GitForge } from '../../src/forges/git/git-forge.js';
import { git } from '../../src/forges/git/run-git.js';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';
import type { Forge } from '../../src/forges/types.js';
import { emulatedGitHub } from '../emulators/github/harness.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import type { TestRepo } from '../helpers/git-repo.js';

const WEB = 'registry.example.com/team/web';
const WORKER = 'registry.example.com/team/worker';
const kustomization = (repo: string, tag: string): string => `images:\n  - name: ${repo}\n    newTag: "${tag}"\n`;
const seed = {
  'prod/web.yaml': kustomization(WEB, '1.4.2'),
  'prod/worker.yaml': kustomization(WORKER, '2.0.0'),
  'README.md': 'env repo\n',
};
const prod: Destination = { branch: 'main', write: 'merge-request', env: 'production' };
const scope: ScopeImage[] = [
  { image: 'web', repository: WEB, policy: { policy: 'semver' }, digestMode: 'ignore', targets: [{ file: 'prod/web.yaml' }] },
  { image: 'worker', repository: WORKER, policy: { policy: 'semver' }, digestMode: 'ignore', targets: [{ file: 'prod/worker.yaml' }] },
];

function bump(image: 'web' | 'worker', tag: string, delivery: string): SetImage {
  const s = scope.find((x) => x.image === image)!;
  return { type: 'set-image', destination: prod, env: 'production', image, repository: s.repository, tag, digestMode: 'ignore', mode: 'upgrade', policy: s.policy, targets: s.targets, cause: { source: 'registry/distribution', deliveryId: delivery, actor: 'ci-bot' } };
}

interface Harness {
  name: string;
  forge: Forge;
  repo: string;
  git: TestRepo;
  /** The open rolling MR's title and body, as the forge holds it. */
  openMr(): { number: number; title: string; body: string } | undefined;
  /** Merge the rolling MR the way people do: squash, keep the branch. */
  squashMerge(number: number): Promise<void>;
  close(number: number): void;
  /** Requests the forge's published API would refuse (GitHub's emulator checks every one). */
  violations(): string[];
  cleanup(): Promise<void>;
}

async function gitHarness(): Promise<Harness> {
  const git = await createBareRepo(seed);
  return {
    name: 'git',
    forge: new GitForge({ cacheDir: await tempDir() }),
    repo: git.bare,
    git,
    openMr: () => undefined,
    squashMerge: async () => {
      const rolled = await Promise.all(['prod/web.yaml', 'prod/worker.yaml'].map(async (f) => [f, await git.show('baton/production', f)] as const));
      await git.commit(Object.fromEntries(rolled), 'Deploy to production (squashed)');
    },
    close: () => undefined,
    violations: () => [],
    cleanup: () => git.cleanup(),
  };
}

async function githubHarness(): Promise<Harness> {
  const gh = await emulatedGitHub(seed);
  const repo = gh.emulator.state.repo('acme', 'env')!;
  return {
    name: 'github (emulator)',
    forge: gh.forge,
    repo: gh.repo,
    git: repo.testRepo,
    openMr: () => {
      const p = repo.pulls.find((x) => x.state === 'open' && x.head === 'baton/production');
      return p && { number: p.number, title: p.title, body: p.body };
    },
    squashMerge: async (n) => void (await gh.emulator.mergePull('acme/env', n, { method: 'squash' })),
    close: (n) => gh.emulator.closePull('acme/env', n),
    violations: () => gh.emulator.violations,
    cleanup: () => gh.emulator.close(),
  };
}

async function gitlabHarness(): Promise<Harness> {
  const emu = await startGitlabEmulator();
  const project = await emu.addProject('acme/env', seed);
  return {
    name: 'gitlab (emulator)',
    forge: new GitlabForge({ url: emu.url, token: emu.token, retry: { sleep: () => Promise.resolve() } }),
    repo: 'acme/env',
    git: project.repo,
    openMr: () => {
      const m = project.mergeRequests.find((x) => x.state === 'opened' && x.source_branch === 'baton/production');
      return m && { number: m.iid, title: m.title, body: m.description };
    },
    squashMerge: async (n) => void (await emu.mergeMergeRequest('acme/env', n)),
    close: (n) => emu.closeMergeRequest('acme/env', n),
    violations: () => emu.graphqlRefusals.map((r) => JSON.stringify(r)),
    cleanup: () => emu.close(),
  };
}

const harnesses = [gitHarness, githubHarness, gitlabHarness];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function depsFor(h: Harness): ExecutorDeps {
  return { forge: h.forge, repo: h.repo, random: () => 0.5, sleep: async () => undefined, scopeOf: () => scope, ledger: new RollingLedger(), rolling: new Map() };
}

for (const make of harnesses) {
  describe(`rolling merge request on ${make.name}`, () => {
    it('stacks while the base stands still; the MR describes every image against the base, with causes', async () => {
      const h = await make();
      cleanups.push(() => h.cleanup());
      const deps = depsFor(h);
      await execute(prod, [bump('web', '1.5.0', 'e1')], deps);
      await execute(prod, [bump('web', '1.6.0', 'e2')], deps);
      await execute(prod, [bump('worker', '2.1.0', 'e3')], deps);
      expect(await h.git.subjects('baton/production')).toEqual(['worker 2.0.0 → 2.1.0 in production', 'web 1.5.0 → 1.6.0 in production', 'web 1.4.2 → 1.5.0 in production', 'seed']);
      expect(await h.git.subjects('main')).toEqual(['seed']);
      const mr = h.openMr();
      if (h.name === 'git') return;
      // Read the table as a person sees it rendered: Markdown escapes and code spans undone.
      const body = (mr?.body ?? '').replace(/\\(.)/g, '$1').replace(/<\/?code>/g, '`');
      expect(mr?.title).toBe('Deploy to production: web 1.6.0, worker 2.1.0');
      // Measured against what production runs (1.4.2), not against the previous batch (1.5.0).
      expect(body).toMatch(/\| web \| `1\.4\.2` \| `1\.6\.0` \|.*registry\/distribution e2.*by ci-bot/);
      expect(body).toMatch(/\| worker \| `2\.0\.0` \| `2\.1\.0` \|.*registry\/distribution e3/);
      expect(body).not.toContain('1.5.0');
    });

    it('rebuilds the branch as one commit on the moved base, carrying what it proposed', async () => {
      const h = await make();
      cleanups.push(() => h.cleanup());
      const deps = depsFor(h);
      await execute(prod, [bump('web', '1.5.0', 'e1')], deps);
      // Someone changes the base (a staging bump, a README fix).
      await h.git.commit({ 'README.md': 'env repo, edited\n' }, 'docs: edit README');
      const out = await execute(prod, [bump('worker', '2.1.0', 'e2')], deps);
      expect(out.status).toBe('committed');
      const base = await h.git.head('main');
      const parents = await h.git.parents('baton/production');
      expect(parents[0]).toBe(1);
      // One commit on the current base, holding both the carried web bump and the new worker bump.
      expect((await h.git.subjects('baton/production')).slice(1)).toEqual(['docs: edit README', 'seed']);
      expect(await h.git.message(`baton/production~1`)).toBe(await h.git.message(base));
      expect(await h.git.show('baton/production', 'prod/web.yaml')).toContain('"1.5.0"');
      expect(await h.git.show('baton/production', 'prod/worker.yaml')).toContain('"2.1.0"');
      expect(await h.git.show('baton/production', 'README.md')).toBe('env repo, edited\n');
      // The outcome names both: the carried web bump (with its original cause) now lives in this commit.
      expect(out.bumps.map((b) => [b.image, b.causes[0]?.deliveryId])).toEqual([
        ['web', 'e1'],
        ['worker', 'e2'],
      ]);
      if (h.name !== 'git') expect(h.openMr()?.title).toBe('Deploy to production: web 1.5.0, worker 2.1.0');
      // GitHub: built on a scratch branch and moved in one step, which is then deleted again.
      const branches = (await git(['for-each-ref', '--format=%(refname:short)', 'refs/heads'], { cwd: h.git.bare })).split('\n');
      expect(branches.filter((b) => b.startsWith('baton/scratch/'))).toEqual([]);
      expect(h.violations()).toEqual([]);
    });

    if (make !== gitHarness) {
      it('starts afresh from the base after the MR was squash-merged with its branch kept, and after a close', async () => {
        const h = await make();
        cleanups.push(() => h.cleanup());
        const deps = depsFor(h);
        await execute(prod, [bump('web', '1.5.0', 'e1')], deps);
        const first = h.openMr();
        expect(first).toBeDefined();
        await h.squashMerge(first!.number);
        expect(await h.git.show('main', 'prod/web.yaml')).toContain('"1.5.0"');

        await execute(prod, [bump('worker', '2.1.0', 'e2')], deps);
        // Not stacked on the merged branch: one commit on the base, which already has web 1.5.0.
        const merged = (await h.git.subjects('main'))[0];
        expect((await h.git.subjects('baton/production')).slice(0, 2)).toEqual(['worker 2.0.0 → 2.1.0 in production', merged]);
        const second = h.openMr();
        expect(second?.number).not.toBe(first!.number);
        expect(second?.title).toBe('Deploy to production: worker 2.1.0');

        // Turned down: the next bump does not carry worker 2.1.0 again.
        h.close(second!.number);
        await execute(prod, [bump('web', '1.6.0', 'e3')], deps);
        expect(await h.git.show('baton/production', 'prod/worker.yaml')).toContain('"2.0.0"');
        expect(await h.git.show('baton/production', 'prod/web.yaml')).toContain('"1.6.0"');
        expect(h.openMr()?.title).toBe('Deploy to production: web 1.6.0');
      });
    }
  });
}
