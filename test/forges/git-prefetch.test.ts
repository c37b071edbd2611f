/**
 * The git forge fetches while the debounce window is open (`prefetch`), so the read after the window
 * need not wait for the network. What a user relies on stays true: a read served by a prefetch is
 * never older than the request, a write planned on it never overwrites or resurrects anything, and
 * every other read fetches.
 */

import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { GitForge } from '../../src/forges/git/git-forge.js';
import { runGit } from '../../src/forges/git/run-git.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import type { TestRepo } from '../helpers/git-repo.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(): Promise<{ repo: TestRepo; forge: GitForge }> {
  const repo = await createBareRepo({ 'app.yaml': 'tag: "1"\n', 'other.txt': 'x\n' });
  const cache = await tempDir();
  cleanups.push(() => repo.cleanup(), () => rm(cache, { recursive: true, force: true }));
  return { repo, forge: new GitForge({ cacheDir: cache }) };
}

describe('git forge prefetch', () => {
  it('serves the next read from the prefetch, then fetches again for every later read', async () => {
    const { repo, forge } = await setup();
    await forge.prefetch(repo.bare, 'main');
    const prefetchedHead = await repo.head();
    // Someone pushes after the prefetch: the read served by it is as of the event, not later.
    const external = await repo.commit({ 'other.txt': 'y\n' });
    const first = await forge.readFiles(repo.bare, 'main', ['app.yaml']);
    expect(first.head).toBe(prefetchedHead);
    expect(first.files['app.yaml']).toBe('tag: "1"\n');
    // The prefetch is used once: the next read fetches and sees the push.
    const second = await forge.readFiles(repo.bare, 'main', ['app.yaml', 'missing.yaml']);
    expect(second.head).toBe(external);
    expect(second.files).toEqual({ 'app.yaml': 'tag: "1"\n', 'missing.yaml': null });
  });

  it('a write planned on a prefetched head that moved is rebased only when its files are untouched, else refused', async () => {
    const { repo, forge } = await setup();
    await forge.prefetch(repo.bare, 'main');
    await repo.commit({ 'other.txt': 'y\n' });
    const snap = await forge.readFiles(repo.bare, 'main', ['app.yaml']);
    // Untouched file: the same change lands on top of the external commit, which is kept.
    const ok = await forge.write(repo.bare, { branch: 'main', expectedHead: snap.head, changes: [{ type: 'write', path: 'app.yaml', contents: 'tag: "2"\n' }], message: 'bump' });
    expect(ok.status).toBe('committed');
    expect(await repo.show('main', 'other.txt')).toBe('y\n');
    expect(await repo.show('main', 'app.yaml')).toBe('tag: "2"\n');
    expect((await repo.parents()).slice(0, -1).every((p) => p === 1)).toBe(true);

    await forge.prefetch(repo.bare, 'main');
    const before = await repo.commit({ 'app.yaml': 'tag: "3" # by hand\n' });
    const stale = await forge.readFiles(repo.bare, 'main', ['app.yaml']);
    const refused = await forge.write(repo.bare, { branch: 'main', expectedHead: stale.head, changes: [{ type: 'write', path: 'app.yaml', contents: 'tag: "4"\n' }], message: 'bump' });
    expect(refused.status).toBe('stale');
    expect(await repo.head()).toBe(before);
    expect(await repo.show('main', 'app.yaml')).toBe('tag: "3" # by hand\n');
  });

  it('never brings back a branch deleted after the prefetch', async () => {
    const { repo, forge } = await setup();
    await repo.commit({ 'app.yaml': 'tag: "1"\n' }, 'branch', 'release');
    await forge.prefetch(repo.bare, 'release');
    expect((await runGit(['update-ref', '-d', 'refs/heads/release'], { cwd: repo.bare })).code).toBe(0);
    const snap = await forge.readFiles(repo.bare, 'release', ['app.yaml']);
    const out = await forge.write(repo.bare, { branch: 'release', expectedHead: snap.head, changes: [{ type: 'write', path: 'app.yaml', contents: 'tag: "2"\n' }], message: 'bump' });
    expect(out.status).toBe('stale');
    expect((await runGit(['rev-parse', '--verify', '--quiet', 'refs/heads/release'], { cwd: repo.bare })).code).not.toBe(0);
    await expect(forge.readFiles(repo.bare, 'release', ['app.yaml'])).rejects.toMatchObject({ status: 404 });
  });

  it('a prefetch that fails (a remote that is not there) changes nothing and the read reports the failure', async () => {
    const { forge } = await setup();
    const missing = `${await tempDir()}/nope.git`;
    await forge.prefetch(missing, 'main');
    await expect(forge.readFiles(missing, 'main', ['a'])).rejects.toThrow(/fetch failed|not found|does not appear/);
  });
});
