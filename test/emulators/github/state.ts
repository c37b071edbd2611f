/** What the GitHub emulator remembers besides git objects: pulls, comments, reactions, statuses, people. */

import type { TestRepo } from '../../helpers/git-repo.js';
import { GitStore } from './git-store.js';

export type EmuRole = 'admin' | 'maintain' | 'write' | 'triage' | 'read';

export interface EmuPull {
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  state: 'open' | 'closed';
  user: string;
  createdAt: string;
  /** Set when the pull request was merged (it is then also `closed`). */
  mergedAt?: string;
  /** Set when merged: the commit the merge created on the base branch. */
  mergeCommitSha?: string;
  updatedAt?: string;
  labels?: string[];
  /** A fork's head: its full name and commit (the branch lives in the fork, not here). */
  fork?: { fullName: string; sha: string };
  /** The head commit when the head branch itself is not emulated (same repository). */
  headSha?: string;
}

/** A check run (GitHub Actions job, Checks app) on a commit. */
export interface EmuCheckRun {
  id: number;
  sha: string;
  name: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: 'success' | 'failure' | 'neutral' | 'cancelled' | 'skipped' | 'timed_out' | 'action_required' | null;
}

export interface EmuComment {
  id: number;
  issueNumber: number;
  body: string;
  user: string;
  createdAt: string;
  updatedAt: string;
}

export interface EmuReaction {
  id: number;
  subject: { kind: 'comment'; id: number } | { kind: 'issue'; number: number };
  content: string;
  user: string;
}

export interface EmuStatus {
  id: number;
  sha: string;
  state: string;
  context: string;
  description: string | null;
  targetUrl: string | null;
  creator: string;
  createdAt: string;
}

export interface EmuRepo {
  id: number;
  owner: string;
  name: string;
  defaultBranch: string;
  git: GitStore;
  testRepo: TestRepo;
  /** Issue and pull numbers share one counter, as on GitHub. */
  nextNumber: number;
  pulls: EmuPull[];
  comments: EmuComment[];
  reactions: EmuReaction[];
  statuses: EmuStatus[];
  checkRuns: EmuCheckRun[];
  collaborators: Map<string, EmuRole>;
  installationId: number;
  /** Blobs above this many bytes come back from GraphQL with `isTruncated` (GitHub does the same for large files). */
  blobTextLimit: number;
}

export class EmulatorState {
  readonly repos = new Map<string, EmuRepo>();
  /** Known accounts: a role check on anyone else is a 404, as for a login that does not exist. */
  readonly users = new Set<string>();
  readonly tokens = new Map<string, string>();
  /** `<slug>[bot]` when the emulator plays a GitHub App: it may write to every repo it is installed on. */
  appLogin: string | undefined;
  private nextId = 1000;

  roleOf(repo: EmuRepo, login: string): EmuRole | undefined {
    return repo.collaborators.get(login) ?? (login === this.appLogin ? 'write' : undefined);
  }

  canWrite(repo: EmuRepo, login: string): boolean {
    const role = this.roleOf(repo, login);
    return role === 'admin' || role === 'maintain' || role === 'write';
  }

  id(): number {
    return this.nextId++;
  }

  addRepo(fullName: string, testRepo: TestRepo, defaultBranch: string): EmuRepo {
    const [owner = '', name = ''] = fullName.split('/');
    const repo: EmuRepo = {
      id: this.id(),
      owner,
      name,
      defaultBranch,
      git: new GitStore(testRepo.bare),
      testRepo,
      nextNumber: 1,
      pulls: [],
      comments: [],
      reactions: [],
      statuses: [],
      checkRuns: [],
      collaborators: new Map(),
      installationId: this.id(),
      blobTextLimit: 512 * 1024,
    };
    this.repos.set(fullName.toLowerCase(), repo);
    this.users.add(owner);
    return repo;
  }

  repo(owner: string, name: string): EmuRepo | undefined {
    return this.repos.get(`${owner}/${name}`.toLowerCase());
  }
}
