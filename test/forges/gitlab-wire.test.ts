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
const LAST = 'b'.repeat(40);

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

  it('reads through the branch head and one GraphQL query whose paths are variables', async () => {
    let graphqlBody: { query: string; variables: Record<string, unknown> } | undefined;
    nock(BASE, { reqheaders: { 'private-token': TOKEN } })
      .get('/api/v4/projects/acme%2Fplatform%2Fenv/repository/branches/main')
      .reply(200, { name: 'main', commit: { id: HEAD } });
    nock(BASE, { reqheaders: { authorization: `Bearer ${TOKEN}` } })
      .post('/api/graphql', (body: { query: string; variables: Record<string, unknown> }) => {
        graphqlBody = body;
        return true;
      })
      .reply(200, {
        data: {
          project: {
            repository: {
              // GitLab's BigInt: a JSON string.
              blobs: { nodes: [{ path: 'a "quoted" }.yaml', size: '5', rawTextBlob: 'a: 1\n' }] },
              c0: { lastCommit: { sha: LAST } },
              c1: { lastCommit: null },
            },
          },
        },
      });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    const snap = await forge.readFiles('acme/platform/env', 'main', ['a "quoted" }.yaml', 'missing.yaml']);
    expect(snap).toEqual({ head: HEAD, files: { 'a "quoted" }.yaml': 'a: 1\n', 'missing.yaml': null } });
    expect(graphqlBody?.variables).toEqual({ fullPath: 'acme/platform/env', ref: HEAD, paths: ['a "quoted" }.yaml', 'missing.yaml'], p0: 'a "quoted" }.yaml', p1: 'missing.yaml' });
    // A hostile path never reaches the query text.
    expect(graphqlBody?.query).not.toContain('quoted');
    expect(graphqlBody?.query).toContain('blobs(ref: $ref, paths: $paths');
    // Page size = paths asked for: GitLab multiplies the blobs cost by first/100.
    expect(graphqlBody?.query).toContain('first: 2)');
  });

  it('writes one commit whose actions carry file_path and last_commit_id, as the Commits API documents', async () => {
    let commitBody: unknown;
    nock(BASE)
      .get('/api/v4/projects/acme%2Fenv/repository/branches/main')
      .reply(200, { name: 'main', commit: { id: HEAD } })
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { blobs: { nodes: [{ path: 'a.yaml', size: 5, rawTextBlob: 'a: 1\n' }] }, c0: { lastCommit: { sha: LAST } }, c1: null } } } })
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
        { action: 'update', file_path: 'a.yaml', content: 'a: 2\n', last_commit_id: LAST },
        { action: 'create', file_path: 'new.yaml', content: 'n: 1\n' },
      ],
    });
  });

  it("maps GitLab's stale-file answer to stale", async () => {
    nock(BASE)
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { blobs: { nodes: [{ path: 'a.yaml', size: 5 }] }, c0: { lastCommit: { sha: LAST } } } } } })
      .post('/api/v4/projects/acme%2Fenv/repository/commits')
      .reply(400, { message: 'The file has changed since you started editing it: a.yaml' });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    const r = await forge.write('acme/env', { branch: 'main', expectedHead: HEAD, message: 'm\n', changes: [{ type: 'write', path: 'a.yaml', contents: 'x' }] });
    expect(r).toEqual({ status: 'stale' });
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
      .get('/api/v4/projects/acme%2Fenv/repository/branches/main')
      .reply(200, { name: 'main', commit: { id: HEAD } })
      .post('/api/graphql')
      .reply(200, { data: { project: { repository: { blobs: { nodes: [{ path: 'big.yaml', size: '20000000', rawTextBlob: 'partial' }] }, c0: { lastCommit: { sha: LAST } } } } } });
    const forge = new GitlabForge({ url: BASE, token: TOKEN });
    await expect(forge.readFiles('acme/env', 'main', ['big.yaml'])).rejects.toMatchObject({ status: 413 });
  });
});
