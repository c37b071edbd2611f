/** The emulator itself: it must refuse what GitHub refuses, or the adapter tests prove nothing. */

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startGitHubEmulator } from '../emulators/github/server.js';
import type { GitHubEmulator } from '../emulators/github/server.js';

describe('GitHub emulator', () => {
  let emu: GitHubEmulator;
  let token: string;
  let head: string;
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> => {
    const res = await fetch(`${emu.url}${path}`, {
      method,
      headers: { authorization: `token ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
  };

  beforeAll(async () => {
    emu = await startGitHubEmulator();
    const repo = await emu.createRepo('acme/env', { 'a.txt': 'a\n' });
    head = await repo.testRepo.head();
    token = emu.addUser('baton-bot');
    emu.grant('acme/env', 'baton-bot', 'write');
  });
  beforeEach(() => {
    emu.violations.length = 0;
    emu.faults.clear();
  });
  afterAll(async () => {
    await emu.close();
  });

  it('records a REST body that does not fit the OpenAPI schema, and refuses it', async () => {
    const r = await call('POST', `/repos/acme/env/statuses/${head}`, { state: 'bogus', context: 'baton/x' });
    expect(r.status).toBe(422);
    expect(emu.violations.join('\n')).toMatch(/statuses\/\{sha\}: body\/state must be equal to one of the allowed values/);
  });

  it('records unknown query parameters, wrong parameter types and unknown paths', async () => {
    await call('GET', '/repos/acme/env/pulls?sate=open');
    await call('GET', '/repos/acme/env/issues/abc/comments');
    await call('GET', '/repos/acme/env/no-such-endpoint');
    await call('DELETE', '/repos/acme/env/git/trees/abc');
    expect(emu.violations).toHaveLength(4);
    expect(emu.violations[0]).toMatch(/query parameter sate is not defined/);
    expect(emu.violations[1]).toMatch(/issue_number="abc" is not an integer/);
    expect(emu.violations[2]).toMatch(/not a path in GitHub's REST API description/);
    expect(emu.violations[3]).toMatch(/DELETE is not defined/);
  });

  it('records GraphQL documents that do not validate against the published schema', async () => {
    const r = await call('POST', '/graphql', { query: '{ repository(owner: "acme", name: "env") { defaultBranchName } }' });
    expect(r.status).toBe(200);
    expect(r.json['errors']).toBeDefined();
    expect(emu.violations.join('\n')).toMatch(/Cannot query field "defaultBranchName" on type "Repository"/);
  });

  it('answers a stale expectedHeadOid with STALE_DATA and leaves the branch alone', async () => {
    const r = await call('POST', '/graphql', {
      query: 'mutation($i: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $i) { commit { oid } } }',
      variables: { i: { branch: { repositoryNameWithOwner: 'acme/env', branchName: 'main' }, expectedHeadOid: 'f'.repeat(40), message: { headline: 'x' }, fileChanges: { additions: [{ path: 'b', contents: 'Yg==' }] } } },
    });
    expect((r.json['errors'] as { type: string; message: string }[])[0]).toMatchObject({ type: 'STALE_DATA', message: expect.stringMatching(/Expected branch to point to/) });
    expect(await emu.state.repo('acme', 'env')?.git.refHead('main')).toBe(head);
    expect(emu.violations).toEqual([]);
  });

  it('enforces the 65,536-character comment limit with a 422', async () => {
    const n = emu.openPull('acme/env', { head: 'main', base: 'main', title: 't', user: 'x' });
    expect((await call('POST', `/repos/acme/env/issues/${n}/comments`, { body: 'é'.repeat(65_536) })).status).toBe(201);
    const r = await call('POST', `/repos/acme/env/issues/${n}/comments`, { body: 'é'.repeat(65_537) });
    expect(r.status).toBe(422);
    expect(JSON.stringify(r.json)).toMatch(/too long \(maximum is 65536 characters\)/);
  });

  it('sends rate-limit headers and can fail on demand, deterministically by seed', async () => {
    const ok = await call('GET', '/repos/acme/env');
    expect(ok.headers.get('x-ratelimit-limit')).toBe('5000');
    expect(Number(ok.headers.get('x-ratelimit-remaining'))).toBeLessThan(5000);
    emu.faults.rateLimitNext(1, { status: 403, retryAfterS: 7 });
    const limited = await call('GET', '/repos/acme/env');
    expect(limited.status).toBe(403);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(String(limited.json['message'])).toMatch(/secondary rate limit/);
    const run = async (): Promise<number[]> => {
      emu.faults.failRandomly(0.3, 42);
      const out: number[] = [];
      for (let i = 0; i < 40; i++) out.push((await call('GET', '/repos/acme/env')).status);
      emu.faults.clear();
      return out;
    };
    const first = await run();
    expect(first).toEqual(await run());
    const failed = first.filter((s) => s !== 200).length;
    expect(failed).toBeGreaterThan(4);
    expect(failed).toBeLessThan(24);
  });

  it('refuses requests without valid credentials', async () => {
    const res = await fetch(`${emu.url}/repos/acme/env`, { headers: { authorization: 'token nope' } });
    expect(res.status).toBe(401);
  });
});
