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

  describe('the GraphQL writes of the rolling merge request', () => {
    type GqlError = { type?: string; message: string; path?: string[] };
    const gql = async (query: string, variables: Record<string, unknown> = {}): Promise<{ data?: Record<string, unknown>; errors?: GqlError[] }> =>
      (await call('POST', '/graphql', { query, variables })).json as { data?: Record<string, unknown>; errors?: GqlError[] };
    const repoId = async (): Promise<string> => ((await gql('{ repository(owner: "acme", name: "env") { id } }')).data?.['repository'] as { id: string }).id;
    const git = () => emu.state.repo('acme', 'env')!.git;

    it('createRef takes a repository id and a fully qualified name, once', async () => {
      const id = await repoId();
      const create = 'mutation($i: CreateRefInput!) { createRef(input: $i) { ref { id name } } }';
      const short = await gql(create, { i: { repositoryId: id, name: 'feature-a', oid: head } });
      expect(short.errors?.[0]).toMatchObject({ type: 'UNPROCESSABLE', message: expect.stringMatching(/fully qualified/) });
      expect(await git().refHead('feature-a')).toBeUndefined();
      const made = await gql(create, { i: { repositoryId: id, name: 'refs/heads/feature-a', oid: head } });
      expect(made.data?.['createRef']).toMatchObject({ ref: { name: 'feature-a' } });
      const again = await gql(create, { i: { repositoryId: id, name: 'refs/heads/feature-a', oid: head } });
      expect(again.errors?.[0]).toMatchObject({ type: 'UNPROCESSABLE', message: expect.stringMatching(/already exists/) });
      const unknown = await gql(create, { i: { repositoryId: 'R_nope', name: 'refs/heads/feature-b', oid: head } });
      expect(unknown.errors?.[0]).toMatchObject({ type: 'NOT_FOUND' });
      // Without a repositoryId the document does not even run: recorded as drift.
      await gql('mutation { createRef(input: { name: "refs/heads/x", oid: "' + head + '" }) { ref { id } } }');
      expect(emu.violations.join('\n')).toMatch(/repositoryId/);
      emu.violations.length = 0;
    });

    it('runs several mutations of one document in order; a failed one leaves its field null', async () => {
      const id = await repoId();
      const r = await gql(
        `mutation($ref: CreateRefInput!, $c: CreateCommitOnBranchInput!) { createRef(input: $ref) { ref { id } } createCommitOnBranch(input: $c) { commit { oid } } }`,
        {
          ref: { repositoryId: id, name: 'refs/heads/feature-a', oid: head },
          c: { branch: { repositoryNameWithOwner: 'acme/env', branchName: 'feature-a' }, expectedHeadOid: head, message: { headline: 'on a' }, fileChanges: { additions: [{ path: 'c.txt', contents: 'Yw==' }] } },
        },
      );
      expect(r.data?.['createRef']).toBeNull();
      expect(r.errors?.[0]).toMatchObject({ path: ['createRef'], message: expect.stringMatching(/already exists/) });
      const oid = (r.data?.['createCommitOnBranch'] as { commit: { oid: string } }).commit.oid;
      expect(await git().refHead('feature-a')).toBe(oid);
      expect(emu.violations).toEqual([]);
    });

    it('updateRefs is all or nothing, and beforeOid is a compare-and-swap', async () => {
      const id = await repoId();
      const a = (await git().refHead('feature-a'))!;
      const move = 'mutation($i: UpdateRefsInput!) { updateRefs(input: $i) { clientMutationId } }';
      const refused = await gql(move, {
        i: { repositoryId: id, refUpdates: [{ name: 'refs/heads/main', beforeOid: head, afterOid: a }, { name: 'refs/heads/feature-a', beforeOid: head, afterOid: head, force: true }] },
      });
      expect(refused.errors?.[0]).toMatchObject({ type: 'UNPROCESSABLE' });
      expect(await git().refHead('main')).toBe(head);
      expect(await git().refHead('feature-a')).toBe(a);
      const ok = await gql(move, { i: { repositoryId: id, refUpdates: [{ name: 'refs/heads/feature-b', beforeOid: '0'.repeat(40), afterOid: a }, { name: 'refs/heads/feature-a', beforeOid: a, afterOid: '0'.repeat(40) }] } });
      expect(ok.errors).toBeUndefined();
      expect(await git().refHead('feature-b')).toBe(a);
      expect(await git().refHead('feature-a')).toBeUndefined();
    });

    it('createPullRequest refuses a second open PR for a head, and no commits; updatePullRequest keeps a closed PR on its base', async () => {
      const id = await repoId();
      const open = 'mutation($i: CreatePullRequestInput!) { createPullRequest(input: $i) { pullRequest { id number state baseRefName } } }';
      // main is behind feature-b: nothing to merge.
      const same = await gql(open, { i: { repositoryId: id, baseRefName: 'feature-b', headRefName: 'main', title: 't' } });
      expect(same.errors?.[0]).toMatchObject({ type: 'UNPROCESSABLE', message: 'No commits between feature-b and main' });
      const first = await gql(open, { i: { repositoryId: id, baseRefName: 'main', headRefName: 'feature-b', title: 'b', body: 'one' } });
      const pr = (first.data?.['createPullRequest'] as { pullRequest: { id: string; number: number; state: string } }).pullRequest;
      expect(pr.state).toBe('OPEN');
      const dup = await gql(open, { i: { repositoryId: id, baseRefName: 'main', headRefName: 'feature-b', title: 'b again' } });
      expect(dup.errors?.[0]).toMatchObject({ type: 'UNPROCESSABLE', message: 'A pull request already exists for acme:feature-b.' });
      const listed = await gql('{ repository(owner: "acme", name: "env") { pullRequests(headRefName: "feature-b", first: 5, orderBy: { field: CREATED_AT, direction: DESC }) { nodes { number state body } } } }');
      expect(JSON.stringify(listed.data)).toContain(`"number":${pr.number},"state":"OPEN","body":"one"`);
      const unbounded = await gql('{ repository(owner: "acme", name: "env") { pullRequests(headRefName: "feature-b") { nodes { number } } } }');
      expect(unbounded.errors?.[0]).toMatchObject({ type: 'MISSING_PAGINATION_BOUNDARIES' });
      emu.closePull('acme/env', pr.number);
      const update = 'mutation($i: UpdatePullRequestInput!) { updatePullRequest(input: $i) { pullRequest { title state } } }';
      const rebase = await gql(update, { i: { pullRequestId: pr.id, baseRefName: 'feature-b' } });
      expect(rebase.errors?.[0]).toMatchObject({ type: 'UNPROCESSABLE', message: expect.stringMatching(/closed pull request/) });
      const retitled = await gql(update, { i: { pullRequestId: pr.id, title: 'renamed' } });
      expect(retitled.data?.['updatePullRequest']).toEqual({ pullRequest: { title: 'renamed', state: 'CLOSED' } });
      const gone = await gql(update, { i: { pullRequestId: 'PR_nope', title: 'x' } });
      expect(gone.errors?.[0]).toMatchObject({ type: 'NOT_FOUND' });
      expect(emu.violations).toEqual([]);
    });
  });

  it('refuses requests without valid credentials', async () => {
    const res = await fetch(`${emu.url}/repos/acme/env`, { headers: { authorization: 'token nope' } });
    expect(res.status).toBe(401);
  });
});
