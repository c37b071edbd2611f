/**
 * The `git` forge: any remote git understands (bare path, file://, https://, ssh://), through a
 * cached bare clone under BATON_DATA_DIR. Commits are built with plumbing (no work tree) and pushed
 * without force, so a push that is not a fast-forward of the planned head is reported as stale.
 */

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
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

/** The commit the last `git fetch` of one branch brought (FETCH_HEAD's first line), read without running git. */
async function fetchedHead(dir: string): Promise<string | undefined> {
  const text = await readFile(join(dir, 'FETCH_HEAD'), 'utf8').catch(() => '');
  return /^([0-9a-f]{40}(?:[0-9a-f]{24})?)\t/.exec(text)?.[1];
}

const SAFE_PATH = (p: string): boolean => p.length > 0 && !p.includes('\n') && !p.includes('\0') && !p.startsWith('/') && !p.split('/').includes('..');

/** Branch names git already accepted (a few per env repo): each fetch and write needs the check, not a git run each time. */
const validBranches = new Set<string>();

async function assertBranchName(branch: string): Promise<void> {
  if (validBranches.has(branch)) return;
  const r = await runGit(['check-ref-format', '--branch', branch]);
  if (r.code !== 0 || branch.startsWith('-')) throw new ForgeError(`invalid branch name ${JSON.stringify(branch)}`, 422);
  if (validBranches.size >= 1_000) validBranches.clear();
  validBranches.add(branch);
}


/**
 * A git command on a cached clone's config (`init`, `config`). Several Baton processes may share one
 * data dir (the server and a `baton replay`, or two one-shot commands), so git's config lock held by
 * another process, or the clone's directory created by another `init` a moment ago, is waited for,
 * briefly, rather than failing the command.
 */
async function gitOnSharedConfig(args: string[], cwd?: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = await runGit(args, cwd === undefined ? {} : { cwd });
    if (r.code === 0) return;
    if (attempt >= 20 || !/could not lock config file|cannot mkdir .*File exists/.test(r.stderr)) throw new GitCommandError(args, r);
    await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
  }
}

/** Set a config value of a cached clone, only when it is not already right (see gitOnSharedConfig). */
async function configSet(dir: string, key: string, value: string): Promise<void> {
  const current = await runGit(['config', '--get', key], { cwd: dir });
  if (current.code === 0 && current.stdout.toString('utf8').trim() === value) return;
  await gitOnSharedConfig(['config', key, value], dir);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a failed push or fetch means, read from git's own words. */
export type GitFailure = { kind: 'stale' } | { kind: 'permanent'; status: number; reason: string } | { kind: 'retryable'; reason: string };

function gitReason(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== 'Done' && !l.startsWith('To '));
  return redactUrl(lines.slice(-6).join(' | ')).slice(0, 800);
}

/**
 * `! [rejected] (fetch first|non-fast-forward)` is a race (re-read and re-plan); `! [remote rejected]`
 * is the remote refusing (a hook, a protected branch) unless it only lost a ref-lock race; auth and
 * missing-repository failures will not change on retry; the rest (network, timeouts) might.
 */
export function classifyGitFailure(output: string): GitFailure {
  const reason = gitReason(output);
  if (/\[rejected\].*\((fetch first|non-fast-forward|stale info)\)/i.test(output)) return { kind: 'stale' };
  const remote = /\[remote rejected\][^(]*\(([^)]*)\)/i.exec(output);
  if (remote) {
    if (/cannot lock ref|failed to update ref|incorrect old value|failed to lock/i.test(remote[1] ?? '')) return { kind: 'stale' };
    return { kind: 'permanent', status: 403, reason: `the remote refused the push (${remote[1] ?? 'no reason given'}): ${reason}` };
  }
  if (/authentication failed|could not read (username|password)|permission denied|access denied|HTTP (401|403)|\b403\b.*forbidden|invalid credentials/i.test(output)) {
    return { kind: 'permanent', status: 401, reason: `the remote refused Baton's credentials: ${reason}` };
  }
  if (/repository not found|does not appear to be a git repository|not found.*repository|HTTP 404/i.test(output)) {
    return { kind: 'permanent', status: 404, reason: `the env repository was not found: ${reason}` };
  }
  return { kind: 'retryable', reason };
}

function failureError(f: Exclude<GitFailure, { kind: 'stale' }>, what: string): ForgeError {
  return f.kind === 'permanent' ? new ForgeError(`${what}: ${f.reason}`, f.status) : new RetryableError(`${what}: ${f.reason}`);
}

/** One cached clone; its lock serializes fetch/push, which update the same refs. */
interface Cache {
  dir: string;
  lock: Mutex;
  ready: Promise<void>;
  /** Per branch: when the last fetch that succeeded started (ms, this process's clock). */
  fetchedAt: Map<string, number>;
  /** Per branch: when a prefetch was last asked for, until a read uses it. */
  wanted: Map<string, number>;
  /** Per branch: a prefetch running or queued (at most one of each). */
  prefetching: Map<string, { running: Promise<void>; again: boolean }>;
}

/** A prefetch older than this is not used for a read: the read fetches again. */
const PREFETCH_MAX_AGE_MS = 60_000;

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
        if (!existsSync(join(dir, 'HEAD'))) await gitOnSharedConfig(['init', '--bare', '--quiet', '--template=', dir]);
        await configSet(dir, 'remote.origin.url', remote);
        // With the usual fetch refspec configured, a push moves the remote-tracking ref of the branch
        // it updated itself: a write needs no separate update-ref run after its push.
        await configSet(dir, 'remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*');
        await configSet(dir, 'gc.auto', '0');
        // Scratch refs of processes that are gone (each process keeps one between its writes, see write()).
        for (const ref of (await git(['for-each-ref', '--format=%(refname)', 'refs/baton/scratch/'], { cwd: dir })).split('\n').filter(Boolean)) {
          const pid = Number(ref.split('/').pop());
          if (!(Number.isInteger(pid) && pid !== process.pid && isAlive(pid))) await runGit(['update-ref', '-d', ref], { cwd: dir });
        }
      })();
      c = { dir, lock: new Mutex(), ready, fetchedAt: new Map(), wanted: new Map(), prefetching: new Map() };
      this.caches.set(remote, c);
    }
    return c;
  }

  private async locked<T>(remote: string, fn: (dir: string) => Promise<T>): Promise<T> {
    const c = this.cache(remote);
    await c.ready;
    return c.lock.run(() => fn(c.dir));
  }

  private cacheOfDir(dir: string): Cache | undefined {
    for (const c of this.caches.values()) if (c.dir === dir) return c;
    return undefined;
  }

  /** Fetch one branch into its remote-tracking ref; false when the remote has no such branch. */
  private async fetchRef(dir: string, branch: string): Promise<boolean> {
    await assertBranchName(branch);
    const startedAt = performance.now();
    const r = await runGit(['fetch', '--quiet', '--no-tags', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`], { cwd: dir });
    if (r.code !== 0) {
      if (/couldn't find remote ref|no such ref/i.test(r.stderr)) {
        await runGit(['update-ref', '-d', `refs/remotes/origin/${branch}`], { cwd: dir });
        this.cacheOfDir(dir)?.fetchedAt.set(branch, startedAt);
        return false;
      }
      const f = classifyGitFailure(r.stderr);
      throw failureError(f.kind === 'stale' ? { kind: 'retryable', reason: gitReason(r.stderr) } : f, 'git fetch failed');
    }
    this.cacheOfDir(dir)?.fetchedAt.set(branch, startedAt);
    return true;
  }

  /** Fetch one branch; returns its head or undefined when the remote has no such branch. */
  private async fetch(dir: string, branch: string): Promise<string | undefined> {
    if (!(await this.fetchRef(dir, branch))) return undefined;
    return (await git(['rev-parse', `refs/remotes/origin/${branch}`], { cwd: dir })).trim();
  }

  /**
   * Whether a read of `branch` may use the remote-tracking ref as it is: a prefetch was asked for
   * (when an event was accepted) and a fetch that started after that request has finished. That
   * fetch is as fresh as the event, and the write that follows is checked against the remote by
   * the push itself. The request is used once; every other read fetches.
   */
  private takePrefetched(c: Cache, branch: string): boolean {
    const asked = c.wanted.get(branch);
    const fetched = c.fetchedAt.get(branch);
    if (asked === undefined || fetched === undefined || fetched < asked || performance.now() - fetched > PREFETCH_MAX_AGE_MS) return false;
    c.wanted.delete(branch);
    return true;
  }

  /** Fetch `branch` in the background (see Forge.prefetch); the promise, which never rejects, is for tests. */
  prefetch(repo: string, branch: string): Promise<void> {
    const c = this.cache(repo);
    c.wanted.set(branch, performance.now());
    const pending = c.prefetching.get(branch);
    // One fetch running and one queued behind it cover any number of requests.
    if (pending) {
      pending.again = true;
      return pending.running;
    }
    const entry = { running: Promise.resolve(), again: false };
    const loop = async (): Promise<void> => {
      do {
        entry.again = false;
        await c.ready;
        await c.lock.run(() => this.fetchRef(c.dir, branch)).catch(() => undefined);
      } while (entry.again);
      c.prefetching.delete(branch);
    };
    c.prefetching.set(branch, entry);
    entry.running = loop();
    return entry.running;
  }

  async headOf(repo: string, branch: string): Promise<string | undefined> {
    return this.locked(repo, (dir) => this.fetch(dir, branch));
  }

  async defaultBranch(repo: string): Promise<string> {
    return this.locked(repo, async (dir) => {
      const r = await runGit(['ls-remote', '--symref', 'origin', 'HEAD'], { cwd: dir });
      const m = /^ref: refs\/heads\/(\S+)\s+HEAD/m.exec(r.stdout.toString('utf8'));
      if (r.code !== 0) {
        const f = classifyGitFailure(r.stderr);
        throw failureError(f.kind === 'stale' ? { kind: 'retryable', reason: gitReason(r.stderr) } : f, 'git ls-remote failed');
      }
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
      const c = this.cache(repo);
      // A fetch that started after the event was accepted (a prefetch during the debounce window) is reused.
      if (!this.takePrefetched(c, branch) && !(await this.fetchRef(dir, branch))) throw new ForgeError(`branch ${branch} does not exist`, 404);
      const ref = `refs/remotes/origin/${branch}`;
      const wanted = paths.filter(SAFE_PATH);
      // One cat-file run reads the head and the files (the lock keeps the ref still meanwhile).
      const out = (await runGit(['cat-file', '--batch'], { cwd: dir, input: [ref, ...wanted.map((p) => `${ref}:${p}`)].map((l) => `${l}\n`).join('') })).stdout;
      // Output per object: "<oid> <type> <size>\n<bytes>\n" or "<name> missing\n".
      let pos = 0;
      const next = (): { oid: string; type: string; bytes: Buffer } | undefined => {
        const nl = out.indexOf(0x0a, pos);
        if (nl < 0) return undefined;
        const header = out.subarray(pos, nl).toString('utf8');
        pos = nl + 1;
        const m = /^([0-9a-f]+) (\w+) (\d+)$/.exec(header);
        if (!m) return undefined;
        const size = Number(m[3]);
        const bytes = out.subarray(pos, pos + size);
        pos += size + 1;
        return { oid: m[1] ?? '', type: m[2] ?? '', bytes };
      };
      const commit = next();
      if (commit?.type !== 'commit') throw new ForgeError(`branch ${branch} does not exist`, 404);
      const files: Record<string, string | null> = {};
      for (const p of paths) files[p] = null;
      for (const p of wanted) {
        const obj = next();
        if (obj?.type === 'blob') files[p] = obj.bytes.toString('utf8');
      }
      return { head: commit.oid, files };
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
      const paths = req.changes.map((c) => c.path);
      // This process's scratch ref: fast-import builds each commit on it (--force moves it each time);
      // it is left in place after a write and removed at the next start if this process is gone.
      const scratchRef = `refs/baton/scratch/${process.pid}`;
      const marks = join(dir, `baton-marks-${process.pid}`);
      /** Build the commit on `parent` (one fast-import run); returns its id, read from the marks file. */
      const build = async (parent: string, modes: Map<string, string>): Promise<string> => {
        await git(['fast-import', '--quiet', '--force', '--date-format=now', `--export-marks=${marks}`], { cwd: dir, input: this.importStream(scratchRef, parent, req, modes) });
        const m = /^:1 ([0-9a-f]{40,64})$/m.exec(await readFile(marks, 'utf8'));
        if (!m?.[1]) throw new ForgeError('git fast-import did not report the commit it made', 500);
        return m[1];
      };
      /** The push landed (and moved the remote-tracking ref with it, see `remote.origin.fetch`). */
      const landed = (commit: string): WriteResult => ({ status: 'committed', commit });
      try {
        // Modes (an executable file stays executable) are read once: a later change of mode by
        // someone else counts as touching the file below, which sends the caller back to planning.
        const modes = new Map<string, string>();
        const entriesAt = async (commit: string): Promise<string> => git(['ls-tree', '-z', commit, '--', ...paths], { cwd: dir });
        const planned = await entriesAt(req.expectedHead);
        for (const rec of planned.split('\0')) {
          const m = /^(\d+) \w+ [0-9a-f]+\t(.*)$/s.exec(rec);
          if (m?.[1] && m[2] !== undefined) modes.set(m[2], m[1]);
        }
        if (req.replace !== undefined) {
          // Rebuild Baton's own rolling branch on a new parent: a forced update, but only while the
          // branch is still where Baton last saw it (or still absent): --force-with-lease.
          const commit = await build(req.expectedHead, modes);
          const push = await runGit(['push', '--porcelain', `--force-with-lease=refs/heads/${req.branch}:${req.replace ?? ''}`, 'origin', `+${commit}:refs/heads/${req.branch}`], { cwd: dir });
          if (push.code !== 0) {
            const f = classifyGitFailure(push.stdout.toString('utf8') + '\n' + push.stderr);
            if (f.kind !== 'stale') throw failureError(f, `git push to ${req.branch} failed`);
            const head = await this.fetch(dir, req.branch);
            return { status: 'stale', ...(head && { head }) };
          }
          return landed(commit);
        }
        let parent = req.expectedHead;
        for (let rebase = 0; ; rebase++) {
          // One fast-import run builds the commit: the window between reading the head and pushing
          // is what contention with other writers races against.
          const commit = await build(parent, modes);
          // The remote takes this only while the branch is still at `parent` (then it is a
          // fast-forward): not after someone else pushed, and not once the branch was deleted (a read
          // served by a prefetch must never bring a deleted branch back).
          const push = await runGit(['push', '--porcelain', `--force-with-lease=refs/heads/${req.branch}:${parent}`, 'origin', `${commit}:refs/heads/${req.branch}`], { cwd: dir });
          if (push.code === 0) return landed(commit);
          const text = push.stdout.toString('utf8') + '\n' + push.stderr;
          const f = classifyGitFailure(text);
          if (f.kind !== 'stale') throw failureError(f, `git push to ${req.branch} failed`);
          // The window between reading the head and pushing is what racing writers beat: the new head
          // comes from the fetch's own FETCH_HEAD (no rev-parse run), and one ls-tree compares the files.
          if (!(await this.fetchRef(dir, req.branch))) return { status: 'stale' };
          const head = (await fetchedHead(dir)) ?? (await git(['rev-parse', `refs/remotes/origin/${req.branch}`], { cwd: dir })).trim();
          // Someone pushed meanwhile. When none of the files this commit changes differ between the
          // planned head and the new one (same modes, same blobs, same files present), planning again
          // would produce exactly these bytes: put the same change on the new head right here.
          // Otherwise the caller re-reads and re-plans.
          if ((await entriesAt(head)) !== planned || rebase >= 20) return { status: 'stale', head };
          parent = head;
        }
      } catch (e) {
        if (e instanceof GitCommandError) throw new ForgeError(e.message, 500);
        throw e;
      } finally {
        await rm(marks, { force: true });
      }
    });
  }

  /** A `git fast-import` stream for one commit on `parent` carrying `req`'s changes. */
  private importStream(ref: string, parent: string, req: WriteRequest, modes: Map<string, string>): Buffer {
    const who = (p: { name: string; email: string }): string => `${p.name.replace(/[<>\n]/g, '')} <${p.email.replace(/[<>\n]/g, '')}> now`;
    // Paths are C-quoted when they could be misread (fast-import reads the rest of the line).
    const path = (p: string): string => (/^"|\\|"/.test(p) ? JSON.stringify(p) : p);
    const message = Buffer.from(req.message, 'utf8');
    const head = [`commit ${ref}`, 'mark :1', `author ${who(this.author)}`, `committer ${who(this.author)}`, `data ${message.length}`].join('\n') + '\n';
    const parts: Buffer[] = [Buffer.from(head, 'utf8'), message, Buffer.from(`\nfrom ${parent}\n`, 'utf8')];
    for (const c of req.changes) {
      if (c.type === 'delete') parts.push(Buffer.from(`D ${path(c.path)}\n`, 'utf8'));
      else {
        const data = Buffer.from(c.contents, 'utf8');
        parts.push(Buffer.from(`M ${modes.get(c.path) === '100755' ? '100755' : '100644'} inline ${path(c.path)}\ndata ${data.length}\n`, 'utf8'), data, Buffer.from('\n', 'utf8'));
      }
    }
    parts.push(Buffer.from('\n', 'utf8'));
    return Buffer.concat(parts);
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
        const f = classifyGitFailure(push.stdout.toString('utf8') + '\n' + push.stderr);
        throw failureError(f.kind === 'stale' ? { kind: 'retryable', reason: gitReason(push.stderr) } : f, `could not create branch ${branch}`);
      }
      await git(['update-ref', `refs/remotes/origin/${branch}`, base], { cwd: dir });
      return base;
    });
  }
}
