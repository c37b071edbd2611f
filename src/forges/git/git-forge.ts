/**
 * The `git` forge: any remote git understands (bare path, file://, https://, ssh://), through a
 * cached bare clone under BATON_DATA_DIR. Commits are built with plumbing (no work tree) and pushed
 * without force, so a push that is not a fast-forward of the planned head is reported as stale.
 */

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Forge, Snapshot, WriteRequest, WriteResult } from '../types.js';
import { ForgeError, RetryableError } from '../types.js';
import { GitCommandError, git, redactUrl, runGit } from './run-git.js';
import { Mutex } from '../mutex.js';

export interface GitForgeOptions {
  /** Where cached clones live (`<dataDir>/git/<hash>.git`). */
  cacheDir: string;
  author?: { name: string; email: string };
}

const SAFE_PATH = (p: string): boolean => p.length > 0 && !p.includes('\n') && !p.includes('\0') && !p.startsWith('/') && !p.split('/').includes('..');

async function assertBranchName(branch: string): Promise<void> {
  const r = await runGit(['check-ref-format', '--branch', branch]);
  if (r.code !== 0 || branch.startsWith('-')) throw new ForgeError(`invalid branch name ${JSON.stringify(branch)}`, 422);
}


/** One cached clone; its lock serializes fetch/push, which update the same refs. */
interface Cache {
  dir: string;
  lock: Mutex;
  ready: Promise<void>;
}

export class GitForge implements Forge {
  readonly kind = 'git' as const;
  private readonly caches = new Map<string, Cache>();
  private readonly author: { name: string; email: string };

  constructor(private readonly options: GitForgeOptions) {
    this.author = options.author ?? { name: 'Baton', email: 'baton@localhost' };
  }

  private cache(remote: string): Cache {
    let c = this.caches.get(remote);
    if (!c) {
      const dir = join(this.options.cacheDir, `${createHash('sha256').update(remote).digest('hex').slice(0, 16)}.git`);
      const ready = (async () => {
        await mkdir(this.options.cacheDir, { recursive: true });
        // An empty template: no sample hooks, nothing from the host's git templates runs here.
        await git(['init', '--bare', '--quiet', '--template=', dir]);
        await git(['config', 'remote.origin.url', remote], { cwd: dir });
        await git(['config', 'gc.auto', '0'], { cwd: dir });
      })();
      c = { dir, lock: new Mutex(), ready };
      this.caches.set(remote, c);
    }
    return c;
  }

  private async locked<T>(remote: string, fn: (dir: string) => Promise<T>): Promise<T> {
    const c = this.cache(remote);
    await c.ready;
    return c.lock.run(() => fn(c.dir));
  }

  /** Fetch one branch; returns its head or undefined when the remote has no such branch. */
  private async fetch(dir: string, branch: string): Promise<string | undefined> {
    await assertBranchName(branch);
    const r = await runGit(['fetch', '--quiet', '--no-tags', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`], { cwd: dir });
    if (r.code !== 0) {
      if (/couldn't find remote ref|no such ref/i.test(r.stderr)) {
        await runGit(['update-ref', '-d', `refs/remotes/origin/${branch}`], { cwd: dir });
        return undefined;
      }
      throw new RetryableError(`git fetch failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    }
    return (await git(['rev-parse', `refs/remotes/origin/${branch}`], { cwd: dir })).trim();
  }

  async headOf(repo: string, branch: string): Promise<string | undefined> {
    return this.locked(repo, (dir) => this.fetch(dir, branch));
  }

  async defaultBranch(repo: string): Promise<string> {
    return this.locked(repo, async (dir) => {
      const r = await runGit(['ls-remote', '--symref', 'origin', 'HEAD'], { cwd: dir });
      const m = /^ref: refs\/heads\/(\S+)\s+HEAD/m.exec(r.stdout.toString('utf8'));
      if (r.code !== 0) throw new RetryableError(`git ls-remote failed: ${r.stderr.trim()}`);
      return m?.[1] ?? 'main';
    });
  }

  async commitsTouching(repo: string, branch: string, path: string, limit: number): Promise<{ sha: string; message: string }[]> {
    if (!SAFE_PATH(path)) throw new ForgeError(`unsafe path ${JSON.stringify(path.slice(0, 100))}`, 422);
    return this.locked(repo, async (dir) => {
      const head = await this.fetch(dir, branch);
      if (!head) throw new ForgeError(`branch ${branch} does not exist`, 404);
      const out = await git(['--literal-pathspecs', 'log', `-${Math.max(1, Math.min(1000, limit))}`, '--format=%H%x00%B%x1e', head, '--', path], { cwd: dir });
      return out
        .split('\x1e')
        .map((r) => r.replace(/^\n/, ''))
        .filter((r) => r.includes('\0'))
        .map((r) => {
          const [sha = '', message = ''] = r.split('\0');
          return { sha, message };
        });
    });
  }

  async readFiles(repo: string, branch: string, paths: string[]): Promise<Snapshot> {
    return this.locked(repo, async (dir) => {
      const head = await this.fetch(dir, branch);
      if (!head) throw new ForgeError(`branch ${branch} does not exist`, 404);
      const files: Record<string, string | null> = {};
      const wanted = paths.filter(SAFE_PATH);
      for (const p of paths) files[p] = null;
      if (wanted.length === 0) return { head, files };
      const out = (await runGit(['cat-file', '--batch'], { cwd: dir, input: wanted.map((p) => `${head}:${p}\n`).join('') })).stdout;
      // Output per object: "<oid> <type> <size>\n<bytes>\n" or "<name> missing\n".
      let pos = 0;
      for (const p of wanted) {
        const nl = out.indexOf(0x0a, pos);
        const header = out.subarray(pos, nl).toString('utf8');
        pos = nl + 1;
        const m = /^[0-9a-f]+ (\w+) (\d+)$/.exec(header);
        if (!m) continue;
        const size = Number(m[2]);
        if (m[1] === 'blob') files[p] = out.subarray(pos, pos + size).toString('utf8');
        pos += size + 1;
      }
      return { head, files };
    });
  }

  async listFiles(repo: string, branch: string, prefix?: string): Promise<{ head: string; paths: string[] }> {
    return this.locked(repo, async (dir) => {
      const head = await this.fetch(dir, branch);
      if (!head) throw new ForgeError(`branch ${branch} does not exist`, 404);
      const args = ['ls-tree', '-r', '--name-only', '-z', head];
      if (prefix) args.push('--', prefix);
      const out = await git(args, { cwd: dir });
      return { head, paths: out.split('\0').filter(Boolean) };
    });
  }

  async write(repo: string, req: WriteRequest): Promise<WriteResult> {
    if (req.changes.length === 0) throw new ForgeError('refusing to write an empty changeset', 422);
    for (const c of req.changes) if (!SAFE_PATH(c.path)) throw new ForgeError(`unsafe path ${JSON.stringify(c.path)}`, 422);
    await assertBranchName(req.branch);
    return this.locked(repo, async (dir) => {
      const scratch = await mkdtemp(join(tmpdir(), 'baton-index-'));
      const env = {
        GIT_INDEX_FILE: join(scratch, 'index'),
        GIT_AUTHOR_NAME: this.author.name,
        GIT_AUTHOR_EMAIL: this.author.email,
        GIT_COMMITTER_NAME: this.author.name,
        GIT_COMMITTER_EMAIL: this.author.email,
      };
      try {
        await git(['read-tree', req.expectedHead], { cwd: dir, env });
        const entries: string[] = [];
        for (const c of req.changes) {
          if (c.type === 'delete') {
            // Mode 0 removes the path from the index (update-index --index-info needs no work tree).
            entries.push(`0 ${'0'.repeat(40)}\t${c.path}`);
            continue;
          }
          const oid = (await git(['hash-object', '-w', '--stdin'], { cwd: dir, input: c.contents })).trim();
          const existing = (await git(['ls-files', '-s', '--', c.path], { cwd: dir, env })).split(' ')[0];
          entries.push(`${existing === '100755' ? '100755' : '100644'} ${oid}\t${c.path}`);
        }
        await git(['update-index', '-z', '--index-info'], { cwd: dir, env, input: entries.map((e) => `${e}\0`).join('') });
        const tree = (await git(['write-tree'], { cwd: dir, env })).trim();
        const commit = (await git(['commit-tree', tree, '-p', req.expectedHead, '-F', '-'], { cwd: dir, env, input: req.message })).trim();
        // No force: the remote accepts this only as a fast-forward of expectedHead.
        const push = await runGit(['push', '--quiet', '--porcelain', 'origin', `${commit}:refs/heads/${req.branch}`], { cwd: dir });
        if (push.code !== 0) {
          const text = push.stderr + push.stdout.toString('utf8');
          if (/rejected|non-fast-forward|fetch first|stale info|failed to update ref|cannot lock ref/i.test(text)) {
            const head = await this.fetch(dir, req.branch);
            return { status: 'stale', ...(head && { head }) };
          }
          throw new RetryableError(`git push failed: ${redactUrl(text.trim().split('\n').pop() ?? '')}`);
        }
        await git(['update-ref', `refs/remotes/origin/${req.branch}`, commit], { cwd: dir });
        return { status: 'committed', commit };
      } catch (e) {
        if (e instanceof GitCommandError) throw new ForgeError(e.message, 500);
        throw e;
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
  }

  async ensureBranch(repo: string, branch: string, from: string): Promise<string> {
    await assertBranchName(branch);
    return this.locked(repo, async (dir) => {
      const existing = await this.fetch(dir, branch);
      if (existing) return existing;
      const base = await this.fetch(dir, from);
      if (!base) throw new ForgeError(`base branch ${from} does not exist`, 404);
      const push = await runGit(['push', '--quiet', 'origin', `${base}:refs/heads/${branch}`], { cwd: dir });
      if (push.code !== 0) {
        const now = await this.fetch(dir, branch);
        if (now) return now;
        throw new RetryableError(`could not create branch ${branch}: ${push.stderr.trim()}`);
      }
      await git(['update-ref', `refs/remotes/origin/${branch}`, base], { cwd: dir });
      return base;
    });
  }
}
