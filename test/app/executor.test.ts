import { describe, expect, it } from 'vitest';
import { execute } from '../../src/app/executor.js';
import type { SetImage } from '../../src/core/intent.js';
import { GitForge } from '../../src/forges/git/git-forge.js';
import type { Forge } from '../../src/forges/types.js';
import { RetryableError, failureKind } from '../../src/forges/types.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';

const WEB = 'registry.example.com/team/web';
const API = 'registry.example.com/team/api';

function intent(image: string, repository: string, tag: string, file: string): SetImage {
  return {
    type: 'set-image', destination: { branch: 'main', write: 'commit' }, env: 'staging', image, repository, tag,
    digestMode: 'ignore', mode: 'upgrade', policy: { policy: 'semver' }, targets: [{ file }],
    cause: { source: 'registry/distribution', deliveryId: `${image}-${tag}` },
  };
}

const seed = {
  'web/kustomization.yaml': `images:\n  - name: ${WEB}\n    newTag: "1.0.0"\n`,
  'api/kustomization.yaml': `images:\n  - name: ${API}\n    newTag: "2.0.0"\n`,
};

const instant = { random: () => 0.5, sleep: async () => undefined };

describe('executor', () => {
  it('lands both bumps when two writers race on one branch, with linear history', async () => {
    const repo = await createBareRepo(seed);
    // Two replicas: separate caches, same remote.
    const a = new GitForge({ cacheDir: await tempDir() });
    const b = new GitForge({ cacheDir: await tempDir() });
    // Make writer A lose the race deterministically: B commits between A's read and A's write.
    let raced = false;
    const racingA: Forge = Object.assign(Object.create(a) as GitForge, {
      readFiles: async (r: string, br: string, p: string[]) => {
        const snap = await a.readFiles(r, br, p);
        if (!raced) {
          raced = true;
          const out = await execute({ branch: 'main', write: 'commit' }, [intent('api', API, '2.1.0', 'api/kustomization.yaml')], { forge: b, repo: repo.bare, ...instant });
          expect(out.status).toBe('committed');
        }
        return snap;
      },
    });
    const outA = await execute({ branch: 'main', write: 'commit' }, [intent('web', WEB, '1.1.0', 'web/kustomization.yaml')], { forge: racingA, repo: repo.bare, ...instant });
    // B changed another file only: the git forge puts A's unchanged plan on the new head itself.
    expect(outA).toMatchObject({ status: 'committed', attempts: 1 });
    expect(await repo.subjects()).toEqual(['web 1.0.0 → 1.1.0 in staging', 'api 2.0.0 → 2.1.0 in staging', 'seed']);
    expect(await repo.parents()).toEqual([1, 1, 0]);
    expect(await repo.show('main', 'web/kustomization.yaml')).toContain('"1.1.0"');
    expect(await repo.show('main', 'api/kustomization.yaml')).toContain('"2.1.0"');
    await repo.cleanup();
  });

  it('re-reads and re-plans when the racing commit changed a file the write touches', async () => {
    const repo = await createBareRepo(seed);
    const a = new GitForge({ cacheDir: await tempDir() });
    let raced = false;
    const racingA: Forge = Object.assign(Object.create(a) as GitForge, {
      readFiles: async (r: string, br: string, p: string[]) => {
        const snap = await a.readFiles(r, br, p);
        if (!raced) {
          raced = true;
          // Someone adds a comment to the very file A is about to write.
          await repo.commit({ 'web/kustomization.yaml': `# owned by team web\n${seed['web/kustomization.yaml']}` }, 'annotate web');
        }
        return snap;
      },
    });
    const outA = await execute({ branch: 'main', write: 'commit' }, [intent('web', WEB, '1.1.0', 'web/kustomization.yaml')], { forge: racingA, repo: repo.bare, ...instant });
    expect(outA).toMatchObject({ status: 'committed', attempts: 2 });
    const text = await repo.show('main', 'web/kustomization.yaml');
    expect(text).toContain('# owned by team web');
    expect(text).toContain('"1.1.0"');
    expect(await repo.parents()).toEqual([1, 1, 0]);
    await repo.cleanup();
  });

  it('lands every bump when many writers run truly concurrently', async () => {
    const repo = await createBareRepo(seed);
    const writers = await Promise.all(Array.from({ length: 4 }, async () => new GitForge({ cacheDir: await tempDir() })));
    const jobs = [
      intent('web', WEB, '1.1.0', 'web/kustomization.yaml'),
      intent('api', API, '2.1.0', 'api/kustomization.yaml'),
      intent('web', WEB, '1.2.0', 'web/kustomization.yaml'),
      intent('api', API, '2.2.0', 'api/kustomization.yaml'),
    ];
    const outcomes = await Promise.all(
      jobs.map((j, i) => execute({ branch: 'main', write: 'commit' }, [j], { forge: writers[i]!, repo: repo.bare, random: Math.random, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), maxStaleAttempts: 40 })),
    );
    expect(outcomes.every((o) => o.status === 'committed' || o.status === 'noop')).toBe(true);
    expect(await repo.show('main', 'web/kustomization.yaml')).toContain('"1.2.0"');
    expect(await repo.show('main', 'api/kustomization.yaml')).toContain('"2.2.0"');
    const parents = await repo.parents();
    expect(parents.slice(0, -1).every((p) => p === 1)).toBe(true);
    await repo.cleanup();
  });

  it('is idempotent: a batch already applied writes nothing', async () => {
    const repo = await createBareRepo(seed);
    const forge = new GitForge({ cacheDir: await tempDir() });
    const batch = [intent('web', WEB, '1.1.0', 'web/kustomization.yaml')];
    expect((await execute({ branch: 'main', write: 'commit' }, batch, { forge, repo: repo.bare, ...instant })).status).toBe('committed');
    const head = await repo.head();
    expect((await execute({ branch: 'main', write: 'commit' }, batch, { forge, repo: repo.bare, ...instant })).status).toBe('noop');
    expect(await repo.head()).toBe(head);
    await repo.cleanup();
  });

  it('writes merge-request environments to the rolling baton/<env> branch, not the base', async () => {
    const repo = await createBareRepo(seed);
    const forge = new GitForge({ cacheDir: await tempDir() });
    const prod = { ...intent('web', WEB, '1.1.0', 'web/kustomization.yaml'), env: 'production', destination: { branch: 'main', write: 'merge-request' as const, env: 'production' } };
    // Baton remembers the rolling branch it wrote, so while the base stands still it stacks on it.
    const rolling = new Map<string, { base: string; head: string }>();
    const out = await execute(prod.destination, [prod], { forge, repo: repo.bare, rolling, ...instant });
    expect(out).toMatchObject({ status: 'committed', branch: 'baton/production' });
    expect(await repo.subjects()).toEqual(['seed']);
    expect(await repo.subjects('baton/production')).toEqual(['web 1.0.0 → 1.1.0 in production', 'seed']);
    // A second bump accumulates on the same rolling branch.
    await execute(prod.destination, [{ ...prod, tag: '1.2.0' }], { forge, repo: repo.bare, rolling, ...instant });
    expect(await repo.subjects('baton/production')).toEqual(['web 1.1.0 → 1.2.0 in production', 'web 1.0.0 → 1.1.0 in production', 'seed']);
    await repo.cleanup();
  });

  it('throws when the forge is down instead of returning a result a caller could count as done', async () => {
    let calls = 0;
    const down: Forge = {
      kind: 'git',
      readFiles: async () => {
        calls++;
        throw new RetryableError('503 from forge');
      },
      listFiles: async () => ({ head: '', paths: [] }),
      write: async () => ({ status: 'stale' }),
      ensureBranch: async () => '',
      headOf: async () => undefined,
      defaultBranch: async () => 'main',
    };
    await expect(execute({ branch: 'main', write: 'commit' }, [intent('web', WEB, '1.1.0', 'web/kustomization.yaml')], { forge: down, repo: 'x', ...instant })).rejects.toThrow(/503 from forge/);
    expect(calls).toBe(1);
  });

  it('re-plans on a moved head, and throws a retryable error when every write is overtaken', async () => {
    const repo = await createBareRepo(seed);
    const real = new GitForge({ cacheDir: await tempDir() });
    let writes = 0;
    const contended: Forge = { ...real, kind: 'git', readFiles: real.readFiles.bind(real), listFiles: real.listFiles.bind(real), ensureBranch: real.ensureBranch.bind(real), headOf: real.headOf.bind(real), defaultBranch: real.defaultBranch.bind(real), write: async () => { writes++; return { status: 'stale' }; } };
    const err = await execute({ branch: 'main', write: 'commit' }, [intent('web', WEB, '1.1.0', 'web/kustomization.yaml')], { forge: contended, repo: repo.bare, maxStaleAttempts: 5, ...instant }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect(failureKind(err)).toBe('retryable');
    expect(writes).toBe(5);
    await repo.cleanup();
  });
});
