/**
 * A stateful GitLab emulator: the REST v4 and GraphQL endpoints Baton's GitLab adapter uses, over real
 * bare git repositories, answering with GitLab's status codes and messages where GitLab refuses.
 * It counts requests (for the bench), injects failures and enforces a rate limit on demand.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runGit } from '../../../src/forges/git/run-git.js';
import { createBareRepo } from '../../helpers/git-repo.js';
import type { TestRepo } from '../../helpers/git-repo.js';
import type { CommitAction } from './git-store.js';
import { ApiError, GitStore, validFilePath } from './git-store.js';
import { executeGraphql } from './graphql.js';
import { seededRandom } from '../seeded-random.js';

export const NOTE_LIMIT = 1_000_000;

interface Note {
  id: number;
  body: string;
  author: string;
  system: boolean;
  createdAt: number;
  emoji: { name: string; user: string }[];
}

interface MergeRequest {
  iid: number;
  id: number;
  title: string;
  description: string;
  source_branch: string;
  target_branch: string;
  state: 'opened' | 'closed' | 'merged';
  author: string;
  merge_commit_sha?: string;
  notes: Note[];
  emoji: { name: string; user: string }[];
  labels?: string[];
  /** ISO time; GitLab bumps it on every change. */
  updated_at?: string;
  /** A fork's MR: the source project's id and head commit (the branch lives in the fork). */
  fork?: { projectId: number; sha: string };
  /** The head commit when the source branch itself is not emulated (same project). */
  headSha?: string;
}

/** A pipeline of a commit (GitLab CI). */
export interface Pipeline {
  id: number;
  sha: string;
  ref: string;
  status: 'created' | 'pending' | 'running' | 'success' | 'failed' | 'canceled' | 'skipped' | 'manual';
}

interface Status {
  id: number;
  sha: string;
  name: string;
  status: string;
  description: string;
  target_url: string | null;
}

export interface EmulatedProject {
  id: number;
  path: string;
  defaultBranch: string;
  repo: TestRepo;
  store: GitStore;
  mergeRequests: MergeRequest[];
  /** Current statuses, one per job as GitLab keeps them (a pending one moves on to its final state). */
  statuses: Status[];
  /** Every status POST GitLab accepted, oldest first. */
  statusLog: Status[];
  pipelines: Pipeline[];
  /** username → access level (10 Guest … 50 Owner). */
  members: Map<string, number>;
}

export interface RequestRecord {
  method: string;
  /** Path with the project id replaced by `:id`, e.g. `POST /projects/:id/repository/commits`. */
  route: string;
  status: number;
}


/** GitLab (Ruby) measures note length in characters, not UTF-16 units. */
function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

const STATUS_EVENT: Record<string, string> = { pending: 'enqueue', running: 'run', success: 'success', failed: 'drop', canceled: 'cancel' };

export interface GitlabEmulatorOptions {
  /** The token the adapter must send as `PRIVATE-TOKEN` (or `Authorization: Bearer`). */
  token?: string;
  /** Username of the token's user: the author of notes and emoji the adapter creates. */
  botUsername?: string;
}

export class GitlabEmulator {
  readonly token: string;
  readonly botUsername: string;
  url = '';
  readonly requests: RequestRecord[] = [];
  /** Exceptions behind 500 answers the emulator did not mean to give: a test can assert there were none. */
  readonly errors: Error[] = [];
  private readonly projects = new Map<string, EmulatedProject>();
  private readonly users = new Map<string, number>();
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private nextId = 1000;
  private failures: { remaining: number; status: number } = { remaining: 0, status: 502 };
  private hanging = 0;
  private randomFailure: { fraction: number; next: () => number; status: number } | undefined;
  private lostResponses: { fraction: number; next: () => number } | undefined;
  private rate: { limit: number; windowMs: number; used: number; windowStart: number } | undefined;
  private maxComplexity: number | undefined;
  /** GraphQL documents GitLab would have refused (invalid for its schema, or over its complexity limit). */
  readonly graphqlRefusals: { query: string; reason: string }[] = [];
  /** The complexity score of every GraphQL document served, in order. */
  readonly graphqlScores: number[] = [];

  constructor(options: GitlabEmulatorOptions = {}) {
    this.token = options.token ?? 'glpat-emulator-token';
    this.botUsername = options.botUsername ?? 'baton-bot';
    this.users.set(this.botUsername, this.nextId++);
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const p of this.projects.values()) await p.repo.cleanup();
  }

  async addProject(path: string, seed: Record<string, string>, defaultBranch = 'main'): Promise<EmulatedProject> {
    const repo = await createBareRepo(seed, defaultBranch);
    const project: EmulatedProject = {
      id: this.nextId++,
      path,
      defaultBranch,
      repo,
      store: new GitStore(repo.bare, { name: 'GitLab Emulator', email: 'noreply@gitlab.example' }),
      mergeRequests: [],
      statuses: [],
      statusLog: [],
      pipelines: [],
      members: new Map([[this.botUsername, 40]]),
    };
    this.projects.set(path, project);
    return project;
  }

  /**
   * Open an MR as `author` (outside the adapter), from a branch of the project or from a fork
   * (`fork`, or `forkProjectId` with `sha`); `sha` alone names a head the emulator does not hold.
   */
  openMergeRequest(path: string, mr: { source: string; target?: string; title: string; author: string; labels?: string[]; fork?: { projectId: number; sha: string }; sha?: string; forkProjectId?: number }): number {
    const p = this.project(path);
    const iid = p.mergeRequests.length + 1;
    const fork = mr.fork ?? (mr.forkProjectId !== undefined ? { projectId: mr.forkProjectId, sha: mr.sha ?? '0'.repeat(40) } : undefined);
    p.mergeRequests.push({
      iid,
      id: this.nextId++,
      title: mr.title,
      description: '',
      source_branch: mr.source,
      target_branch: mr.target ?? p.defaultBranch,
      state: 'opened',
      author: mr.author,
      notes: [],
      emoji: [],
      updated_at: new Date().toISOString(),
      ...(mr.labels && { labels: mr.labels }),
      ...(fork && { fork }),
      ...(!fork && mr.sha !== undefined && { headSha: mr.sha }),
    });
    return iid;
  }

  /** A pipeline for a commit, as GitLab CI records it: `(path, sha, status, ref?)` or `(path, {sha, ref, status})`. */
  addPipeline(path: string, shaOr: string | { sha: string; ref: string; status: string }, status?: Pipeline['status'], ref = 'feature'): number {
    const id = this.nextId++;
    const pipeline = typeof shaOr === 'string' ? { sha: shaOr, ref, status: status ?? 'success' } : shaOr;
    this.project(path).pipelines.push({ id, sha: pipeline.sha, ref: pipeline.ref, status: pipeline.status as Pipeline['status'] });
    return id;
  }

  project(path: string): EmulatedProject {
    const p = this.projects.get(path);
    if (!p) throw new Error(`no emulated project ${path}`);
    return p;
  }

  addMember(projectPath: string, username: string, accessLevel: number): void {
    if (!this.users.has(username)) this.users.set(username, this.nextId++);
    this.project(projectPath).members.set(username, accessLevel);
  }


  /** A note written by someone else (e.g. a user quoting Baton's marker). */
  addNote(projectPath: string, iid: number, author: string, body: string): number {
    const mr = this.project(projectPath).mergeRequests.find((m) => m.iid === iid);
    if (!mr) throw new Error(`no merge request !${iid}`);
    const id = this.nextId++;
    mr.notes.push({ id, body, author, system: false, createdAt: id, emoji: [] });
    return id;
  }

  /**
   * Merge an open MR as a person would in GitLab's UI: a squash commit (or merge commit) with the
   * source branch's changes on the target; the source branch is kept unless `deleteBranch`.
   */
  async mergeMergeRequest(projectPath: string, iid: number, options: { deleteBranch?: boolean } = {}): Promise<string> {
    const p = this.project(projectPath);
    const mr = p.mergeRequests.find((m) => m.iid === iid && m.state === 'opened');
    if (!mr) throw new Error(`no open merge request !${iid}`);
    const head = await p.repo.head(mr.source_branch);
    const changed = (await runGit(['diff', '--name-only', '-z', `refs/heads/${mr.target_branch}`, head], { cwd: p.repo.bare })).stdout.toString('utf8').split('\0').filter(Boolean);
    const files: Record<string, string | null> = {};
    for (const f of changed) {
      const shown = await runGit(['show', `${head}:${f}`], { cwd: p.repo.bare });
      files[f] = shown.code === 0 ? shown.stdout.toString('utf8') : null;
    }
    const merged = await p.repo.commit(files, `${mr.title}\n\nSee merge request !${iid}`, mr.target_branch);
    mr.state = 'merged';
    if (options.deleteBranch) await runGit(['update-ref', '-d', `refs/heads/${mr.source_branch}`], { cwd: p.repo.bare });
    return merged;
  }

  closeMergeRequest(projectPath: string, iid: number): void {
    const mr = this.project(projectPath).mergeRequests.find((m) => m.iid === iid);
    if (!mr) throw new Error(`no merge request !${iid}`);
    mr.state = 'closed';
  }

  /** The next `n` requests are accepted and never answered (a peer that hangs). */
  hangNext(n: number): void {
    this.hanging = n;
  }

  /** The next `n` requests fail with `status` (5xx by default). */
  failNext(n: number, status = 502): void {
    this.failures = { remaining: n, status };
  }

  /** Fail a seeded random `fraction` of requests from now on (0 turns it off). */
  failRandomly(fraction: number, seed: number, status = 500): void {
    this.randomFailure = fraction > 0 ? { fraction, next: seededRandom(seed), status } : undefined;
  }

  /**
   * Lose a seeded random `fraction` of answers to writes (POST/PUT): the change is made, the client
   * gets a 502, as when a proxy drops the response (0 turns it off).
   */
  loseResponses(fraction: number, seed: number): void {
    this.lostResponses = fraction > 0 ? { fraction, next: seededRandom(seed) } : undefined;
  }

  /** The complexity limit GraphQL queries are held to: GitLab's 250 for an authenticated request unless set. */
  graphqlComplexityLimit(limit: number | undefined): void {
    this.maxComplexity = limit;
  }

  /** At most `limit` requests per `windowMs`; beyond that, 429 with `Retry-After`. */
  rateLimit(limit: number, windowMs = 60_000): void {
    this.rate = { limit, windowMs, used: 0, windowStart: Date.now() };
  }

  resetCounts(): void {
    this.requests.length = 0;
  }

  /** Requests per route since the last reset, e.g. `{"GET /projects/:id/repository/branches/:branch": 1}`. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.requests) out[`${r.method} ${r.route}`] = (out[`${r.method} ${r.route}`] ?? 0) + 1;
    return out;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: RequestRecord = { method: req.method ?? 'GET', route: '?', status: 0 };
    this.requests.push(record);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      record.status = status;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...this.rateHeaders(), ...headers });
      res.end(text);
    };
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://emulator');
      const segments = url.pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
      record.route = this.routeName(segments);

      if (this.rate) {
        const now = Date.now();
        if (now - this.rate.windowStart >= this.rate.windowMs) Object.assign(this.rate, { used: 0, windowStart: now });
        this.rate.used += 1;
        if (this.rate.used > this.rate.limit) {
          const retryAfter = Math.max(1, Math.ceil((this.rate.windowStart + this.rate.windowMs - now) / 1000));
          return send(429, 'Retry later\n', { 'retry-after': String(retryAfter) });
        }
      }
      if (this.hanging > 0) {
        this.hanging -= 1;
        return; // accepted and never answered: the client's own timeout has to end it
      }
      if (this.failures.remaining > 0) {
        this.failures.remaining -= 1;
        return send(this.failures.status, { message: `${this.failures.status} Emulated failure` });
      }
      if (this.randomFailure && this.randomFailure.next() < this.randomFailure.fraction) return send(this.randomFailure.status, { message: `${this.randomFailure.status} Emulated failure` });

      const auth = req.headers['private-token'] ?? req.headers['authorization']?.replace(/^Bearer\s+/i, '');
      if (auth !== this.token) return send(401, { message: '401 Unauthorized' });

      let body: Record<string, unknown> = {};
      if (raw !== '') {
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          return send(400, { error: 'body is not valid JSON' });
        }
      }
      const [status, payload, headers] = await this.dispatch(req.method ?? 'GET', segments, url, body);
      const write = req.method === 'POST' || req.method === 'PUT';
      if (write && record.route !== '/graphql' && status < 300 && this.lostResponses && this.lostResponses.next() < this.lostResponses.fraction) return send(502, { message: '502 Bad Gateway' });
      send(status, payload, headers);
    } catch (e) {
      if (e instanceof ApiError) return send(e.status, e.body);
      this.errors.push(e as Error);
      if (process.env['GL_EMU_DEBUG']) console.error(e);
      send(500, { message: '500 Internal Server Error' });
    }
  }

  private award(emoji: { name: string; user: string }[], method: string, body: Record<string, unknown>): [number, unknown] {
    if (method === 'GET') return [200, emoji.map((e, i) => ({ id: i + 1, name: e.name, user: { username: e.user } }))];
    if (method !== 'POST') return [404, { error: '404 Not Found' }];
    const name = typeof body['name'] === 'string' ? body['name'] : '';
    if (!/^[a-z0-9_+-]{1,64}$/.test(name)) return [400, { error: 'name is invalid' }];
    if (emoji.some((e) => e.name === name && e.user === this.botUsername)) return [404, { message: '404 Award Emoji Name has already been taken Not Found' }];
    emoji.push({ name, user: this.botUsername });
    return [201, { id: emoji.length, name, user: { username: this.botUsername } }];
  }

  private rateHeaders(): Record<string, string> {
    if (!this.rate) return {};
    return {
      'ratelimit-limit': String(this.rate.limit),
      'ratelimit-observed': String(this.rate.used),
      'ratelimit-remaining': String(Math.max(0, this.rate.limit - this.rate.used)),
      'ratelimit-reset': String(Math.ceil((this.rate.windowStart + this.rate.windowMs) / 1000)),
    };
  }

  private routeName(segments: string[]): string {
    if (segments[0] === 'api' && segments[1] === 'graphql') return '/graphql';
    const rest = segments.slice(2);
    if (rest[0] === 'projects' && rest.length > 1) {
      const named = ['projects', ':id', ...rest.slice(2)];
      const generic = (seg: string, i: number): string => {
        if (i <= 2) return seg;
        if (/^[0-9a-f]{40}$/.test(seg)) return ':sha';
        if (/^\d+$/.test(seg)) return ':n';
        return named[i - 1] === 'branches' ? ':ref' : seg;
      };
      return '/' + named.map(generic).join('/');
    }
    return '/' + rest.map((s, i) => (i > 0 && /^\d+$/.test(s) ? ':n' : s)).join('/');
  }

  /** GitLab's offset pagination: `x-page`, `x-next-page` and a `Link: <…>; rel="next"` header (what gitbeaker follows). */
  private paginate<T>(items: T[], url: URL): [T[], Record<string, string>] {
    const query = url.searchParams;
    const perPage = Math.min(Math.max(Number(query.get('per_page') ?? 20) || 20, 1), 100);
    const page = Math.max(Number(query.get('page') ?? 1) || 1, 1);
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const headers: Record<string, string> = { 'x-page': String(page), 'x-per-page': String(perPage), 'x-next-page': '' };
    if (page * perPage < items.length) {
      headers['x-next-page'] = String(page + 1);
      const next = new URL(url.pathname + url.search, this.url);
      next.searchParams.set('page', String(page + 1));
      next.searchParams.set('per_page', String(perPage));
      headers['link'] = `<${next.href}>; rel="next"`;
    }
    return [slice, headers];
  }

  private async presentAll(p: EmulatedProject, list: MergeRequest[]): Promise<Record<string, unknown>[]> {
    return Promise.all(
      list.map(async (mr) => ({
        id: mr.id,
        iid: mr.iid,
        project_id: p.id,
        title: mr.title,
        source_branch: mr.source_branch,
        target_branch: mr.target_branch,
        source_project_id: mr.fork?.projectId ?? p.id,
        target_project_id: p.id,
        state: mr.state,
        author: { username: mr.author },
        labels: mr.labels ?? [],
        sha: mr.fork?.sha ?? mr.headSha ?? (await p.store.head(mr.source_branch)) ?? null,
        updated_at: mr.updated_at ?? new Date(0).toISOString(),
        web_url: `${this.url}/${p.path}/-/merge_requests/${mr.iid}`,
      })),
    );
  }

  private async dispatch(method: string, seg: string[], url: URL, body: Record<string, unknown>): Promise<[number, unknown, Record<string, string>?]> {
    const query = url.searchParams;
    if (seg[0] === 'api' && seg[1] === 'graphql' && method === 'POST') {
      const query = typeof body['query'] === 'string' ? body['query'] : '';
      const outcome = await executeGraphql(
        (fullPath) => {
          const p = this.projects.get(fullPath);
          return (
            p && {
              store: p.store,
              defaultBranch: p.defaultBranch,
              mergeRequests: () =>
                p.mergeRequests.map((m) => ({ iid: m.iid, state: m.state, title: m.title, description: m.description, webUrl: `${this.url}/${p.path}/-/merge_requests/${m.iid}`, sourceBranch: m.source_branch, targetBranch: m.target_branch })),
            }
          );
        },
        query,
        typeof body['variables'] === 'object' && body['variables'] !== null ? (body['variables'] as Record<string, unknown>) : undefined,
        { ...(this.maxComplexity !== undefined && { maxComplexity: this.maxComplexity }) },
      );
      if (outcome.complexity !== undefined) this.graphqlScores.push(outcome.complexity);
      if (outcome.refusal !== undefined) this.graphqlRefusals.push({ query, reason: outcome.refusal });
      // GitLab answers 200 with `errors` for invalid and over-complex documents alike.
      return [200, outcome.body];
    }
    if (seg[0] !== 'api' || seg[1] !== 'v4') return [404, { error: '404 Not Found' }];
    const s = seg.slice(2);
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

    if (s[0] === 'user' && s.length === 1 && method === 'GET') return [200, { id: this.users.get(this.botUsername), username: this.botUsername, state: 'active' }];
    if (s[0] === 'users' && s.length === 1 && method === 'GET') {
      const username = query.get('username') ?? '';
      const id = this.users.get(username);
      return [200, id === undefined ? [] : [{ id, username, state: 'active' }]];
    }
    if (s[0] !== 'projects' || s[1] === undefined) return [404, { error: '404 Not Found' }];
    const p = this.projects.get(s[1]);
    if (!p) return [404, { message: '404 Project Not Found' }];
    const r = s.slice(2);
    const webUrl = `${this.url}/${p.path}`;

    if (r.length === 0 && method === 'GET') return [200, { id: p.id, path_with_namespace: p.path, default_branch: p.defaultBranch, web_url: webUrl }];

    // Branches
    if (r[0] === 'repository' && r[1] === 'branches') {
      if (r.length === 3 && method === 'GET') {
        const sha = await p.store.head(r[2] ?? '');
        if (!sha) return [404, { message: '404 Branch Not Found' }];
        return [200, { name: r[2], commit: { id: sha }, default: r[2] === p.defaultBranch, protected: false }];
      }
      if (r.length === 2 && method === 'POST') {
        const branch = query.get('branch') ?? str(body['branch']);
        const ref = query.get('ref') ?? str(body['ref']);
        if (!branch) return [400, { error: 'branch is missing' }];
        if (!ref) return [400, { error: 'ref is missing' }];
        const sha = await p.store.createBranch(branch, ref);
        return [201, { name: branch, commit: { id: sha }, default: false, protected: false }];
      }
    }

    // Tree listing
    if (r[0] === 'repository' && r[1] === 'tree' && r.length === 2 && method === 'GET') {
      const ref = query.get('ref') ?? p.defaultBranch;
      const commit = await p.store.resolve(ref);
      if (!commit) return [404, { message: '404 Tree Not Found' }];
      const path = query.get('path') ?? undefined;
      const entries = await p.store.tree(commit, path, query.get('recursive') === 'true');
      if (path && entries.length === 0) return [404, { message: '404 Tree Not Found' }];
      const [page, headers] = this.paginate(entries, url);
      return [200, page, headers];
    }

    // Commits API
    if (r[0] === 'repository' && r[1] === 'commits' && r.length === 2 && method === 'POST') {
      const branch = str(body['branch']);
      const message = str(body['commit_message']);
      if (!branch) return [400, { error: 'branch is missing' }];
      if (!message) return [400, { error: 'commit_message is missing' }];
      if (body['start_branch'] !== undefined && body['start_sha'] !== undefined) return [400, { error: 'start_branch, start_sha are mutually exclusive' }];
      if (body['force'] !== undefined && typeof body['force'] !== 'boolean') return [400, { error: 'force is invalid' }];
      const startSha = str(body['start_sha']);
      if (startSha !== undefined && !/^[0-9a-f]{40}$/.test(startSha)) return [400, { error: 'start_sha is invalid' }];
      const rawActions = body['actions'];
      if (!Array.isArray(rawActions) || rawActions.length === 0) return [400, { error: 'actions is missing' }];
      const actions: CommitAction[] = [];
      for (const [i, a] of rawActions.entries()) {
        const o = (typeof a === 'object' && a !== null ? a : {}) as Record<string, unknown>;
        const action = str(o['action']) ?? '';
        if (!['create', 'update', 'delete', 'move', 'chmod'].includes(action)) return [400, { error: `actions[${i}][action] does not have a valid value` }];
        const filePath = str(o['file_path']) ?? '';
        if (!validFilePath(filePath)) return [400, { error: `actions[${i}][file_path] should be a valid file path` }];
        const content = str(o['content']);
        const encoding = str(o['encoding']);
        const last = str(o['last_commit_id']);
        actions.push({ action, file_path: filePath, ...(content !== undefined && { content }), ...(encoding && { encoding }), ...(last && { last_commit_id: last }) });
      }
      const author = { ...(str(body['author_name']) && { name: str(body['author_name']) }), ...(str(body['author_email']) && { email: str(body['author_email']) }) };
      // API::Commits: `start_branch ||= branch unless start_sha`; Commits::CreateService checks the rest.
      const from = { ...(startSha !== undefined ? { startSha } : { startBranch: str(body['start_branch']) ?? branch }), force: body['force'] === true, defaultBranch: p.defaultBranch };
      const { sha, parent } = await p.store.commit(branch, message, actions, author, from);
      return [201, { id: sha, short_id: sha.slice(0, 8), title: message.split('\n')[0], message, parent_ids: [parent], web_url: `${webUrl}/-/commit/${sha}` }];
    }

    // Commit statuses
    if (r[0] === 'statuses' && r.length === 2 && method === 'POST') {
      const sha = r[1] ?? '';
      if (!(await p.store.resolve(sha))) return [404, { message: '404 References for commit Not Found' }];
      const state = str(body['state']) ?? '';
      if (!STATUS_EVENT[state]) return [400, { error: 'state does not have a valid value' }];
      const name = str(body['name']) ?? str(body['context']) ?? 'default';
      // Like GitLab, only a running or pending status moves to the next state; a finished one is followed by a new entry.
      const open = p.statuses.find((x) => x.sha === sha && x.name === name && (x.status === 'pending' || x.status === 'running'));
      if (open && open.status === state) return [400, { message: `Cannot transition status via :${STATUS_EVENT[state]} from :${state}` }];
      const fields = { sha, name, status: state, description: str(body['description']) ?? '', target_url: str(body['target_url']) ?? null };
      if (open) {
        Object.assign(open, fields);
        p.statusLog.push({ ...open });
        return [201, open];
      }
      const status: Status = { id: this.nextId++, ...fields };
      p.statuses.push(status);
      p.statusLog.push({ ...status });
      return [201, status];
    }
    // One commit, by full or abbreviated sha (GET /projects/:id/repository/commits/:sha)
    if (r[0] === 'repository' && r[1] === 'commits' && r.length === 3 && method === 'GET') {
      const sha = await p.store.resolveSha(r[2] ?? '');
      if (!sha) return [404, { message: '404 Commit Not Found' }];
      const message = await p.store.message(sha);
      return [200, { id: sha, short_id: sha.slice(0, 8), title: message.split('\n')[0] ?? '', message, parent_ids: await p.store.parents(sha), web_url: `${webUrl}/-/commit/${sha}` }];
    }
    // With `path`: the commits that touched it (what rollback asks), newest first.
    if (r[0] === 'repository' && r[1] === 'commits' && r.length === 2 && method === 'GET' && query.get('path') !== null) {
      const ref = query.get('ref_name') ?? p.defaultBranch;
      const head = await p.store.resolve(ref);
      if (!head) return [404, { message: '404 Not Found' }];
      const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 20)));
      const path = query.get('path') ?? undefined;
      if (path !== undefined && !validFilePath(path)) return [400, { error: 'path is invalid' }];
      const shas = await p.store.logTouching(head, path, perPage);
      const out: Record<string, unknown>[] = [];
      for (const sha of shas) {
        const message = await p.store.message(sha);
        out.push({ id: sha, short_id: sha.slice(0, 8), title: message.split('\n')[0] ?? '', message, parent_ids: await p.store.parents(sha) });
      }
      return [200, out];
    }

    if (r[0] === 'repository' && r[1] === 'commits' && r.length === 2 && method === 'GET') {
      const ref = query.get('ref_name') ?? p.defaultBranch;
      if (!(await p.store.head(ref))) return [404, { message: '404 Commit Not Found' }];
      const perPage = Math.min(Math.max(Number(query.get('per_page') ?? 20) || 20, 1), 100);
      const page = Math.max(Number(query.get('page') ?? 1) || 1, 1);
      const list = await p.store.log(ref, (page - 1) * perPage, perPage + 1);
      const headers: Record<string, string> = { 'x-page': String(page), 'x-per-page': String(perPage), 'x-next-page': '' };
      if (list.length > perPage) {
        headers['x-next-page'] = String(page + 1);
        const next = new URL(url.pathname + url.search, this.url);
        next.searchParams.set('page', String(page + 1));
        headers['link'] = `<${next.href}>; rel="next"`;
      }
      const present = (c: { sha: string; message: string; parents: string[] }): Record<string, unknown> => ({
        id: c.sha,
        short_id: c.sha.slice(0, 8),
        title: c.message.split('\n')[0],
        message: c.message,
        parent_ids: c.parents,
        web_url: `${webUrl}/-/commit/${c.sha}`,
      });
      return [200, list.slice(0, perPage).map(present), headers];
    }
    // MRs a commit belongs to: merged by it, or open with it on the source branch (GitLab lists both);
    // a fork's head commit lives in the fork, recorded on the MR.
    if (r[0] === 'repository' && r[1] === 'commits' && r[3] === 'merge_requests' && r.length === 4 && method === 'GET') {
      const asked = r[2] ?? '';
      const sha = (await p.store.resolveSha(asked)) ?? (p.mergeRequests.some((m) => m.fork?.sha === asked) ? asked : undefined);
      if (!sha) return [404, { message: '404 Commit Not Found' }];
      const found: MergeRequest[] = [];
      for (const mr of p.mergeRequests) {
        if (mr.fork) {
          if (mr.fork.sha === sha) found.push(mr);
          continue;
        }
        const head = await p.store.head(mr.source_branch);
        const contains = head !== undefined && (head === sha || (await p.store.isAncestor(sha, head)));
        if (mr.merge_commit_sha === sha || (mr.state === 'opened' && contains)) found.push(mr);
      }
      const shown = await this.presentAll(p, found);
      return [200, shown.map((x, i) => ({ ...x, merge_commit_sha: found[i]?.merge_commit_sha ?? null, squash_commit_sha: null }))];
    }
    if (r[0] === 'repository' && r[1] === 'commits' && r[3] === 'statuses' && method === 'GET') {
      const name = query.get('name');
      // Newest first, as GitLab lists them.
      return [200, p.statuses.filter((x) => x.sha === r[2] && (!name || x.name === name)).reverse().map((x) => ({ ...x, allow_failure: false }))];
    }
    // Pipelines (GET /projects/:id/pipelines?sha=…), newest first by default (order_by=id, sort=desc)
    if (r[0] === 'pipelines' && r.length === 1 && method === 'GET') {
      const sha = query.get('sha');
      const ref = query.get('ref');
      const asc = query.get('sort') === 'asc';
      const list = p.pipelines.filter((x) => (!sha || x.sha === sha) && (!ref || x.ref === ref)).sort((a, b) => (asc ? a.id - b.id : b.id - a.id));
      const [page, headers] = this.paginate(list, url);
      return [200, page.map((x) => ({ id: x.id, iid: x.id, project_id: p.id, sha: x.sha, ref: x.ref, status: x.status, source: 'push', web_url: `${webUrl}/-/pipelines/${x.id}` })), headers];
    }

    // Members
    if (r[0] === 'members' && r[1] === 'all' && r.length === 3 && method === 'GET') {
      const id = Number(r[2]);
      const username = [...this.users.entries()].find(([, uid]) => uid === id)?.[0];
      const level = username === undefined ? undefined : p.members.get(username);
      if (username === undefined || level === undefined) return [404, { message: '404 Not found' }];
      return [200, { id, username, access_level: level, state: 'active' }];
    }

    // Merge requests
    if (r[0] === 'merge_requests') {
      const present = async (mr: MergeRequest): Promise<Record<string, unknown>> => ({ ...(await this.presentAll(p, [mr]))[0], description: mr.description });
      if (r.length === 1 && method === 'GET') {
        let list = p.mergeRequests;
        const state = query.get('state');
        if (state && state !== 'all') list = list.filter((m) => m.state === state);
        const sb = query.get('source_branch');
        if (sb) list = list.filter((m) => m.source_branch === sb);
        const tb = query.get('target_branch');
        if (tb) list = list.filter((m) => m.target_branch === tb);
        const [page, headers] = this.paginate([...list].reverse(), url);
        return [200, await Promise.all(page.map(present)), headers];
      }
      if (r.length === 1 && method === 'POST') {
        const source = str(body['source_branch']);
        const target = str(body['target_branch']);
        const title = str(body['title']);
        if (!source || !target || !title) return [400, { error: 'source_branch, target_branch and title are required' }];
        if (!(await p.store.head(source))) return [400, { message: [`Source branch "${source}" does not exist`] }];
        if (!(await p.store.head(target))) return [400, { message: [`Target branch "${target}" does not exist`] }];
        const dup = p.mergeRequests.find((m) => m.state === 'opened' && m.source_branch === source && m.target_branch === target);
        if (dup) return [409, { message: [`Another open merge request already exists for this source branch: !${dup.iid}`] }];
        const mr: MergeRequest = { iid: p.mergeRequests.length + 1, id: this.nextId++, title, description: str(body['description']) ?? '', source_branch: source, target_branch: target, state: 'opened', author: this.botUsername, notes: [], emoji: [] };
        p.mergeRequests.push(mr);
        return [201, await present(mr)];
      }
      const mr = p.mergeRequests.find((m) => m.iid === Number(r[1]));
      if (!mr) return [404, { message: '404 Not found' }];
      if (r.length === 2 && method === 'GET') return [200, await present(mr)];
      if (r.length === 2 && method === 'PUT') {
        if (str(body['title']) !== undefined) mr.title = str(body['title']) ?? mr.title;
        if (str(body['description']) !== undefined) mr.description = str(body['description']) ?? mr.description;
        if (body['state_event'] === 'close') mr.state = 'closed';
        return [200, await present(mr)];
      }
      if (r[2] === 'merge' && r.length === 3 && method === 'PUT') {
        if (mr.state !== 'opened') return [405, { message: '405 Method Not Allowed' }];
        const sha = await p.store.merge(mr.target_branch, mr.source_branch, `Merge branch '${mr.source_branch}' into '${mr.target_branch}'\n\n${mr.title}\n\nSee merge request ${p.path}!${mr.iid}`);
        mr.state = 'merged';
        mr.merge_commit_sha = sha;
        return [200, { ...present(mr), merge_commit_sha: sha }];
      }
      if (r[2] === 'award_emoji' && r.length === 3) return this.award(mr.emoji, method, body);
      if (r[2] === 'notes') {
        const presentNote = (n: Note): Record<string, unknown> => ({ id: n.id, body: n.body, author: { username: n.author }, system: n.system, noteable_type: 'MergeRequest', noteable_iid: mr.iid });
        if (r.length === 3 && method === 'GET') {
          // GitLab lists notes newest first unless told otherwise.
          const asc = query.get('sort') === 'asc';
          const sorted = [...mr.notes].sort((a, b) => (asc ? a.createdAt - b.createdAt : b.createdAt - a.createdAt));
          const [page, headers] = this.paginate(sorted, url);
          return [200, page.map(presentNote), headers];
        }
        const text = str(body['body']);
        if (r.length === 3 && method === 'POST') {
          if (!text) return [400, { error: 'body is missing' }];
          if (charCount(text) > NOTE_LIMIT) return [400, { message: { note: [`is too long (maximum is ${NOTE_LIMIT} characters)`] } }];
          const note: Note = { id: this.nextId++, body: text, author: this.botUsername, system: false, createdAt: this.nextId, emoji: [] };
          mr.notes.push(note);
          return [201, presentNote(note)];
        }
        const note = mr.notes.find((n) => n.id === Number(r[3]));
        if (!note) return [404, { message: '404 Note Not Found' }];
        if (r.length === 4 && method === 'PUT') {
          if (note.author !== this.botUsername) return [403, { message: '403 Forbidden' }];
          if (!text) return [400, { error: 'body is missing' }];
          if (charCount(text) > NOTE_LIMIT) return [400, { message: { note: [`is too long (maximum is ${NOTE_LIMIT} characters)`] } }];
          note.body = text;
          return [200, presentNote(note)];
        }
        if (r[4] === 'award_emoji' && r.length === 5) return this.award(note.emoji, method, body);
      }
    }
    return [404, { error: '404 Not Found' }];
  }
}

export async function startGitlabEmulator(options?: GitlabEmulatorOptions): Promise<GitlabEmulator> {
  const emu = new GitlabEmulator(options);
  await emu.start();
  return emu;
}
