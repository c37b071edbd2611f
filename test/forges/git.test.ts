import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GitForge } from '../../src/forges/git/git-forge.js';
import { git } from '../../src/forges/git/run-git.js';
import { forgeContract } from './contract.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';

forgeContract('git (local bare repository)', async (seed) => {
  const repo = await createBareRepo(seed);
  const cache = await tempDir();
  return {
    forge: new GitForge({ cacheDir: cache }),
    repo: repo.bare,
    branch: 'main',
    externalCommit: (files, branch) => repo.commit(files, 'external', branch),
    headMessage: async (branch = 'main') => repo.message(branch),
    cleanup: async () => {
      await repo.cleanup();
      await rm(cache, { recursive: true, force: true });
    },
  };
});

describe('git forge', () => {
  it('works with file:// remotes and keeps a token in an https URL out of errors', async () => {
    const repo = await createBareRepo({ 'a.txt': 'a\n' });
    const forge = new GitForge({ cacheDir: await tempDir() });
    const snap = await forge.readFiles(`file://${repo.bare}`, 'main', ['a.txt']);
    expect(snap.files['a.txt']).toBe('a\n');
    const err = await forge.readFiles('https://user:s3cr3t-token@127.0.0.1:9/env.git', 'main', ['a.txt']).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).not.toContain('s3cr3t-token');
    await repo.cleanup();
  });

  it('several processes sharing one data dir (server and one-shot commands) open the cached clone together', async () => {
    const repo = await createBareRepo({ 'a.txt': 'a\n' });
    const cache = await tempDir();
    // Each GitForge stands for one process: its own in-process lock, the same clone on disk.
    const reads = await Promise.all(Array.from({ length: 12 }, () => new GitForge({ cacheDir: cache }).readFiles(repo.bare, 'main', ['a.txt'])));
    expect(reads.map((r) => r.files['a.txt'])).toEqual(Array.from({ length: 12 }, () => 'a\n'));
    await repo.cleanup();
  });

  it('after a write, the cached clone knows the new head without fetching, and keeps one scratch ref for this process', async () => {
    const repo = await createBareRepo({ 'a.txt': 'a\n' });
    const cache = await tempDir();
    const forge = new GitForge({ cacheDir: cache });
    let head = (await forge.readFiles(repo.bare, 'main', ['a.txt'])).head;
    const [clone] = await readdir(cache);
    const inClone = async (...args: string[]): Promise<string> => (await git(args, { cwd: join(cache, clone ?? '') })).trim();
    for (const text of ['b\n', 'c\n']) {
      const result = await forge.write(repo.bare, { branch: 'main', expectedHead: head, message: `write ${text}`, changes: [{ type: 'write', path: 'a.txt', contents: text }] });
      if (result.status !== 'committed') throw new Error(`write was ${result.status}`);
      // The push itself moved the remote-tracking ref: it is the remote's new head.
      expect(await inClone('rev-parse', 'refs/remotes/origin/main')).toBe(result.commit);
      expect(await repo.head('main')).toBe(result.commit);
      head = result.commit;
    }
    expect(await inClone('for-each-ref', '--format=%(refname)', 'refs/baton/scratch/')).toBe(`refs/baton/scratch/${process.pid}`);
    await repo.cleanup();
    await rm(cache, { recursive: true, force: true });
  });

  it('refuses hostile branch names before running git', async () => {
    const repo = await createBareRepo({ 'a.txt': 'a\n' });
    const forge = new GitForge({ cacheDir: join(await tempDir(), 'c') });
    await expect(forge.readFiles(repo.bare, '--upload-pack=touch /tmp/pwned', ['a.txt'])).rejects.toThrow(/invalid branch/);
    await expect(forge.headOf(repo.bare, 'a..b')).rejects.toThrow(/invalid branch/);
    await repo.cleanup();
  });
});
