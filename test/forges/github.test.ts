import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GitHubForge, githubAuthMode, githubForgeFromSettings, privateKeyFrom } from '../../src/forges/github/index.js';
import { ForgeError, RetryableError } from '../../src/forges/types.js';
import type { Role } from '../../src/forges/types.js';
import { BATON_LOGIN, FAST, emulatedGitHub } from '../emulators/github/harness.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import { forgeContract } from './contract.js';
import { reviewsContract } from './reviews-contract.js';

const emulators: EmulatedGitHub[] = [];

/** The emulator must have seen nothing GitHub's API description would reject. */
function expectNoViolations(gh: EmulatedGitHub): void {
  expect(gh.emulator.violations).toEqual([]);
}

forgeContract('github (emulator held to the OpenAPI description and GraphQL schema)', async (seed) => {
  const gh = await emulatedGitHub(seed);
  const repo = gh.emulator.state.repo('acme', 'env');
  if (!repo) throw new Error('no repo');
  return {
    forge: gh.forge,
    repo: gh.repo,
    branch: 'main',
    externalCommit: (files, branch) => repo.testRepo.commit(files, 'external', branch),
    headMessage: (branch = 'main') => repo.testRepo.message(branch),
    cleanup: async () => {
      expectNoViolations(gh);
      await gh.emulator.close();
    },
  };
});

reviewsContract('github', async () => {
  const gh = await emulatedGitHub({ 'README.md': '# env\n' });
  const state = gh.emulator.state;
  const repo = state.repo('acme', 'env');
  if (!repo) throw new Error('no repo');
  const toRole = (r: Role): 'admin' | 'maintain' | 'write' | 'triage' | 'read' | undefined => (r === 'none' ? undefined : r);
  return {
    forge: gh.forge as GitHubForge & { reviews: GitHubForge },
    repo: gh.repo,
    branch: 'main',
    pageSize: 100,
    maxCommentLength: 65_536,
    postForeignComments: async (n, bodies) => gh.emulator.addComments(gh.repo, n, 'mallory', bodies).map(String),
    comments: async (n) => repo.comments.filter((c) => c.issueNumber === n).map((c) => ({ id: String(c.id), body: c.body, author: c.user })),
    reactions: async (_n, id) => repo.reactions.filter((r) => r.subject.kind === 'comment' && String(r.subject.id) === id).map((r) => r.content),
    statuses: async (sha) =>
      repo.statuses
        .filter((s) => s.sha === sha)
        .sort((a, b) => b.id - a.id)
        .map((s) => ({ context: s.context, state: s.state, description: s.description ?? '' })),
    grantRole: async (user, role) => {
      const r = toRole(role);
      if (r) gh.emulator.grant(gh.repo, user, r);
      else state.users.add(user);
    },
    openMergeRequests: async (source) => repo.pulls.filter((p) => p.state === 'open' && p.head === source).map((p) => ({ number: p.number, title: p.title, body: p.body })),
    cleanup: async () => {
      expectNoViolations(gh);
      await gh.emulator.close();
    },
  };
});

describe('github forge on the emulator', () => {
  let gh: EmulatedGitHub;
  beforeAll(async () => {
    gh = await emulatedGitHub({ 'a.yaml': 'a: 1\n', 'dir/b.yaml': 'b: 2\n' });
    emulators.push(gh);
  });
  afterEach(() => {
    gh.emulator.faults.clear();
  });
  afterAll(async () => {
    for (const e of emulators) await e.emulator.close();
  });

  it('reads files and head in one request and writes a changeset in one more', async () => {
    gh.emulator.resetCounts();
    const snap = await gh.forge.readFiles(gh.repo, 'main', ['a.yaml', 'dir/b.yaml', 'missing.yaml', 'dir']);
    expect(snap.files).toEqual({ 'a.yaml': 'a: 1\n', 'dir/b.yaml': 'b: 2\n', 'missing.yaml': null, dir: null });
    const result = await gh.forge.write(gh.repo, {
      branch: 'main',
      expectedHead: snap.head,
      message: 'bump a\n\nBaton-Event: test\n',
      changes: [
        { type: 'write', path: 'a.yaml', contents: 'a: 2\n' },
        { type: 'write', path: 'new/c.yaml', contents: 'c: ünïcödé ✓\n' },
      ],
    });
    expect(result.status).toBe('committed');
    expect(gh.emulator.requests.map((r) => r.route)).toEqual(['POST /graphql', 'POST /graphql']);
    const after = await gh.forge.readFiles(gh.repo, 'main', ['new/c.yaml']);
    expect(after.files['new/c.yaml']).toBe('c: ünïcödé ✓\n');
    expectNoViolations(gh);
  });

  it('reads more paths than fit one query, all at the same commit', async () => {
    const paths = Array.from({ length: 230 }, (_, i) => `many/${i}.txt`);
    gh.emulator.resetCounts();
    const snap = await gh.forge.readFiles(gh.repo, 'main', ['a.yaml', ...paths, 'dir/b.yaml']);
    expect(Object.values(snap.files).filter((v) => v === null)).toHaveLength(230);
    expect(snap.files['a.yaml']).toBeTypeOf('string');
    // The third chunk is read by commit id, not by branch: same commit even if the branch moved.
    expect(snap.files['dir/b.yaml']).toBe('b: 2\n');
    expect(gh.emulator.requests).toHaveLength(3);
    expectNoViolations(gh);
  });

  it('fetches blobs GraphQL truncates or leaves out (large, binary) through the REST blob API', async () => {
    const repo = gh.emulator.state.repo('acme', 'env');
    if (!repo) throw new Error('no repo');
    const big = `${'x: 1\n'.repeat(40)}`;
    await repo.testRepo.commit({ 'big.yaml': big, 'bin.dat': 'a\u0000b' });
    repo.blobTextLimit = 64;
    try {
      gh.emulator.resetCounts();
      const snap = await gh.forge.readFiles(gh.repo, 'main', ['big.yaml', 'bin.dat', 'a.yaml']);
      expect(snap.files['big.yaml']).toBe(big);
      expect(snap.files['bin.dat']).toBe('a\u0000b');
      expect(gh.emulator.requests.map((r) => r.route)).toEqual(['POST /graphql', 'GET /repos/{owner}/{repo}/git/blobs/{file_sha}', 'GET /repos/{owner}/{repo}/git/blobs/{file_sha}']);
    } finally {
      repo.blobTextLimit = 512 * 1024;
    }
    expectNoViolations(gh);
  });

  it('refuses hostile repository names, branch names and paths before any request', async () => {
    gh.emulator.resetCounts();
    await expect(gh.forge.readFiles('acme/env/../../x', 'main', ['a'])).rejects.toThrow(/invalid GitHub repository/);
    await expect(gh.forge.readFiles(gh.repo, 'main..evil', ['a'])).rejects.toThrow(/invalid branch/);
    await expect(gh.forge.headOf(gh.repo, '-x')).rejects.toThrow(/invalid branch/);
    await expect(gh.forge.write(gh.repo, { branch: 'main', expectedHead: 'a'.repeat(40), message: 'x', changes: [{ type: 'delete', path: 'a/../../etc' }] })).rejects.toThrow(/unsafe path/);
    expect(gh.emulator.requests).toHaveLength(0);
  });

  it('reports a missing branch as 404 and a missing repository as 404', async () => {
    await expect(gh.forge.readFiles(gh.repo, 'nope', ['a.yaml'])).rejects.toMatchObject({ status: 404 });
    await expect(gh.forge.readFiles('acme/other', 'main', ['a.yaml'])).rejects.toMatchObject({ status: 404 });
    await expect(gh.forge.defaultBranch('acme/other')).rejects.toBeInstanceOf(ForgeError);
  });

  it('rides out 5xx and secondary rate limits (403/429 with Retry-After) through Octokit retry and throttling', async () => {
    const head = (await gh.forge.headOf(gh.repo, 'main')) ?? '';
    gh.emulator.faults.failNext(2, 502);
    expect((await gh.forge.readFiles(gh.repo, 'main', ['a.yaml'])).head).toBe(head);
    gh.emulator.faults.rateLimitNext(2, { status: 429, retryAfterS: 2 });
    expect(await gh.forge.headOf(gh.repo, 'main')).toBe(head);
    gh.emulator.faults.rateLimitNext(1, { status: 403, retryAfterS: 1 });
    expect(await gh.forge.defaultBranch(gh.repo)).toBe('main');
    expect(gh.emulator.requests.filter((r) => r.faulted).length).toBeGreaterThanOrEqual(5);
  });

  it('waits out a GraphQL RATE_LIMITED answer (HTTP 200 with an error) through the throttling plugin', async () => {
    gh.emulator.faults.graphqlRateLimitNext(2);
    gh.emulator.resetCounts();
    const snap = await gh.forge.readFiles(gh.repo, 'main', ['a.yaml']);
    expect(snap.files['a.yaml']).toBeTypeOf('string');
    expect(gh.emulator.requests.filter((r) => r.faulted)).toHaveLength(2);
  });

  it('waits for a primary rate limit to reset (x-ratelimit-remaining: 0), then succeeds', async () => {
    // The reset is a wall-clock time, so this client waits in real seconds.
    const forge = githubForgeFromSettings({ GITHUB_TOKEN: gh.token, GITHUB_API_URL: gh.emulator.url }, { tuning: { ...FAST, timeUnitMs: 1000 } });
    // The reset is a whole second, as GitHub sends it: two seconds ahead, so it is still ahead when the
    // first request arrives even if this line runs at the very end of a second.
    gh.emulator.faults.setRateLimit(0, 2);
    const started = Date.now();
    expect(await forge?.defaultBranch(gh.repo)).toBe('main');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('gives up with a RetryableError when the server keeps failing', async () => {
    gh.emulator.faults.failNext(20, 503);
    await expect(gh.forge.headOf(gh.repo, 'main')).rejects.toBeInstanceOf(RetryableError);
  });

  it('never puts the token in an error message', async () => {
    gh.emulator.faults.failNext(20, 500);
    const err = await gh.forge.defaultBranch(gh.repo).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(JSON.stringify({ m: (err as Error).message, s: (err as Error).stack })).not.toContain(gh.token);
  });

  it('reports a GraphQL permission error as a non-retryable 403, after one attempt', async () => {
    const reader = gh.emulator.addUser('reader');
    gh.emulator.grant(gh.repo, 'reader', 'read');
    const forge = githubForgeFromSettings({ GITHUB_TOKEN: reader, GITHUB_API_URL: gh.emulator.url, BATON_BOT_LOGIN: 'reader, old-bot' }, { tuning: FAST });
    expect(await forge?.selfLogin()).toBe('reader');
    const snap = await forge?.readFiles(gh.repo, 'main', ['a.yaml']);
    gh.emulator.resetCounts();
    const err = await forge?.write(gh.repo, { branch: 'main', expectedHead: snap?.head ?? '', message: 'x\n', changes: [{ type: 'write', path: 'a.yaml', contents: 'a: 9\n' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForgeError);
    expect(err).not.toBeInstanceOf(RetryableError);
    expect(err).toMatchObject({ status: 403 });
    expect(gh.emulator.requests).toHaveLength(1);
    await expect(gh.forge.write(gh.repo, { branch: 'gone', expectedHead: snap?.head ?? '', message: 'x\n', changes: [{ type: 'write', path: 'a.yaml', contents: 'a' }] })).rejects.toMatchObject({ status: 404 });
  });

  it('works against a GitHub Enterprise Server address (REST under /api/v3, GraphQL at /api/graphql)', async () => {
    const forge = githubForgeFromSettings({ GITHUB_TOKEN: gh.token, GITHUB_API_URL: `${gh.emulator.url}/api/v3` }, { tuning: FAST });
    gh.emulator.resetCounts();
    const snap = await forge?.readFiles(gh.repo, 'main', ['a.yaml']);
    expect(await forge?.headOf(gh.repo, 'main')).toBe(snap?.head);
    expect(gh.emulator.requests.map((r) => r.path)).toEqual(['/api/graphql', '/api/v3/repos/acme/env/git/ref/heads%2Fmain']);
    expectNoViolations(gh);
  });

  it('reacts on the pull request itself when there is no comment id, and refuses a hostile id', async () => {
    const n = gh.emulator.openPull(gh.repo, { head: 'main', base: 'main', title: 'react', user: 'alice' });
    await gh.forge.react(gh.repo, '', 'rocket', n);
    const reactions = gh.emulator.state.repo('acme', 'env')?.reactions.filter((r) => r.subject.kind === 'issue' && r.subject.number === n) ?? [];
    expect(reactions.map((r) => [r.content, r.user])).toEqual([['rocket', BATON_LOGIN]]);
    await expect(gh.forge.react(gh.repo, '1/../../x', 'eyes', n)).rejects.toThrow(/invalid comment id/);
    expectNoViolations(gh);
  });

  it('rejects an unauthenticated client', async () => {
    const stranger = githubForgeFromSettings({ GITHUB_TOKEN: 'ghp_not-a-real-token', GITHUB_API_URL: gh.emulator.url }, { tuning: FAST });
    await expect(stranger?.headOf(gh.repo, 'main')).rejects.toMatchObject({ status: 401 });
  });

  it('learns its own login from the token (so only its own comments are sticky)', async () => {
    const forge = githubForgeFromSettings({ GITHUB_TOKEN: gh.token, GITHUB_API_URL: gh.emulator.url }, { tuning: FAST });
    expect(forge).toBeInstanceOf(GitHubForge);
    // A failing GET /user is not an answer: it is asked again, never guessed and remembered.
    gh.emulator.faults.failNext(20, 500);
    await expect(forge?.selfLogin()).rejects.toBeInstanceOf(RetryableError);
    gh.emulator.faults.clear();
    expect(await forge?.selfLogin()).toBe(BATON_LOGIN);
    const n = gh.emulator.openPull(gh.repo, { head: 'main', base: 'main', title: 't', user: 'alice' });
    gh.emulator.addComments(gh.repo, n, 'alice', ['<!-- baton:x --> from alice']);
    const r = await forge?.upsertComment(gh.repo, n, '<!-- baton:x -->', 'from baton');
    const comments = gh.emulator.state.repo('acme', 'env')?.comments.filter((c) => c.issueNumber === n) ?? [];
    expect(comments.map((c) => [c.user, c.body])).toEqual([
      ['alice', '<!-- baton:x --> from alice'],
      [BATON_LOGIN, '<!-- baton:x -->\nfrom baton'],
    ]);
    expect(r?.changed).toBe(true);
    expectNoViolations(gh);
  });
});

describe('github forge settings', () => {
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n';
  it('accepts the App key as PEM, PEM with literal \\n, base64, or a file path', () => {
    expect(privateKeyFrom({ PRIVATE_KEY: pem })).toBe(pem);
    expect(privateKeyFrom({ PRIVATE_KEY: pem.replaceAll('\n', '\\n') })).toBe(pem);
    expect(privateKeyFrom({ PRIVATE_KEY: Buffer.from(pem).toString('base64') })).toBe(pem);
    expect(privateKeyFrom({ PRIVATE_KEY_PATH: '/keys/app.pem' }, (p) => (p === '/keys/app.pem' ? pem : ''))).toBe(pem);
    const err = (() => {
      try {
        privateKeyFrom({ PRIVATE_KEY: 'not-a-key-but-a-secret-value' });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).toMatch(/not a PEM private key/);
    expect(err?.message).not.toContain('not-a-key-but-a-secret-value');
  });

  it('prefers the App over a token, and configures nothing without either', () => {
    expect(githubAuthMode({ APP_ID: '1', PRIVATE_KEY: pem, GITHUB_TOKEN: 't' })).toBe('app');
    expect(githubAuthMode({ GITHUB_TOKEN: 't' })).toBe('token');
    expect(githubAuthMode({ APP_ID: '1' })).toBe('none');
    expect(githubForgeFromSettings({})).toBeUndefined();
  });
});

describe('github forge as a GitHub App', () => {
  it('authenticates with an installation token from the App key and commits as <slug>[bot]', async () => {
    const gh = await emulatedGitHub({ 'a.yaml': 'a: 1\n' });
    const { privateKey } = gh.emulator.enableApp(4242, 'baton-test');
    const forge = githubForgeFromSettings({ APP_ID: '4242', PRIVATE_KEY: privateKey, GITHUB_API_URL: gh.emulator.url }, { tuning: FAST });
    expect(forge).toBeInstanceOf(GitHubForge);
    expect(await forge?.selfLogin()).toBe('baton-test[bot]');
    const snap = await forge?.readFiles(gh.repo, 'main', ['a.yaml']);
    const result = await forge?.write(gh.repo, { branch: 'main', expectedHead: snap?.head ?? '', message: 'as app\n', changes: [{ type: 'write', path: 'a.yaml', contents: 'a: 2\n' }] });
    expect(result?.status).toBe('committed');
    const repo = gh.emulator.state.repo('acme', 'env');
    expect((await repo?.git.commitInfo(result?.status === 'committed' ? result.commit : ''))?.author).toBe('baton-test[bot]');
    const n = gh.emulator.openPull(gh.repo, { head: 'main', base: 'main', title: 't', user: 'alice' });
    gh.emulator.addComments(gh.repo, n, 'alice', ['<!-- baton:y --> quoted']);
    await forge?.upsertComment(gh.repo, n, '<!-- baton:y -->', 'report');
    expect(repo?.comments.filter((c) => c.issueNumber === n).map((c) => c.user)).toEqual(['alice', 'baton-test[bot]']);
    // The installation client carries the same retry tuning: two 5xx cost milliseconds, not Octokit's default seconds.
    gh.emulator.faults.failNext(2, 502);
    const started = Date.now();
    expect(await forge?.headOf(gh.repo, 'main')).toMatch(/^[0-9a-f]{40}$/);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(gh.emulator.violations).toEqual([]);
    await gh.emulator.close();
  });
});
