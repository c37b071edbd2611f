/**
 * The exact requests the GitLab adapter sends, pinned with nock: every request mocked, every mock
 * used, anything else fails. The emulator proves behaviour; this proves the wire format GitLab documents.
 */

import nock from 'nock';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';

const BASE = 'http://gitlab.test';
const TOKEN = 'glpat-wire-test';
const HEAD = 'a'.repeat(40);

describe('gitlab adapter wire format', () => {
  beforeAll(() => {
    nock.disableNetConnect();
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });
  afterAll(() => {
    nock.enableNetConnect();
  });

  it('reads the head, then the blobs at that commit, in GraphQL documents whose branch and paths are variables', async () => {
    const bodies: { query: string; variables: Record<string, unknown> }[] = [];
    const record = (body: { query: string; variables: Record<string, unknown> }): boolean => {
      bodies.push(body);
      return true;
    };
    nock(BASE, { reqheaders: { authorization: `Bearer ${TOKEN}` } })
      .post('/api/graphql', record)
      .reply(200, { data: { project: { repository: { h0: { lastCommit: { sha: HEAD } } } } } })
      .post('/api/graphql', record)
      // GitLab's BigInt: a JSON string.
      .reply(200, { data: { project: { repository: { b0: { nodes: [{ path: 'a "quoted" }.yaml', size: '5', rawTextBlob: 'a: 1\n' }] } } } } });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    const snap = await forge.readFiles('acme/platform/env', 'main', ['a "quoted" }.yaml', 'missing.yaml']);
    expect(snap).toEqual({ head: HEAD, files: { 'a "quoted" }.yaml': 'a: 1\n', 'missing.yaml': null } });
    expect(bodies.map((b) => b.variables)).toEqual([
      { fullPath: 'acme/platform/env', h0: 'main' },
      { fullPath: 'acme/platform/env', r0: HEAD, p0: ['a "quoted" }.yaml', 'missing.yaml'] },
    ]);
    expect(bodies[0]?.query).toContain('h0: tree(ref: $h0) { lastCommit { sha } }');
    // A hostile path never reaches the query text; blobs are read at the sha the head query named.
    expect(bodies[1]?.query).not.toContain('quoted');
    // Page size = paths asked for: GitLab multiplies the blobs cost by first/100.
    expect(bodies[1]?.query).toContain('b0: blobs(ref: $r0, paths: $p0, first: 2)');
  });

  it('a second read asks for the head and the blobs at the head it last saw in one document', async () => {
    const bodies: { query: string; variables: Record<string, unknown> }[] = [];
    nock(BASE)
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { h0: { lastCommit: { sha: HEAD } } } } } })
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { b0: { nodes: [{ path: 'a.yaml', size: 5, rawTextBlob: 'a: 1\n' }] } } } } })
      .post('/api/graphql', (body: { query: string; variables: Record<string, unknown> }) => {
        bodies.push(body);
        return true;
      })
      .reply(200, { data: { project: { repository: { h0: { lastCommit: { sha: HEAD } }, b0: { nodes: [{ path: 'a.yaml', size: 5, rawTextBlob: 'a: 1\n' }] } } } } });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    await forge.readFiles('acme/env', 'main', ['a.yaml']);
    expect(await forge.readFiles('acme/env', 'main', ['a.yaml'])).toEqual({ head: HEAD, files: { 'a.yaml': 'a: 1\n' } });
    expect(bodies[0]?.variables).toEqual({ fullPath: 'acme/env', h0: 'main', r0: HEAD, p0: ['a.yaml'] });
  });

  it('reads both branches and the rolling MR in one document; a head GitLab errors on is asked over REST', async () => {
    const bodies: { query: string; variables: Record<string, unknown> }[] = [];
    const record = (body: { query: string; variables: Record<string, unknown> }): boolean => {
      bodies.push(body);
      return true;
    };
    const mrNode = { iid: '7', state: 'opened', title: 'Deploy to staging', description: 'web 1 → 2', webUrl: `${BASE}/acme/env/-/merge_requests/7`, targetBranch: 'main' };
    nock(BASE)
      .post('/api/graphql', record)
      .reply(200, {
        data: { project: { newest: { nodes: [mrNode] }, open: { nodes: [mrNode] }, repository: { h0: { lastCommit: { sha: HEAD } }, h1: null } } },
        errors: [{ message: 'Internal server error', path: ['project', 'repository', 'h1'] }],
      })
      .get('/api/v4/projects/acme%2Fenv/repository/branches/baton%2Fstaging')
      .reply(404, { message: '404 Branch Not Found' })
      .post('/api/graphql', record)
      .reply(200, { data: { project: { repository: { b0: { nodes: [{ path: 'a.yaml', size: 5, rawTextBlob: 'a: 1\n' }] } } } } });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    const read = await forge.readRolling('acme/env', 'main', 'baton/staging', ['a.yaml']);
    const open = { id: '7', number: 7, url: mrNode.webUrl, title: 'Deploy to staging', body: 'web 1 → 2', targetBranch: 'main' };
    expect(read).toEqual({ base: { head: HEAD, files: { 'a.yaml': 'a: 1\n' } }, state: 'open', open });
    expect(bodies[0]?.variables).toEqual({ fullPath: 'acme/env', h0: 'main', h1: 'baton/staging', mr: ['baton/staging'] });
    expect(bodies[0]?.query).toContain('newest: mergeRequests(sourceBranches: $mr, first: 1)');
    expect(bodies[0]?.query).toContain('open: mergeRequests(sourceBranches: $mr, state: opened, first: 1)');
    // The open MR the read saw, with this very text, needs no call at all.
    expect(await forge.reviews.ensureMergeRequest('acme/env', { sourceBranch: 'baton/staging', targetBranch: 'main', title: 'Deploy to staging', body: 'web 1 → 2' }, read.open)).toEqual({ number: 7, url: mrNode.webUrl, created: false });
  });

  it('writes one commit whose updates name the planned head as last_commit_id, as the Commits API documents', async () => {
    let commitBody: unknown;
    nock(BASE)
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { h0: { lastCommit: { sha: HEAD } } } } } })
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { b0: { nodes: [{ path: 'a.yaml', size: 5, rawTextBlob: 'a: 1\n' }] } } } } })
      .post('/api/v4/projects/acme%2Fenv/repository/commits', (body: unknown) => {
        commitBody = body;
        return true;
      })
      .reply(201, { id: 'c'.repeat(40), parent_ids: [HEAD], web_url: `${BASE}/acme/env/-/commit/${'c'.repeat(40)}` });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    const snap = await forge.readFiles('acme/env', 'main', ['a.yaml', 'new.yaml']);
    const r = await forge.write('acme/env', {
      branch: 'main',
      expectedHead: snap.head,
      message: 'web 1 → 2\n\nBaton-Event: x\n',
      changes: [
        { type: 'write', path: 'a.yaml', contents: 'a: 2\n' },
        { type: 'write', path: 'new.yaml', contents: 'n: 1\n' },
      ],
    });
    expect(r).toEqual({ status: 'committed', commit: 'c'.repeat(40), url: `${BASE}/acme/env/-/commit/${'c'.repeat(40)}` });
    expect(commitBody).toEqual({
      branch: 'main',
      commit_message: 'web 1 → 2\n\nBaton-Event: x\n',
      actions: [
        { action: 'update', file_path: 'a.yaml', content: 'a: 2\n', last_commit_id: HEAD },
        { action: 'create', file_path: 'new.yaml', content: 'n: 1\n' },
      ],
    });
  });

  it('creates a missing branch in the commit call itself: start_sha without force, and no last_commit_id', async () => {
    let commitBody: unknown;
    nock(BASE)
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { b0: { nodes: [{ path: 'a.yaml' }] } } } } })
      .post('/api/v4/projects/acme%2Fenv/repository/commits', (body: unknown) => {
        commitBody = body;
        return true;
      })
      .reply(201, { id: 'c'.repeat(40), parent_ids: [HEAD] });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    const r = await forge.write('acme/env', { branch: 'baton/staging', expectedHead: HEAD, replace: null, message: 'm\n', changes: [{ type: 'write', path: 'a.yaml', contents: 'x' }] });
    expect(r).toEqual({ status: 'committed', commit: 'c'.repeat(40) });
    expect(commitBody).toEqual({ branch: 'baton/staging', commit_message: 'm\n', start_sha: HEAD, actions: [{ action: 'update', file_path: 'a.yaml', content: 'x' }] });
  });

  it("maps GitLab's stale-file answer, and a branch created meanwhile, to stale", async () => {
    nock(BASE)
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { b0: { nodes: [{ path: 'a.yaml' }] } } } } })
      .post('/api/v4/projects/acme%2Fenv/repository/commits')
      .reply(400, { message: 'The file has changed since you started editing it: a.yaml' })
      .post('/api/v4/projects/acme%2Fenv/repository/commits')
      .reply(400, { message: "A branch called 'baton/x' already exists. Switch to that branch in order to make changes" });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    expect(await forge.write('acme/env', { branch: 'main', expectedHead: HEAD, message: 'm\n', changes: [{ type: 'write', path: 'a.yaml', contents: 'x' }] })).toEqual({ status: 'stale' });
    expect(await forge.write('acme/env', { branch: 'baton/x', expectedHead: HEAD, replace: null, message: 'm\n', changes: [{ type: 'write', path: 'a.yaml', contents: 'x' }] })).toEqual({ status: 'stale' });
  });

  it('waits the Retry-After GitLab names on 429, then succeeds', async () => {
    const waits: number[] = [];
    nock(BASE)
      .get('/api/v4/projects/acme%2Fenv/repository/branches/main')
      .reply(429, 'Retry later\n', { 'retry-after': '2', 'ratelimit-remaining': '0' })
      .get('/api/v4/projects/acme%2Fenv/repository/branches/main')
      .reply(200, { name: 'main', commit: { id: HEAD } });
    const forge = new GitlabForge({ url: BASE, token: TOKEN, retry: { sleep: async (ms) => void waits.push(ms) } });
    expect(await forge.headOf('acme/env', 'main')).toBe(HEAD);
    expect(waits).toEqual([2000]);
  });

  it('refuses a blob GitLab cut short instead of writing a truncated file back', async () => {
    nock(BASE)
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { h0: { lastCommit: { sha: HEAD } } } } } })
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { b0: { nodes: [{ path: 'big.yaml', size: '20000000', rawTextBlob: 'partial' }] } } } } });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    await expect(forge.readFiles('acme/env', 'main', ['big.yaml'])).rejects.toMatchObject({ status: 413 });
  });
});
