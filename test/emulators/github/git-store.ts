/** Real git objects behind the emulator: a bare repository per emulated repo, driven with plumbing. */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, runGit } from '../../../src/forges/git/run-git.js';

export interface TreeEntry {
  mode: string;
  type: 'blob' | 'tree' | 'commit';
  oid: string;
  path: string;
}

export type StoreChange = { type: 'write'; path: string; contents: Buffer } | { type: 'delete'; path: string };

export class CommitConflict extends Error {}
export class MissingPath extends Error {}

export class GitStore {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly bare: string) {}

  /** One writer at a time, as GitHub serializes ref updates per repository. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }

  async refHead(branch: string): Promise<string | undefined> {
    const r = await runGit(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], { cwd: this.bare });
    return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
  }

  async branches(): Promise<string[]> {
    const out = await git(['for-each-ref', '--format=%(refname:strip=2)', 'refs/heads/'], { cwd: this.bare });
    return out.split('\n').filter(Boolean);
  }

  async objectType(oid: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{4,40}$/.test(oid)) return undefined;
    const r = await runGit(['cat-file', '-t', oid], { cwd: this.bare });
    return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
  }

  /** The entry at `path` in commit `oid`, or undefined. */
  async entry(oid: string, path: string): Promise<TreeEntry | undefined> {
    const r = await runGit(['ls-tree', '-z', '--full-tree', oid, '--', path], { cwd: this.bare });
    if (r.code !== 0) return undefined;
    const line = r.stdout.toString('utf8').split('\0')[0];
    const m = /^(\d+) (\w+) ([0-9a-f]+)\t(.*)$/s.exec(line ?? '');
    if (!m || m[4] !== path) return undefined;
    return { mode: m[1] ?? '', type: m[2] as TreeEntry['type'], oid: m[3] ?? '', path };
  }

  async blob(oid: string): Promise<Buffer> {
    return (await runGit(['cat-file', 'blob', oid], { cwd: this.bare })).stdout;
  }

  async tree(oid: string, recursive: boolean): Promise<TreeEntry[]> {
    const args = ['ls-tree', '-z', '--full-tree', ...(recursive ? ['-r', '-t'] : []), oid];
    const out = await git(args, { cwd: this.bare });
    return out
      .split('\0')
      .filter(Boolean)
      .flatMap((line) => {
        const m = /^(\d+) (\w+) ([0-9a-f]+)\t(.*)$/s.exec(line);
        return m ? [{ mode: m[1] ?? '', type: m[2] as TreeEntry['type'], oid: m[3] ?? '', path: m[4] ?? '' }] : [];
      });
  }

  async commitInfo(oid: string): Promise<{ message: string; tree: string; parents: string[]; author: string; date: string }> {
    const out = await git(['show', '-s', '--format=%T%n%P%n%an%n%aI%n%B', oid], { cwd: this.bare });
    const [tree = '', parents = '', author = '', date = '', ...rest] = out.split('\n');
    return { tree, parents: parents.split(' ').filter(Boolean), author, date, message: rest.join('\n') };
  }

  /** Commits reachable from `branch`, newest first (as `GET /repos/{o}/{r}/commits?sha=` lists them). */
  async log(branch: string, skip: number, limit: number): Promise<{ sha: string; message: string; author: string; date: string; parents: string[] }[]> {
    const r = await runGit(['log', `--skip=${skip}`, `--max-count=${limit}`, '-z', '--format=%H%n%P%n%an%n%aI%n%B', `refs/heads/${branch}`], { cwd: this.bare });
    if (r.code !== 0) return [];
    return r.stdout
      .toString('utf8')
      .split('\0')
      .filter((x) => x.trim() !== '')
      .map((entry) => {
        const [sha = '', parents = '', author = '', date = '', ...rest] = entry.replace(/^\n/, '').split('\n');
        return { sha, parents: parents.split(' ').filter(Boolean), author, date, message: rest.join('\n') };
      });
  }

  /** The full id of a commit named by a (possibly abbreviated) sha, or undefined. */
  async resolveCommit(sha: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{7,40}$/.test(sha)) return undefined;
    const r = await runGit(['rev-parse', '--verify', '--quiet', `${sha}^{commit}`], { cwd: this.bare });
    return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
  }

  /** A merge commit of `head` into `base` (no conflicts expected), moving `base`; returns its id. */
  async merge(base: string, head: string, message: string): Promise<string> {
    return this.serialize(async () => {
      const baseOid = await this.refHead(base);
      const headOid = await this.refHead(head);
      if (!baseOid || !headOid) throw new MissingPath(!baseOid ? base : head);
      const tree = (await git(['merge-tree', '--write-tree', baseOid, headOid], { cwd: this.bare })).split('\n')[0]?.trim() ?? '';
      const env = { GIT_AUTHOR_NAME: 'GitHub', GIT_AUTHOR_EMAIL: 'noreply@github.com', GIT_COMMITTER_NAME: 'GitHub', GIT_COMMITTER_EMAIL: 'noreply@github.com' };
      const oid = (await git(['commit-tree', tree, '-p', baseOid, '-p', headOid, '-F', '-'], { cwd: this.bare, env, input: message })).trim();
      const r = await runGit(['update-ref', `refs/heads/${base}`, oid, baseOid], { cwd: this.bare });
      if (r.code !== 0) throw new CommitConflict((await this.refHead(base)) ?? '');
      return oid;
    });

  }

  /** Commits reachable from `ref` that touched `path` (all when absent), newest first: `GET /commits?sha=&path=`. */
  async logTouching(ref: string, path: string | undefined, limit: number): Promise<string[]> {
    const r = await runGit(['--literal-pathspecs', 'log', `-${limit}`, '--format=%H', ref, '--', ...(path ? [path] : [])], { cwd: this.bare });
    return r.code === 0 ? r.stdout.toString('utf8').split('\n').filter((l) => l !== '') : [];
  }

  async isAncestor(ancestor: string, of: string): Promise<boolean> {
    return (await runGit(['merge-base', '--is-ancestor', ancestor, of], { cwd: this.bare })).code === 0;
  }

  /** Create `refs/heads/<branch>` at `oid` only if it does not exist. */
  async createBranch(branch: string, oid: string): Promise<boolean> {
    return this.serialize(async () => {
      const r = await runGit(['update-ref', `refs/heads/${branch}`, oid, ''], { cwd: this.bare });
      return r.code === 0;
    });
  }

  /** `DELETE /git/refs`: remove a branch; false when it does not exist. */
  async deleteBranch(branch: string): Promise<boolean> {
    return this.serialize(async () => {
      const head = await this.refHead(branch);
      if (!head) return false;
      return (await runGit(['update-ref', '-d', `refs/heads/${branch}`, head], { cwd: this.bare })).code === 0;
    });
  }

  /**
   * `PATCH /git/refs`: move an existing branch to `oid` — a fast-forward, or anything with `force`.
   * 'missing' when the branch does not exist, 'not-fast-forward' when refused.
   */
  async moveBranch(branch: string, oid: string, force: boolean): Promise<'moved' | 'missing' | 'not-fast-forward'> {
    return this.serialize(async () => {
      const head = await this.refHead(branch);
      if (!head) return 'missing';
      if (!force && !(await this.isAncestor(head, oid))) return 'not-fast-forward';
      const r = await runGit(['update-ref', `refs/heads/${branch}`, oid, head], { cwd: this.bare });
      return r.code === 0 ? 'moved' : 'not-fast-forward';
    });
  }

  /**
   * `updateRefs`: every update applied or none (one `git update-ref --stdin` transaction). `before`
   * is the head a branch must have now (`null`: it must not exist; undefined: not checked), `after`
   * its new head (`null`: delete it). Without `force` only fast-forwards are allowed.
   */
  async updateRefs(updates: { branch: string; before?: string | null; after: string | null; force: boolean }[]): Promise<{ ok: true } | { ok: false; reason: string }> {
    return this.serialize(async () => {
      const lines: string[] = [];
      for (const u of updates) {
        const head = await this.refHead(u.branch);
        if (u.before !== undefined && (head ?? null) !== u.before) {
          return { ok: false, reason: `refs/heads/${u.branch} is at ${head ?? 'nothing'}, not at ${u.before ?? 'nothing'} as expected` } as const;
        }
        if (u.after !== null && (await this.objectType(u.after)) !== 'commit') return { ok: false, reason: `Object ${u.after} does not exist` } as const;
        if (u.after !== null && head && !u.force && !(await this.isAncestor(head, u.after))) return { ok: false, reason: `refs/heads/${u.branch}: update is not a fast forward` } as const;
        if (u.after === null && !head) return { ok: false, reason: `refs/heads/${u.branch} does not exist` } as const;
        lines.push(u.after === null ? `delete refs/heads/${u.branch} ${head ?? ''}` : `update refs/heads/${u.branch} ${u.after} ${head ?? '0'.repeat(40)}`);
      }
      const r = await runGit(['update-ref', '--stdin'], { cwd: this.bare, input: lines.map((l) => `${l}\n`).join('') });
      return r.code === 0 ? ({ ok: true } as const) : ({ ok: false, reason: 'a reference was updated concurrently' } as const);
    });
  }

  /**
   * One commit on `branch` whose parent must be `expected` (compare-and-swap on the ref),
   * as createCommitOnBranch does. Throws CommitConflict when the branch moved, MissingPath
   * when a deletion names a path that does not exist.
   */
  async commit(branch: string, expected: string, changes: StoreChange[], message: string, author: { name: string; email: string }): Promise<string> {
    return this.serialize(async () => {
      const head = await this.refHead(branch);
      if (head !== expected) throw new CommitConflict(head ?? '');
      const scratch = await mkdtemp(join(tmpdir(), 'gh-emu-index-'));
      const env = {
        GIT_INDEX_FILE: join(scratch, 'index'),
        GIT_AUTHOR_NAME: author.name,
        GIT_AUTHOR_EMAIL: author.email,
        GIT_COMMITTER_NAME: 'GitHub',
        GIT_COMMITTER_EMAIL: 'noreply@github.com',
      };
      try {
        await git(['read-tree', expected], { cwd: this.bare, env });
        const lines: string[] = [];
        for (const c of changes) {
          if (c.type === 'delete') {
            const existing = await this.entry(expected, c.path);
            if (!existing) throw new MissingPath(c.path);
            lines.push(`0 ${'0'.repeat(40)}\t${c.path}`);
          } else {
            const oid = (await git(['hash-object', '-w', '--stdin'], { cwd: this.bare, input: c.contents })).trim();
            const existing = await this.entry(expected, c.path);
            lines.push(`${existing?.mode === '100755' ? '100755' : '100644'} ${oid}\t${c.path}`);
          }
        }
        await git(['update-index', '-z', '--index-info'], { cwd: this.bare, env, input: lines.map((l) => `${l}\0`).join('') });
        const tree = (await git(['write-tree'], { cwd: this.bare, env })).trim();
        const oid = (await git(['commit-tree', tree, '-p', expected, '-F', '-'], { cwd: this.bare, env, input: message })).trim();
        const r = await runGit(['update-ref', `refs/heads/${branch}`, oid, expected], { cwd: this.bare });
        if (r.code !== 0) throw new CommitConflict((await this.refHead(branch)) ?? '');
        return oid;
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
  }
}
