/** Real bare git repositories for tests: seeded from files, and changed "by someone else". */

import { mkdtemp, mkdir, writeFile, rm, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { git } from '../../src/forges/git/run-git.js';

const ENV = {
  GIT_AUTHOR_NAME: 'Someone Else',
  GIT_AUTHOR_EMAIL: 'someone@example.com',
  GIT_COMMITTER_NAME: 'Someone Else',
  GIT_COMMITTER_EMAIL: 'someone@example.com',
};

export async function tempDir(prefix = 'baton-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir)) {
    const p = join(dir, entry);
    if ((await stat(p)).isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

export async function readTree(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const p of await filesUnder(dir)) files[relative(dir, p)] = await readFile(p, 'utf8');
  return files;
}

export interface TestRepo {
  /** Path of the bare repository (usable as a remote). */
  bare: string;
  /** Commit (as someone else) and push these files on `branch`; returns the new head. */
  commit(files: Record<string, string | null>, message?: string, branch?: string): Promise<string>;
  head(branch?: string): Promise<string>;
  /** `git log` subjects, newest first. */
  subjects(branch?: string): Promise<string[]>;
  /** Full message of a commit. */
  message(rev: string): Promise<string>;
  show(rev: string, path: string): Promise<string>;
  /** Parent count per commit on the branch (all 1 except the root means linear history). */
  parents(branch?: string): Promise<number[]>;
  diff(rev: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function createBareRepo(seed: Record<string, string>, branch = 'main'): Promise<TestRepo> {
  const root = await tempDir();
  const bare = join(root, 'env.git');
  await git(['init', '--bare', '--quiet', `--initial-branch=${branch}`, bare]);
  const work = join(root, 'work');
  await git(['clone', '--quiet', bare, work]);
  await git(['checkout', '--quiet', '-b', branch], { cwd: work });

  const commit = async (files: Record<string, string | null>, message = 'change by someone else', on = branch): Promise<string> => {
    await git(['fetch', '--quiet', 'origin'], { cwd: work });
    const remote = await git(['ls-remote', 'origin', `refs/heads/${on}`], { cwd: work });
    if (remote.trim()) await git(['checkout', '--quiet', '-B', on, `origin/${on}`], { cwd: work });
    for (const [path, contents] of Object.entries(files)) {
      const p = join(work, path);
      if (contents === null) await rm(p, { force: true });
      else {
        await mkdir(dirname(p), { recursive: true });
        await writeFile(p, contents);
      }
    }
    await git(['add', '-A'], { cwd: work });
    await git(['commit', '--quiet', '--allow-empty', '-m', message], { cwd: work, env: ENV });
    await git(['push', '--quiet', 'origin', `HEAD:refs/heads/${on}`], { cwd: work });
    return (await git(['rev-parse', 'HEAD'], { cwd: work })).trim();
  };

  await commit(seed, 'seed');
  const run = (args: string[]): Promise<string> => git(args, { cwd: bare });
  return {
    bare,
    commit,
    head: async (b = branch) => (await run(['rev-parse', `refs/heads/${b}`])).trim(),
    subjects: async (b = branch) => (await run(['log', '--format=%s', b])).trim().split('\n'),
    message: async (rev) => run(['log', '-1', '--format=%B', rev]),
    show: async (rev, path) => run(['show', `${rev}:${path}`]),
    parents: async (b = branch) =>
      (await run(['log', '--format=%P', b]))
        .split('\n')
        .filter((l, i, all) => i < all.length - 1 || l !== '')
        .map((l) => (l.trim() === '' ? 0 : l.trim().split(' ').length)),
    diff: async (rev) => run(['show', '--format=', '--unified=0', rev]),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
