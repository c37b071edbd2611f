/**
 * A stateful GitHub double on 127.0.0.1: REST + GraphQL for exactly what Baton uses, over real git
 * objects. Every request is held to GitHub's own API description first; a request GitHub would not
 * accept is answered with an error and recorded in `violations`, so a test can fail on drift.
 */

import { createPublicKey, createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBareRepo } from '../../helpers/git-repo.js';
import { runGit } from '../../../src/forges/git/run-git.js';
import { runGraphql } from './graphql.js';
import { openApiValidator } from './openapi.js';
import type { MatchedRequest } from './openapi.js';
import { EmulatorState } from './state.js';
import type { EmuCheckRun, EmuComment, EmuPull, EmuRepo, EmuRole } from './state.js';
import { seededRandom } from '../seeded-random.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const COMMENT_LIMIT = 65_536;

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RequestRecord {
  method: string;
  path: string;
  /** `GET /repos/{owner}/{repo}` or `POST /graphql`. */
  route: string;
  status: number;
  faulted: boolean;
  /** Bytes of the request body plus the response body. */
  bytes: number;
  /** GraphQL requests: whether the document is a query or a mutation (a write). */
  graphql?: 'query' | 'mutation';
  /** GraphQL: the root fields asked for, e.g. `repository` or `createRef+createCommitOnBranch`. */
  operation?: string;
}


export interface FaultControls {
  /** The next `n` requests fail with `status` (5xx) before they are processed. */
  failNext(n: number, status?: number): void;
  /** A seeded fraction of requests fails with one of `statuses` (5xx, or 429/403 as secondary rate limits). */
  failRandomly(rate: number, seed: number, statuses?: number[]): void;
  /** The next `n` requests hit a secondary rate limit (`status` 403 or 429 with Retry-After). */
  rateLimitNext(n: number, options?: { status?: 403 | 429; retryAfterS?: number }): void;
  /** The next `n` GraphQL requests answer 200 with a `RATE_LIMITED` error, as GitHub's GraphQL limit does. */
  graphqlRateLimitNext(n: number): void;
  /** A seeded fraction of requests is carried out, then answered 502 as if the response was lost on the way. */
  loseResponses(rate: number, seed: number): void;
  /** Primary rate limit: `remaining` requests left in the window, which resets in `resetInS`. */
  setRateLimit(remaining: number, resetInS?: number): void;
  /** The next `n` requests are accepted and never answered (a peer that hangs). */
  hangNext(n: number): void;
  /** Play an older GitHub Enterprise Server whose GraphQL schema lacks these mutations (e.g. `updateRefs`). */
  withoutMutations(names: string[]): void;
  clear(): void;
}

export interface GitHubEmulator {
  url: string;
  state: EmulatorState;
  /** Requests GitHub's API description (or schema) would reject; a clean run leaves this empty. */
  violations: string[];
  requests: RequestRecord[];
  faults: FaultControls;
  createRepo(fullName: string, files: Record<string, string>, options?: { defaultBranch?: string }): Promise<EmuRepo>;
  /** A user account with a token; returns the token. */
  addUser(login: string, token?: string): string;
  grant(fullName: string, login: string, role: EmuRole): void;
  /** Play a GitHub App installed on every repo: returns its private key (PKCS#1 PEM, as GitHub issues). */
  enableApp(appId: number, slug: string): { privateKey: string };
  /** Open a pull request as `user` (outside the adapter). */
  openPull(fullName: string, pull: { head: string; base: string; title: string; body?: string; user: string; labels?: string[]; fork?: { fullName: string; sha: string }; headRepo?: string; headSha?: string }): number;
  /** A check run on a commit, as GitHub Actions reports a job (straight into state). */
  addCheckRun(fullName: string, shaOrRun: string | { sha: string; name: string; status: EmuCheckRun['status']; conclusion?: EmuCheckRun['conclusion'] }, run?: { name?: string; status?: EmuCheckRun['status']; conclusion?: EmuCheckRun['conclusion'] }): void;
  /**
   * Merge an open pull request as a person would in the web UI: a squash commit (or a merge commit)
   * on the base with the head's changes; the head branch is kept unless `deleteBranch`.
   */
  mergePull(fullName: string, number: number, options?: { method?: 'squash' | 'merge'; deleteBranch?: boolean }): Promise<string>;
  /** Close a pull request without merging it. */
  closePull(fullName: string, number: number): void;
  /** Comment as someone else, straight into state (no HTTP): for pagination tests. */
  addComments(fullName: string, issueNumber: number, user: string, bodies: string[]): number[];
  resetCounts(): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, reply: Reply, rate: { limit: number; remaining: number; reset: number; resource: string }): number {
  const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'x-github-media-type': 'github.v3; format=json',
    'x-ratelimit-limit': String(rate.limit),
    'x-ratelimit-remaining': String(Math.max(0, rate.remaining)),
    'x-ratelimit-reset': String(rate.reset),
    'x-ratelimit-used': String(rate.limit - Math.max(0, rate.remaining)),
    'x-ratelimit-resource': rate.resource,
    ...reply.headers,
  });
  res.end(body);
  return Buffer.byteLength(body);
}

const notFound = (): Reply => ({ status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' } });
const validationFailed = (resource: string, field: string, message: string): Reply => ({
  status: 422,
  body: { message: 'Validation Failed', errors: [{ resource, code: 'custom', field, message }], documentation_url: 'https://docs.github.com/rest' },
});
const forbidden = (): Reply => ({ status: 403, body: { message: 'Resource not accessible by integration' } });

export async function startGitHubEmulator(): Promise<GitHubEmulator> {
  const state = new EmulatorState();
  const validator = openApiValidator();
  const violations: string[] = [];
  const requests: RequestRecord[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let app: { id: number; slug: string; publicKey: KeyObject } | undefined;
  const installationTokens = new Map<string, number>();

  // Faults
  let failQueue: number[] = [];
  let hanging = 0;
  let random: { rate: number; next: () => number; statuses: number[] } | undefined;
  let limitQueue: { status: number; retryAfterS: number }[] = [];
  let lose: { rate: number; next: () => number } | undefined;
  let graphqlLimited = 0;
  let missingMutations = new Set<string>();
  const rate = { limit: 5000, remaining: 5000, reset: Math.floor(Date.now() / 1000) + 3600, resource: 'core' };

  let baseUrl = '';
  const nowIso = (): string => new Date().toISOString();

  function authenticate(req: IncomingMessage): { login: string } | { jwt: true } | undefined {
    const header = req.headers.authorization ?? '';
    const m = /^(?:token|bearer)\s+(\S+)$/i.exec(header);
    if (!m?.[1]) return undefined;
    const token = m[1];
    const login = state.tokens.get(token);
    if (login) return { login };
    const installation = installationTokens.get(token);
    if (installation !== undefined && state.appLogin) return { login: state.appLogin };
    if (app && token.split('.').length === 3) {
      const [h = '', p = '', s = ''] = token.split('.');
      const verify = createVerify('RSA-SHA256');
      verify.update(`${h}.${p}`);
      if (!verify.verify(app.publicKey, Buffer.from(s, 'base64url'))) return undefined;
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { iss?: unknown; exp?: unknown };
      const now = Date.now() / 1000;
      if (String(claims.iss) !== String(app.id) || typeof claims.exp !== 'number' || claims.exp < now) return undefined;
      return { jwt: true };
    }
    return undefined;
  }

  function repoOf(match: MatchedRequest): EmuRepo | undefined {
    return state.repo(match.pathParams['owner'] ?? '', match.pathParams['repo'] ?? '');
  }

  function paginate<T>(items: T[], match: MatchedRequest, path: string): { page: T[]; headers: Record<string, string> } {
    const perPage = Math.min(100, Math.max(1, Number(match.query['per_page'] ?? 30)));
    const page = Math.max(1, Number(match.query['page'] ?? 1));
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (p: number, rel: string): string => `<${baseUrl}${path}?per_page=${perPage}&page=${p}>; rel="${rel}"`;
    const links: string[] = [];
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'), link(page - 1, 'prev'));
    return { page: items.slice((page - 1) * perPage, page * perPage), headers: links.length ? { link: links.join(', ') } : {} };
  }

  const pullJson = (repo: EmuRepo, p: EmuPull, headSha = ''): Json => ({
    number: p.number,
    state: p.state,
    merged_at: p.mergedAt ?? null,
    merge_commit_sha: p.mergeCommitSha ?? null,
    title: p.title,
    body: p.body,
    html_url: `https://github.com/${repo.owner}/${repo.name}/pull/${p.number}`,
    user: { login: p.user },
    head: {
      ref: p.head,
      sha: p.fork?.sha ?? headSha,
      label: `${(p.fork?.fullName ?? `${repo.owner}/${repo.name}`).split('/')[0] ?? ''}:${p.head}`,
      repo: { full_name: p.fork?.fullName ?? `${repo.owner}/${repo.name}` },
    },
    base: { ref: p.base, label: `${repo.owner}:${p.base}`, repo: { full_name: `${repo.owner}/${repo.name}` } },
    labels: (p.labels ?? []).map((name, i) => ({ id: i + 1, name })),
    created_at: p.createdAt,
    updated_at: p.updatedAt ?? p.createdAt,
  });
  /** The pull with its head commit (a branch here, or the fork's recorded sha). */
  const pullWithHead = async (repo: EmuRepo, p: EmuPull): Promise<Json> => pullJson(repo, p, p.fork?.sha ?? p.headSha ?? (await repo.git.refHead(p.head)) ?? '');
  const commentJson = (repo: EmuRepo, c: EmuComment): Json => ({
    id: c.id,
    body: c.body,
    user: { login: c.user, type: c.user.endsWith('[bot]') ? 'Bot' : 'User' },
    html_url: `https://github.com/${repo.owner}/${repo.name}/pull/${c.issueNumber}#issuecomment-${c.id}`,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
  });
  const chars = (s: string): number => Array.from(s).length;

  async function rest(match: MatchedRequest, who: { login: string } | { jwt: true }, body: Record<string, unknown>, path: string): Promise<Reply> {
    const login = 'login' in who ? who.login : undefined;
    // App endpoints take the JWT; everything else takes a user or installation token.
    if (match.route === 'GET /app') {
      if (!('jwt' in who) || !app) return { status: 401, body: { message: 'A JSON web token could not be decoded' } };
      return { status: 200, body: { id: app.id, slug: app.slug, name: app.slug, owner: { login: 'emulator' } } };
    }
    if (match.route === 'GET /repos/{owner}/{repo}/installation') {
      if (!('jwt' in who)) return { status: 401, body: { message: 'A JSON web token could not be decoded' } };
      const repo = repoOf(match);
      return repo ? { status: 200, body: { id: repo.installationId, account: { login: repo.owner }, app_id: app?.id ?? 0 } } : notFound();
    }
    if (match.route === 'POST /app/installations/{installation_id}/access_tokens') {
      if (!('jwt' in who)) return { status: 401, body: { message: 'A JSON web token could not be decoded' } };
      const id = Number(match.pathParams['installation_id']);
      if (![...state.repos.values()].some((r) => r.installationId === id)) return notFound();
      const token = `ghs_${randomBytes(18).toString('hex')}`;
      installationTokens.set(token, id);
      return { status: 201, body: { token, expires_at: new Date(Date.now() + 3600_000).toISOString(), permissions: { contents: 'write' }, repository_selection: 'all' } };
    }
    if (login === undefined) return { status: 401, body: { message: 'Bad credentials' } };
    if (match.route === 'GET /user') {
      if (login.endsWith('[bot]')) return { status: 403, body: { message: 'Resource not accessible by integration' } };
      return { status: 200, body: { login, id: 1, type: 'User' } };
    }
    const repo = repoOf(match);
    if (!repo) return notFound();
    const writer = state.canWrite(repo, login);
    const p = match.pathParams;

    switch (match.route) {
      case 'GET /repos/{owner}/{repo}':
        return { status: 200, body: { id: repo.id, name: repo.name, full_name: `${repo.owner}/${repo.name}`, owner: { login: repo.owner }, private: true, default_branch: repo.defaultBranch, html_url: `https://github.com/${repo.owner}/${repo.name}` } };

      case 'GET /repos/{owner}/{repo}/git/ref/{ref}': {
        const ref = p['ref'] ?? '';
        if (!ref.startsWith('heads/')) return notFound();
        const oid = await repo.git.refHead(ref.slice('heads/'.length));
        return oid ? { status: 200, body: { ref: `refs/${ref}`, object: { sha: oid, type: 'commit', url: `${baseUrl}/repos/${repo.owner}/${repo.name}/git/commits/${oid}` } } } : notFound();
      }

      case 'POST /repos/{owner}/{repo}/git/refs': {
        if (!writer) return forbidden();
        const ref = String(body['ref'] ?? '');
        const sha = String(body['sha'] ?? '');
        if (!/^refs\/[^/]+\/.+/.test(ref)) return { status: 422, body: { message: 'Reference name is invalid' } };
        if ((await repo.git.objectType(sha)) !== 'commit') return { status: 422, body: { message: 'Object does not exist' } };
        const branch = ref.slice('refs/heads/'.length);
        if (!ref.startsWith('refs/heads/') || !(await repo.git.createBranch(branch, sha))) return { status: 422, body: { message: 'Reference already exists' } };
        return { status: 201, body: { ref, object: { sha, type: 'commit' } } };
      }

      case 'DELETE /repos/{owner}/{repo}/git/refs/{ref}': {
        if (!writer) return forbidden();
        const ref = p['ref'] ?? '';
        if (!ref.startsWith('heads/') || !(await repo.git.deleteBranch(ref.slice('heads/'.length)))) return { status: 422, body: { message: 'Reference does not exist' } };
        return { status: 204 };
      }

      case 'PATCH /repos/{owner}/{repo}/git/refs/{ref}': {
        if (!writer) return forbidden();
        const ref = p['ref'] ?? '';
        const sha = String(body['sha'] ?? '');
        if (!ref.startsWith('heads/')) return { status: 422, body: { message: 'Reference does not exist' } };
        if ((await repo.git.objectType(sha)) !== 'commit') return { status: 422, body: { message: 'Object does not exist' } };
        const moved = await repo.git.moveBranch(ref.slice('heads/'.length), sha, body['force'] === true);
        if (moved === 'missing') return { status: 422, body: { message: 'Reference does not exist' } };
        if (moved === 'not-fast-forward') return { status: 422, body: { message: 'Update is not a fast forward' } };
        return { status: 200, body: { ref: `refs/${ref}`, object: { sha, type: 'commit', url: `${baseUrl}/repos/${repo.owner}/${repo.name}/git/commits/${sha}` } } };
      }

      case 'GET /repos/{owner}/{repo}/git/trees/{tree_sha}': {
        const sha = p['tree_sha'] ?? '';
        const type = await repo.git.objectType(sha);
        if (type !== 'commit' && type !== 'tree') return notFound();
        const entries = await repo.git.tree(sha, 'recursive' in match.query);
        return {
          status: 200,
          body: { sha, truncated: false, tree: entries.map((e) => ({ path: e.path, mode: e.mode, type: e.type, sha: e.oid })) },
        };
      }

      case 'GET /repos/{owner}/{repo}/git/blobs/{file_sha}': {
        const sha = p['file_sha'] ?? '';
        if ((await repo.git.objectType(sha)) !== 'blob') return notFound();
        const bytes = await repo.git.blob(sha);
        return { status: 200, body: { sha, size: bytes.length, encoding: 'base64', content: bytes.toString('base64') } };
      }

      case 'GET /repos/{owner}/{repo}/pulls': {
        const st = match.query['state'] ?? 'open';
        const head = match.query['head'];
        const base = match.query['base'];
        const list = repo.pulls
          .filter((x) => st === 'all' || x.state === st)
          .filter((x) => !head || `${repo.owner}:${x.head}` === head)
          .filter((x) => !base || x.base === base)
          .sort((a, b) => b.number - a.number);
        const { page, headers } = paginate(list, match, path);
        return { status: 200, body: await Promise.all(page.map((x) => pullWithHead(repo, x))), headers };
      }

      case 'GET /repos/{owner}/{repo}/pulls/{pull_number}': {
        const pull = repo.pulls.find((x) => x.number === Number(p['pull_number']));
        if (!pull) return notFound();
        return { status: 200, body: { ...((await pullWithHead(repo, pull)) as Record<string, Json>), merged: pull.mergedAt !== undefined } };
      }

      case 'GET /repos/{owner}/{repo}/commits/{ref}': {
        const ref = p['ref'] ?? '';
        const sha = (await repo.git.resolveCommit(ref)) ?? (await repo.git.refHead(ref));
        if (!sha) return { status: 422, body: { message: `No commit found for SHA: ${ref}`, documentation_url: 'https://docs.github.com/rest/commits/commits#get-a-commit' } };
        const info = await repo.git.commitInfo(sha);
        return {
          status: 200,
          body: {
            sha,
            node_id: `C_${sha}`,
            url: `${baseUrl}/repos/${repo.owner}/${repo.name}/commits/${sha}`,
            html_url: `https://github.com/${repo.owner}/${repo.name}/commit/${sha}`,
            comments_url: `${baseUrl}/repos/${repo.owner}/${repo.name}/commits/${sha}/comments`,
            commit: { message: info.message, author: { name: info.author, email: 'someone@example.com', date: info.date }, committer: { name: info.author, email: 'someone@example.com', date: info.date }, tree: { sha: '', url: '' }, url: '', comment_count: 0 },
            author: null,
            committer: null,
            parents: info.parents.map((x) => ({ sha: x, url: '' })),
          },
        };
      }

      case 'GET /repos/{owner}/{repo}/commits/{ref}/check-runs': {
        const ref = p['ref'] ?? '';
        const sha = /^[0-9a-f]{40}$/.test(ref) ? ref : await repo.git.refHead(ref);
        if (!sha) return { status: 422, body: { message: `No commit found for SHA: ${ref}`, documentation_url: 'https://docs.github.com/rest' } };
        const runs = repo.checkRuns.filter((r) => r.sha === sha).sort((a, b) => b.id - a.id);
        const { page, headers } = paginate(runs, match, path);
        return {
          status: 200,
          body: {
            total_count: runs.length,
            check_runs: page.map((r) => ({ id: r.id, head_sha: r.sha, name: r.name, status: r.status, conclusion: r.conclusion, html_url: `https://github.com/${repo.owner}/${repo.name}/runs/${r.id}` })),
          },
          headers,
        };
      }

      case 'POST /repos/{owner}/{repo}/pulls': {
        if (!writer) return forbidden();
        const head = String(body['head'] ?? '');
        const base = String(body['base'] ?? '');
        const title = typeof body['title'] === 'string' ? body['title'] : '';
        if (!title) return validationFailed('PullRequest', 'title', 'title is missing');
        const headOid = await repo.git.refHead(head);
        const baseOid = await repo.git.refHead(base);
        if (!headOid) return validationFailed('PullRequest', 'head', 'head invalid');
        if (!baseOid) return validationFailed('PullRequest', 'base', 'base invalid');
        if (repo.pulls.some((x) => x.state === 'open' && x.head === head && x.base === base)) {
          return { status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${repo.owner}:${head}.` }] } };
        }
        if (await repo.git.isAncestor(headOid, baseOid)) {
          return { status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${head}` }] } };
        }
        const b = typeof body['body'] === 'string' ? body['body'] : '';
        if (chars(b) > COMMENT_LIMIT) return validationFailed('PullRequest', 'body', `body is too long (maximum is ${COMMENT_LIMIT} characters)`);
        const pull: EmuPull = { number: repo.nextNumber++, title, body: b, head, base, state: 'open', user: login, createdAt: nowIso() };
        repo.pulls.push(pull);
        return { status: 201, body: pullJson(repo, pull) };
      }

      case 'PATCH /repos/{owner}/{repo}/pulls/{pull_number}': {
        const pull = repo.pulls.find((x) => x.number === Number(p['pull_number']));
        if (!pull) return notFound();
        if (!writer && pull.user !== login) return forbidden();
        if (typeof body['title'] === 'string') pull.title = body['title'];
        if (typeof body['body'] === 'string') {
          if (chars(body['body']) > COMMENT_LIMIT) return validationFailed('PullRequest', 'body', `body is too long (maximum is ${COMMENT_LIMIT} characters)`);
          pull.body = body['body'];
        }
        if (typeof body['base'] === 'string') {
          if (!(await repo.git.refHead(body['base']))) return validationFailed('PullRequest', 'base', 'base invalid');
          pull.base = body['base'];
        }
        if (body['state'] === 'open' || body['state'] === 'closed') pull.state = body['state'];
        return { status: 200, body: pullJson(repo, pull) };
      }

      // GitHub: the merged PR that introduced the commit; for a commit not on the default branch, also open PRs containing it.
      case 'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls': {
        const asked = p['commit_sha'] ?? '';
        // A fork's head commit lives in the fork; the emulator records its sha on the pull.
        const sha = (await repo.git.resolveCommit(asked)) ?? (repo.pulls.some((x) => x.fork?.sha === asked) ? asked : undefined);
        if (!sha) return { status: 422, body: { message: `No commit found for SHA: ${asked}` } };
        const found: { pull: EmuPull; head?: string }[] = [];
        for (const x of repo.pulls) {
          if (x.fork) {
            if (x.fork.sha === sha) found.push({ pull: x, head: sha });
            continue;
          }
          const head = await repo.git.refHead(x.head);
          if (x.mergeCommitSha === sha) found.push({ pull: x, ...(head !== undefined && { head }) });
          else if (x.state === 'open' && head !== undefined && (head === sha || (await repo.git.isAncestor(sha, head))) && !(await repo.git.isAncestor(sha, (await repo.git.refHead(x.base)) ?? sha))) found.push({ pull: x, head });
        }
        const { page, headers } = paginate(found, match, path);
        return { status: 200, body: page.map((x) => pullJson(repo, x.pull, x.head ?? '')), headers };
      }

      case 'GET /repos/{owner}/{repo}/commits': {
        // With `path`: the commits that touched it (what rollback asks), newest first.
        if (match.query['path'] !== undefined) {
        const ref = match.query['sha'] ?? repo.defaultBranch;
        const head = (await repo.git.refHead(ref)) ?? ((await repo.git.objectType(ref)) === 'commit' ? ref : undefined);
        if (!head) return notFound();
        const perPage = Math.min(100, Math.max(1, Number(match.query['per_page'] ?? 30)));
        const shas = await repo.git.logTouching(head, match.query['path'], perPage);
        const body: Json[] = [];
        for (const sha of shas) {
          const info = await repo.git.commitInfo(sha);
          body.push({ sha, commit: { message: info.message.replace(/\n+$/, ''), author: { name: info.author, date: info.date } }, parents: info.parents.map((x) => ({ sha: x })) });
        }
        return { status: 200, body };
        }
        const branch = match.query['sha'] ?? repo.defaultBranch;
        if (!(await repo.git.refHead(branch))) return notFound();
        const perPage = Math.min(100, Math.max(1, Number(match.query['per_page'] ?? 30)));
        const pageNo = Math.max(1, Number(match.query['page'] ?? 1));
        const list = await repo.git.log(branch, (pageNo - 1) * perPage, perPage + 1);
        const more = list.length > perPage;
        const link = `<${baseUrl}${path}?sha=${encodeURIComponent(branch)}&per_page=${perPage}&page=${pageNo + 1}>; rel="next"`;
        return {
          status: 200,
          body: list.slice(0, perPage).map((c) => ({
            sha: c.sha,
            node_id: `C_${c.sha}`,
            url: `${baseUrl}/repos/${repo.owner}/${repo.name}/commits/${c.sha}`,
            html_url: `https://github.com/${repo.owner}/${repo.name}/commit/${c.sha}`,
            comments_url: `${baseUrl}/repos/${repo.owner}/${repo.name}/commits/${c.sha}/comments`,
            commit: { message: c.message, author: { name: c.author, email: 'someone@example.com', date: c.date }, committer: { name: 'GitHub', email: 'noreply@github.com', date: c.date }, tree: { sha: '', url: '' }, url: '', comment_count: 0 },
            author: null,
            committer: null,
            parents: c.parents.map((sha) => ({ sha, url: `${baseUrl}/repos/${repo.owner}/${repo.name}/commits/${sha}` })),
          })),
          headers: more ? { link } : {},
        };
      }

      case 'PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge': {
        if (!writer) return forbidden();
        const pull = repo.pulls.find((x) => x.number === Number(p['pull_number']));
        if (!pull) return notFound();
        if (pull.state !== 'open') return { status: 405, body: { message: 'Pull Request is not mergeable' } };
        const sha = await repo.git.merge(pull.base, pull.head, `Merge pull request #${pull.number} from ${repo.owner}/${pull.head}\n\n${pull.title}`);
        Object.assign(pull, { state: 'closed', mergeCommitSha: sha, mergedAt: nowIso() });
        return { status: 200, body: { sha, merged: true, message: 'Pull Request successfully merged' } };
      }

      case 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments': {
        const n = Number(p['issue_number']);
        if (!repo.pulls.some((x) => x.number === n)) return notFound();
        const { page, headers } = paginate(repo.comments.filter((c) => c.issueNumber === n), match, path);
        return { status: 200, body: page.map((c) => commentJson(repo, c)), headers };
      }

      case 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': {
        const n = Number(p['issue_number']);
        if (!repo.pulls.some((x) => x.number === n)) return notFound();
        const text = String(body['body'] ?? '');
        if (chars(text) > COMMENT_LIMIT) return validationFailed('IssueComment', 'data', `Body is too long (maximum is ${COMMENT_LIMIT} characters)`);
        const c: EmuComment = { id: state.id(), issueNumber: n, body: text, user: login, createdAt: nowIso(), updatedAt: nowIso() };
        repo.comments.push(c);
        return { status: 201, body: commentJson(repo, c) };
      }

      case 'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}': {
        const c = repo.comments.find((x) => x.id === Number(p['comment_id']));
        if (!c) return notFound();
        if (c.user !== login && !writer) return forbidden();
        const text = String(body['body'] ?? '');
        if (chars(text) > COMMENT_LIMIT) return validationFailed('IssueComment', 'data', `Body is too long (maximum is ${COMMENT_LIMIT} characters)`);
        c.body = text;
        c.updatedAt = nowIso();
        return { status: 200, body: commentJson(repo, c) };
      }

      case 'POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions':
      case 'POST /repos/{owner}/{repo}/issues/{issue_number}/reactions': {
        const subject =
          match.route.includes('{comment_id}')
            ? repo.comments.some((x) => x.id === Number(p['comment_id'])) && ({ kind: 'comment', id: Number(p['comment_id']) } as const)
            : repo.pulls.some((x) => x.number === Number(p['issue_number'])) && ({ kind: 'issue', number: Number(p['issue_number']) } as const);
        if (!subject) return notFound();
        const content = String(body['content'] ?? '');
        const same = repo.reactions.find((r) => r.content === content && r.user === login && JSON.stringify(r.subject) === JSON.stringify(subject));
        if (same) return { status: 200, body: { id: same.id, content, user: { login } } };
        const r = { id: state.id(), subject, content, user: login };
        repo.reactions.push(r);
        return { status: 201, body: { id: r.id, content, user: { login } } };
      }

      case 'GET /repos/{owner}/{repo}/commits/{ref}/statuses': {
        const list = repo.statuses.filter((s) => s.sha === p['ref']).sort((a, b) => b.id - a.id);
        const { page, headers } = paginate(list, match, path);
        return {
          status: 200,
          body: page.map((s) => ({ id: s.id, state: s.state, context: s.context, description: s.description, target_url: s.targetUrl, creator: { login: s.creator }, created_at: s.createdAt })),
          headers,
        };
      }

      case 'POST /repos/{owner}/{repo}/statuses/{sha}': {
        if (!writer) return forbidden();
        const sha = p['sha'] ?? '';
        if ((await repo.git.objectType(sha)) !== 'commit') return { status: 422, body: { message: `No commit found for SHA: ${sha}` } };
        const description = typeof body['description'] === 'string' ? body['description'] : null;
        if (description !== null && chars(description) > 140) return validationFailed('Status', 'description', 'description is too long (maximum is 140 characters)');
        const s = {
          id: state.id(),
          sha,
          state: String(body['state']),
          context: typeof body['context'] === 'string' ? body['context'] : 'default',
          description,
          targetUrl: typeof body['target_url'] === 'string' ? body['target_url'] : null,
          creator: login,
          createdAt: nowIso(),
        };
        repo.statuses.push(s);
        return { status: 201, body: { id: s.id, state: s.state, context: s.context, description: s.description, target_url: s.targetUrl } };
      }

      case 'GET /repos/{owner}/{repo}/commits/{ref}/status': {
        // Latest status per context, as GitHub combines them.
        const latest = new Map<string, (typeof repo.statuses)[number]>();
        for (const s of repo.statuses.filter((x) => x.sha === p['ref']).sort((a, b) => a.id - b.id)) latest.set(s.context, s);
        const list = [...latest.values()];
        const state = list.some((s) => s.state === 'failure' || s.state === 'error') ? 'failure' : list.length === 0 || list.some((s) => s.state === 'pending') ? 'pending' : 'success';
        return {
          status: 200,
          body: {
            state,
            sha: p['ref'] ?? '',
            total_count: list.length,
            statuses: list.map((s) => ({ id: s.id, state: s.state, context: s.context, description: s.description, target_url: s.targetUrl, created_at: s.createdAt, updated_at: s.createdAt })),
            repository: { full_name: `${repo.owner}/${repo.name}` },
          },
        };
      }

      case 'GET /repos/{owner}/{repo}/collaborators/{username}/permission': {
        const user = p['username'] ?? '';
        if (!state.users.has(user)) return notFound();
        const role = state.roleOf(repo, user);
        // The classic permission collapses maintain→write and triage→read, as GitHub does.
        const permission = role === undefined ? 'none' : role === 'maintain' ? 'write' : role === 'triage' ? 'read' : role;
        return { status: 200, body: { permission, role_name: role ?? 'none', user: { login: user } } };
      }

      default:
        violations.push(`the emulator does not implement ${match.route} (valid for GitHub, but Baton is not expected to call it)`);
        return { status: 501, body: { message: `emulator: ${match.route} is not implemented` } };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const receivedPath = url.pathname;
    // GitHub Enterprise Server serves REST under /api/v3 and GraphQL at /api/graphql.
    if (url.pathname.startsWith('/api/v3/')) url.pathname = url.pathname.slice('/api/v3'.length);
    const method = (req.method ?? 'GET').toUpperCase();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const record: RequestRecord = { method, path: receivedPath, route: `${method} ${url.pathname}`, status: 0, faulted: false, bytes: raw.length };
    requests.push(record);
    const isGraphql = url.pathname === '/graphql' || url.pathname === '/api/graphql';
    rate.resource = isGraphql ? 'graphql' : 'core';
    const reply = (r: Reply): void => {
      if (lose && r.status < 300 && lose.next() < lose.rate) {
        record.faulted = true;
        r = { status: 502, body: { message: 'Server Error' } };
      }
      record.status = r.status;
      record.bytes += send(res, r, rate);
    };

    let body: Json | undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Json;
      } catch {
        violations.push(`${method} ${url.pathname}: body is not JSON`);
        return reply({ status: 400, body: { message: 'Problems parsing JSON' } });
      }
    }

    let match: MatchedRequest | undefined;
    if (isGraphql) {
      if (method !== 'POST') {
        violations.push(`${method} ${url.pathname}: GraphQL takes POST`);
        return reply({ status: 404, body: { message: 'Not Found' } });
      }
      record.route = 'POST /graphql';
      const doc = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)['query'] : undefined;
      record.graphql = typeof doc === 'string' && /^\s*mutation\b/.test(doc) ? 'mutation' : 'query';
    } else {
      const checked = validator.validate(method, url.pathname, url.searchParams, body);
      if (!checked.ok) {
        violations.push(...checked.problems);
        return reply({ status: checked.status, body: { message: `emulator: ${checked.problems.join('; ')}` } });
      }
      match = checked.match;
      record.route = match.route;
    }

    // Faults come after validation: a request that drifted from the API is caught even when faulted.
    const fail = failQueue.shift();
    const limited = fail === undefined ? limitQueue.shift() : undefined;
    const rolled = fail === undefined && !limited && random && random.next() < random.rate ? random.statuses[Math.floor(random.next() * random.statuses.length)] : undefined;
    const secondary = limited ?? (rolled === 429 || rolled === 403 ? { status: rolled, retryAfterS: 1 } : undefined);
    if (secondary) {
      record.faulted = true;
      return reply({
        status: secondary.status,
        headers: { 'retry-after': String(secondary.retryAfterS) },
        body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits' },
      });
    }
    if (hanging > 0) {
      hanging--;
      record.faulted = true;
      return; // never answered: the client's own timeout has to end it
    }
    const failStatus = fail ?? rolled;
    if (failStatus !== undefined) {
      record.faulted = true;
      return reply({ status: failStatus, body: { message: 'Server Error' } });
    }
    if (rate.remaining <= 0) {
      if (Date.now() / 1000 >= rate.reset) rate.remaining = rate.limit;
      else {
        record.faulted = true;
        return reply({ status: 403, body: { message: 'API rate limit exceeded for installation.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' } });
      }
    }
    rate.remaining--;

    const who = authenticate(req);
    if (!who) return reply({ status: 401, body: { message: 'Bad credentials' } });

    if (isGraphql && graphqlLimited > 0) {
      graphqlLimited--;
      record.faulted = true;
      return reply({
        status: 200,
        headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 1) },
        body: { errors: [{ type: 'RATE_LIMITED', message: 'API rate limit exceeded for installation.' }] },
      });
    }
    if (isGraphql) {
      if (!('login' in who)) return reply({ status: 401, body: { message: 'A JSON web token cannot be used for GraphQL' } });
      const out = await runGraphql(body, { login: who.login, state, missingMutations });
      violations.push(...out.violations);
      if (out.fields) record.operation = out.fields;
      return reply({ status: 200, body: out.body });
    }
    const obj = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    reply(await rest(match as MatchedRequest, who, obj, url.pathname));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      violations.push(`emulator crashed: ${String(e)}`);
      if (!res.headersSent) send(res, { status: 500, body: { message: 'emulator error' } }, rate);
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const emulator: GitHubEmulator = {
    url: baseUrl,
    state,
    violations,
    requests,
    faults: {
      failNext: (n, status = 502) => (failQueue = [...failQueue, ...Array.from({ length: n }, () => status)]),
      failRandomly: (r, seed, statuses = [500, 502, 503, 429]) => (random = { rate: r, next: seededRandom(seed), statuses }),
      graphqlRateLimitNext: (n) => (graphqlLimited += n),
      loseResponses: (r, seed) => (lose = { rate: r, next: seededRandom(seed) }),
      rateLimitNext: (n, o = {}) => (limitQueue = [...limitQueue, ...Array.from({ length: n }, () => ({ status: o.status ?? 429, retryAfterS: o.retryAfterS ?? 1 }))]),
      setRateLimit: (remaining, resetInS = 1) => {
        rate.remaining = remaining;
        rate.reset = Math.floor(Date.now() / 1000) + resetInS;
      },
      hangNext: (n) => (hanging += n),
      withoutMutations: (names) => (missingMutations = new Set(names)),
      clear: () => {
        missingMutations = new Set();
        hanging = 0;
        failQueue = [];
        limitQueue = [];
        random = undefined;
        lose = undefined;
        graphqlLimited = 0;
        rate.remaining = rate.limit;
      },
    },
    async mergePull(fullName, number, options = {}) {
      const [owner = '', name = ''] = fullName.split('/');
      const repo = state.repo(owner, name);
      const pull = repo?.pulls.find((x) => x.number === number && x.state === 'open');
      if (!repo || !pull) throw new Error(`no open pull ${fullName}#${number}`);
      const t = repo.testRepo;
      const head = await t.head(pull.head);
      const changed = (await runGit(['diff', '--name-only', '-z', `refs/heads/${pull.base}`, head], { cwd: t.bare })).stdout.toString('utf8').split('\0').filter(Boolean);
      const files: Record<string, string | null> = {};
      for (const f of changed) {
        const shown = await runGit(['show', `${head}:${f}`], { cwd: t.bare });
        files[f] = shown.code === 0 ? shown.stdout.toString('utf8') : null;
      }
      const merged = options.method === 'merge' ? await t.commit(files, `Merge pull request #${number} from ${pull.head}`, pull.base) : await t.commit(files, `${pull.title} (#${number})`, pull.base);
      pull.state = 'closed';
      pull.mergedAt = nowIso();
      pull.mergeCommitSha = merged;
      if (options.deleteBranch) await runGit(['update-ref', '-d', `refs/heads/${pull.head}`], { cwd: t.bare });
      return merged;
    },
    closePull(fullName, number) {
      const [owner = '', name = ''] = fullName.split('/');
      const pull = state.repo(owner, name)?.pulls.find((x) => x.number === number);
      if (!pull) throw new Error(`no pull ${fullName}#${number}`);
      pull.state = 'closed';
    },
    async createRepo(fullName, files, options = {}) {
      const branch = options.defaultBranch ?? 'main';
      const testRepo = await createBareRepo(files, branch);
      cleanups.push(() => testRepo.cleanup());
      return state.addRepo(fullName, testRepo, branch);
    },
    addUser(login, token = `ghp_${randomBytes(16).toString('hex')}`) {
      state.users.add(login);
      state.tokens.set(token, login);
      return token;
    },
    grant(fullName, login, role) {
      const [owner = '', name = ''] = fullName.split('/');
      const repo = state.repo(owner, name);
      if (!repo) throw new Error(`no repo ${fullName}`);
      state.users.add(login);
      repo.collaborators.set(login, role);
    },
    enableApp(appId, slug) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
      app = { id: appId, slug, publicKey: createPublicKey(publicKey) };
      state.appLogin = `${slug}[bot]`;
      state.users.add(state.appLogin);
      return { privateKey };
    },
    openPull(fullName, pull) {
      const [owner = '', name = ''] = fullName.split('/');
      const repo = state.repo(owner, name);
      if (!repo) throw new Error(`no repo ${fullName}`);
      // `headRepo` + `headSha` name a fork's head; `headSha` alone a head branch the emulator does not hold.
      const fork = pull.fork ?? (pull.headRepo !== undefined ? { fullName: pull.headRepo, sha: pull.headSha ?? '0'.repeat(40) } : undefined);
      const p: EmuPull = {
        number: repo.nextNumber++,
        title: pull.title,
        body: pull.body ?? '',
        head: pull.head,
        base: pull.base,
        state: 'open',
        user: pull.user,
        createdAt: nowIso(),
        ...(pull.labels && { labels: pull.labels }),
        ...(fork && { fork }),
        ...(!fork && pull.headSha !== undefined && { headSha: pull.headSha }),
      };
      repo.pulls.push(p);
      return p.number;
    },
    addCheckRun(fullName, shaOrRun, run = {}) {
      const [owner = '', name = ''] = fullName.split('/');
      const repo = state.repo(owner, name);
      if (!repo) throw new Error(`no repo ${fullName}`);
      const r = typeof shaOrRun === 'string' ? { sha: shaOrRun, ...run } : shaOrRun;
      const status = r.status ?? 'completed';
      repo.checkRuns.push({ id: state.id(), sha: r.sha, name: r.name ?? 'build', status, conclusion: status === 'completed' ? (r.conclusion ?? 'success') : null });
    },
    addComments(fullName, issueNumber, user, bodies) {
      const [owner = '', name = ''] = fullName.split('/');
      const repo = state.repo(owner, name);
      if (!repo) throw new Error(`no repo ${fullName}`);
      state.users.add(user);
      return bodies.map((b) => {
        const c: EmuComment = { id: state.id(), issueNumber, body: b, user, createdAt: nowIso(), updatedAt: nowIso() };
        repo.comments.push(c);
        return c.id;
      });
    },
    resetCounts() {
      requests.length = 0;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Hung requests (hangNext) hold their connections open: end them all.
      server.closeAllConnections();
      await closed;
      for (const c of cleanups) await c();
    },
  };
  return emulator;
}
