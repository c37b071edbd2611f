/**
 * The emulator's repositories: real git objects in a bare repository, changed with plumbing so every
 * commit the adapter makes is a real commit that `git log` in the test can inspect.
 */

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { git, runGit } from '../../../src/forges/git/run-git.js';
import { tempDir } from '../../helpers/git-repo.js';
import { Mutex } from '../../../src/forges/mutex.js';

/** A GitLab API refusal: status and the JSON body GitLab answers with. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(JSON.stringify(body));
  }
}

export interface CommitAction {
  action: string;
  file_path: string;
  content?: string;
  encoding?: string;
  last_commit_id?: string;
}


/** GitLab's API `file_path` validator: no traversal, no absolute paths, no control characters. */
export function validFilePath(p: string): boolean {
  return p.length > 0 && p.length <= 4096 && !p.startsWith('/') && !/[\0\n\r]/.test(p) && !p.split('/').some((s) => s === '..' || s === '.' || s === '');
}

export class GitStore {
  /** Serializes ref updates on one repository, as Gitaly does per repository. */
  private readonly lock = new Mutex();

  constructor(
    readonly bare: string,
    private readonly author: { name: string; email: string },
  ) {}

  private run(args: string[], input?: string | Buffer, env?: Record<string, string>): Promise<string> {
    return git(args, { cwd: this.bare, ...(input !== undefined && { input }), ...(env && { env }) });
  }

  async validBranchName(name: string): Promise<boolean> {
    if (name.startsWith('-') || name.length > 255) return false;
    return (await runGit(['check-ref-format', '--branch', name])).code === 0;
  }

  async head(branch: string): Promise<string | undefined> {
    if (!(await this.validBranchName(branch))) return undefined;
    const r = await runGit(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], { cwd: this.bare });
    return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
  }

  /** A branch name or a commit sha, as GitLab's `ref` parameters accept. */
  async resolve(ref: string): Promise<string | undefined> {
    if (/^[0-9a-f]{40}$/.test(ref)) {
      const r = await runGit(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: this.bare });
      return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
    }
    return this.head(ref);
  }

  async branches(): Promise<string[]> {
    const out = await this.run(['for-each-ref', '--format=%(refname:short)', 'refs/heads/']);
    return out.split('\n').filter((l) => l !== '');
  }

  /** Blob at `commit:path`, or undefined when the path is absent or not a file. */
  async blob(commit: string, path: string): Promise<{ oid: string; content: Buffer } | undefined> {
    if (!validFilePath(path)) return undefined;
    const t = await runGit(['cat-file', '-t', `${commit}:${path}`], { cwd: this.bare });
    if (t.code !== 0 || t.stdout.toString('utf8').trim() !== 'blob') return undefined;
    const oid = (await this.run(['rev-parse', `${commit}:${path}`])).trim();
    const content = (await runGit(['cat-file', 'blob', oid], { cwd: this.bare })).stdout;
    return { oid, content };
  }

  /** `Gitlab::Git::Commit.last_for_path`: the newest commit reachable from `ref` that touched `path`. */
  async lastCommitFor(ref: string, path: string): Promise<string | undefined> {
    const out = (await this.run(['--literal-pathspecs', 'log', '-1', '--format=%H', ref, '--', path])).trim();
    return out === '' ? undefined : out;
  }

  /** Entries under `path` (`ls-tree -t`: trees and blobs), like `GET /repository/tree`. */
  async tree(commit: string, path: string | undefined, recursive: boolean): Promise<{ id: string; name: string; type: string; path: string; mode: string }[]> {
    const prefix = path ? path.replace(/\/+$/, '') : '';
    const args = ['ls-tree', '-z', ...(recursive ? ['-r', '-t'] : []), prefix ? `${commit}:${prefix}` : commit];
    const r = await runGit(args, { cwd: this.bare });
    if (r.code !== 0) return [];
    return r.stdout
      .toString('utf8')
      .split('\0')
      .filter((l) => l !== '')
      .map((line) => {
        const [meta = '', name = ''] = line.split('\t');
        const [mode = '', type = '', id = ''] = meta.split(' ');
        const full = prefix ? `${prefix}/${name}` : name;
        return { id, name: full.split('/').pop() ?? full, type, path: full, mode };
      });
  }

  /** Commits reachable from `ref` that touched `path` (all when absent), newest first. */
  async logTouching(ref: string, path: string | undefined, limit: number): Promise<string[]> {
    const out = await this.run(['--literal-pathspecs', 'log', `-${limit}`, '--format=%H', ref, '--', ...(path ? [path] : [])]);
    return out.split('\n').filter((l) => l !== '');
  }

  async message(commit: string): Promise<string> {
    return this.run(['log', '-1', '--format=%B', commit]);
  }

  /** `GET /repository/commits?ref_name=`: commits reachable from the branch, newest first. */
  async log(branch: string, skip: number, limit: number): Promise<{ sha: string; message: string; parents: string[] }[]> {
    const head = await this.head(branch);
    if (!head) return [];
    const out = await this.run(['log', `--skip=${skip}`, `--max-count=${limit}`, '-z', '--format=%H%n%P%n%B', head]);
    return out
      .split('\0')
      .filter((x) => x.trim() !== '')
      .map((entry) => {
        const [sha = '', parents = '', ...rest] = entry.replace(/^\n/, '').split('\n');
        return { sha, parents: parents.split(' ').filter(Boolean), message: rest.join('\n') };
      });
  }

  /** A full sha for a full or abbreviated one. */
  async resolveSha(sha: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{7,40}$/.test(sha)) return undefined;
    const r = await runGit(['rev-parse', '--verify', '--quiet', `${sha}^{commit}`], { cwd: this.bare });
    return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
  }

  async isAncestor(ancestor: string, of: string): Promise<boolean> {
    return (await runGit(['merge-base', '--is-ancestor', ancestor, of], { cwd: this.bare })).code === 0;
  }

  /** `PUT /merge_requests/:iid/merge` with a merge commit: `target` moves to a commit with both heads as parents. */
  async merge(target: string, source: string, message: string): Promise<string> {
    return this.lock.run(async () => {
      const base = await this.head(target);
      const head = await this.head(source);
      if (!base || !head) throw new ApiError(405, { message: 'Method Not Allowed' });
      const tree = (await this.run(['merge-tree', '--write-tree', base, head])).split('\n')[0]?.trim() ?? '';
      const env = { GIT_AUTHOR_NAME: this.author.name, GIT_AUTHOR_EMAIL: this.author.email, GIT_COMMITTER_NAME: this.author.name, GIT_COMMITTER_EMAIL: this.author.email };
      const oid = (await this.run(['commit-tree', tree, '-p', base, '-p', head, '-F', '-'], message, env)).trim();
      await this.run(['update-ref', `refs/heads/${target}`, oid, base]);
      return oid;
    });
  }

  async parents(commit: string): Promise<string[]> {
    return (await this.run(['log', '-1', '--format=%P', commit])).trim().split(' ').filter((p) => p !== '');
  }

  async createBranch(name: string, ref: string): Promise<string> {
    return this.lock.run(async () => {
      if (!(await this.validBranchName(name))) throw new ApiError(400, { message: 'Branch name is invalid' });
      if (await this.head(name)) throw new ApiError(400, { message: 'Branch already exists' });
      const sha = await this.resolve(ref);
      if (!sha) throw new ApiError(400, { message: `Invalid reference name: ${ref}` });
      await this.run(['update-ref', `refs/heads/${name}`, sha, '0'.repeat(40)]);
      return sha;
    });
  }

  /**
   * `POST /repository/commits`: the checks GitLab's Commits::CreateService, Files::MultiService and
   * Gitaly's UserCommitFiles make, in their order and with their messages, then one commit.
   * - `startSha` (without `startBranch`) or a `startBranch` other than `branch` makes it a "different
   *   branch": the commit's parent is the start, and an existing `branch` is refused unless `force`,
   *   which then moves it to the new commit whatever it pointed at.
   * - otherwise the parent is the branch head (the branch must exist: "… when you are on a branch").
   * - `last_commit_id` (update, move, delete): refused when the path's last commit as of the start
   *   branch differs from its last commit as of `last_commit_id` (Files::BaseService#file_has_changed?
   *   since GitLab 16); passed when either has none (an unknown commit included). With `startSha` the
   *   start branch is unset and GitLab's log falls back to the default branch, which is modelled too.
   */
  async commit(
    branch: string,
    message: string,
    actions: CommitAction[],
    author?: { name?: string; email?: string },
    from: { startBranch?: string; startSha?: string; force?: boolean; defaultBranch?: string } = {},
  ): Promise<{ sha: string; parent: string }> {
    return this.lock.run(async () => {
      const current = await this.head(branch);
      const startBranch = from.startSha === undefined ? (from.startBranch ?? branch) : undefined;
      if (from.startSha !== undefined && !(await this.resolve(from.startSha))) throw new ApiError(400, { message: `Cannot find start_sha '${from.startSha}'` });
      const startHead = startBranch === undefined ? undefined : await this.head(startBranch);
      if (startBranch !== undefined && !startHead) throw new ApiError(400, { message: 'You can only create or edit files when you are on a branch' });
      const different = from.startSha !== undefined || startBranch !== branch;
      if (different && current && !from.force) throw new ApiError(400, { message: `A branch called '${branch}' already exists. Switch to that branch in order to make changes` });
      if (different && !(await this.validBranchName(branch))) throw new ApiError(400, { message: `Something went wrong when we tried to create '${branch}' for you: Branch name is invalid` });
      const head = from.startSha ?? startHead;
      if (!head) throw new ApiError(400, { message: 'You can only create or edit files when you are on a branch' });
      const guardRef = startBranch ?? from.defaultBranch ?? branch;
      for (const a of actions) {
        if (['update', 'move', 'delete'].includes(a.action) && a.last_commit_id) {
          const onBranch = (await this.resolve(guardRef)) ? await this.lastCommitFor(guardRef, a.file_path) : undefined;
          const asOf = /^[0-9a-f]{40}$/.test(a.last_commit_id) && (await this.resolve(a.last_commit_id)) ? await this.lastCommitFor(a.last_commit_id, a.file_path) : undefined;
          if (onBranch && asOf && onBranch !== asOf) throw new ApiError(400, { message: `The file has changed since you started editing it: ${a.file_path}` });
        }
      }
      const index = join(await tempDir('gl-emu-index-'), 'index');
      const env = { GIT_INDEX_FILE: index };
      try {
        await this.run(['read-tree', head], undefined, env);
        for (const a of actions) {
          const exists = (await this.blob(head, a.file_path)) !== undefined;
          if (a.action === 'create' || a.action === 'update') {
            if (a.action === 'create' && exists) throw new ApiError(400, { message: 'A file with this name already exists' });
            if (a.action === 'update' && !exists) throw new ApiError(400, { message: "A file with this name doesn't exist" });
            const bytes = a.encoding === 'base64' ? Buffer.from(a.content ?? '', 'base64') : Buffer.from(a.content ?? '', 'utf8');
            const oid = (await this.run(['hash-object', '-w', '--stdin'], bytes)).trim();
            await this.run(['update-index', '--add', '--cacheinfo', `100644,${oid},${a.file_path}`], undefined, env);
          } else if (a.action === 'delete') {
            if (!exists) throw new ApiError(400, { message: "A file with this name doesn't exist" });
            // `--force-remove` wants a work tree; a mode-0 `--index-info` line removes the entry without one.
            await this.run(['update-index', '--index-info'], `0 ${'0'.repeat(40)}\t${a.file_path}\n`, env);
          } else {
            throw new ApiError(400, { error: 'actions[action] does not have a valid value' });
          }
        }
        const tree = (await this.run(['write-tree'], undefined, env)).trim();
        const name = author?.name ?? this.author.name;
        const email = author?.email ?? this.author.email;
        const sha = (
          await this.run(['commit-tree', tree, '-p', head, '-F', '-'], message, {
            GIT_AUTHOR_NAME: name,
            GIT_AUTHOR_EMAIL: email,
            GIT_COMMITTER_NAME: this.author.name,
            GIT_COMMITTER_EMAIL: this.author.email,
          })
        ).trim();
        // Gitaly's ref update: from the head it started from, or (forced) from whatever the branch holds.
        await this.run(['update-ref', `refs/heads/${branch}`, sha, current ?? '0'.repeat(40)]);
        return { sha, parent: head };
      } finally {
        await rm(join(index, '..'), { recursive: true, force: true });
      }
    });
  }
}
