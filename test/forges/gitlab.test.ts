import { buildClientSchema } from 'graphql';
import type { GraphQLObjectType, GraphQLSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitlabForge } from '../../src/forges/gitlab/gitlab-forge.js';
import { packReads, readPlanComplexity } from '../../src/forges/gitlab/read-query.js';
import { RetryableError } from '../../src/forges/types.js';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import { gitlab2022Introspection, gitlabGraphqlSchema } from '../emulators/gitlab/schema.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';
import { forgeContract } from './contract.js';

const noSleep = { sleep: () => Promise.resolve() };

forgeContract('gitlab (emulator)', async (seed) => {
  const emu = await startGitlabEmulator();
  const project = await emu.addProject('acme/platform/env', seed);
  return {
    forge: new GitlabForge({ url: emu.url, token: emu.token, retry: noSleep }),
    repo: 'acme/platform/env',
    branch: 'main',
    externalCommit: (files, branch) => project.repo.commit(files, 'external', branch),
    headMessage: async (branch = 'main') => project.repo.message(branch),
    cleanup: () => emu.close(),
  };
});

describe('gitlab read packing', () => {
  it('packs any read into documents under the limit, heads and MRs first, every path exactly once', () => {
    for (const limit of [100, 250]) {
      for (const n of [0, 1, 17, 58, 59, 100, 101, 250]) {
        const paths = Array.from({ length: n }, (_, i) => `envs/p${i}.yaml`);
        const blobs = [
          { ref: 'a'.repeat(40), paths, withContent: true },
          { ref: 'b'.repeat(40), paths, withContent: true },
        ];
        const plans = packReads('g/p', { heads: ['main', 'baton/x'], mergeRequests: 'baton/x' }, blobs, limit);
        expect(plans[0]).toMatchObject({ heads: ['main', 'baton/x'], mergeRequests: 'baton/x' });
        expect(plans.slice(1).every((p) => p.heads.length === 0 && p.mergeRequests === undefined)).toBe(true);
        for (const p of plans) expect(readPlanComplexity(p)).toBeLessThanOrEqual(limit);
        for (const p of plans) for (const b of p.blobs) expect(b.paths.length).toBeLessThanOrEqual(100);
        for (const ref of ['a'.repeat(40), 'b'.repeat(40)]) {
          const sent = plans.flatMap((p) => p.blobs.filter((b) => b.ref === ref).flatMap((b) => b.paths));
          expect(sent).toEqual(paths);
        }
      }
    }
    // The figures docs/gitlab.md quotes.
    expect(packReads('g/p', { heads: [] }, [{ ref: 'a', paths: Array.from({ length: 100 }, String), withContent: true }]).map((p) => readPlanComplexity(p))).toEqual([214]);
    const rolling58 = packReads('g/p', { heads: ['main', 'baton/x'], mergeRequests: 'baton/x' }, ['a', 'b'].map((ref) => ({ ref, paths: Array.from({ length: 58 }, String), withContent: true })));
    expect(rolling58.map((p) => readPlanComplexity(p))).toEqual([248]);
  });
});

describe('gitlab forge', () => {
  let emu: GitlabEmulator;
  let forge: GitlabForge;
  const repo = 'acme/env';
  beforeAll(async () => {
    emu = await startGitlabEmulator();
    await emu.addProject(repo, { 'a.yaml': 'a: 1\n', 'b.yaml': 'b: 1\n', 'dir/c.yaml': 'c: 1\n' });
    forge = new GitlabForge({ url: emu.url, token: emu.token, retry: noSleep });
  });
  afterAll(async () => {
    await emu?.close();
  });

  it('reads files in two GraphQL documents the first time (the head, then the blobs at that commit), in one once the head is known', async () => {
    const fresh = new GitlabForge({ url: emu.url, token: emu.token, retry: noSleep });
    emu.resetCounts();
    const snap = await fresh.readFiles(repo, 'main', ['a.yaml', 'b.yaml', 'dir/c.yaml', 'missing.yaml']);
    expect(snap.files).toEqual({ 'a.yaml': 'a: 1\n', 'b.yaml': 'b: 1\n', 'dir/c.yaml': 'c: 1\n', 'missing.yaml': null });
    expect(snap.head).toBe(await emu.project(repo).repo.head('main'));
    expect(emu.counts()).toEqual({ 'POST /graphql': 2 });
    emu.resetCounts();
    expect(await fresh.readFiles(repo, 'main', ['a.yaml', 'missing.yaml'])).toEqual({ head: snap.head, files: { 'a.yaml': 'a: 1\n', 'missing.yaml': null } });
    expect(emu.counts()).toEqual({ 'POST /graphql': 1 });
  });

  it('a head that moved since the last read costs one more document, and the files are those of the new head', async () => {
    const fresh = new GitlabForge({ url: emu.url, token: emu.token, retry: noSleep });
    await fresh.readFiles(repo, 'main', ['a.yaml']);
    const moved = await emu.project(repo).repo.commit({ 'moved.yaml': 'm: 1\n' });
    emu.resetCounts();
    const snap = await fresh.readFiles(repo, 'main', ['a.yaml', 'moved.yaml']);
    expect(snap).toEqual({ head: moved, files: { 'a.yaml': 'a: 1\n', 'moved.yaml': 'm: 1\n' } });
    expect(emu.counts()).toEqual({ 'POST /graphql': 2 });
  });

  it('writes a read file as one Commits API call, with create/update/delete chosen per path', async () => {
    const snap = await forge.readFiles(repo, 'main', ['a.yaml', 'b.yaml', 'new.yaml']);
    emu.resetCounts();
    const r = await forge.write(repo, {
      branch: 'main',
      expectedHead: snap.head,
      message: 'bump\n\nBaton-Event: t\n',
      changes: [
        { type: 'write', path: 'a.yaml', contents: 'a: 2\n' },
        { type: 'write', path: 'new.yaml', contents: 'n: 1\n' },
        { type: 'delete', path: 'b.yaml' },
      ],
    });
    expect(emu.errors).toEqual([]);
    expect(r.status).toBe('committed');
    expect(emu.counts()).toEqual({ 'POST /projects/:id/repository/commits': 1 });
    const p = emu.project(repo);
    expect(r.status === 'committed' && (await p.store.parents(r.commit))).toEqual([snap.head]);
    expect(await p.repo.show('main', 'a.yaml')).toBe('a: 2\n');
    expect(await p.repo.show('main', 'new.yaml')).toBe('n: 1\n');
    await expect(p.repo.show('main', 'b.yaml')).rejects.toThrow();
  });

  it('a file created by someone else since the read makes the write stale (create of an existing file)', async () => {
    const snap = await forge.readFiles(repo, 'main', ['late.yaml']);
    await emu.project(repo).repo.commit({ 'late.yaml': 'someone: else\n' });
    const r = await forge.write(repo, { branch: 'main', expectedHead: snap.head, message: 'x\n', changes: [{ type: 'write', path: 'late.yaml', contents: 'mine\n' }] });
    expect(r).toEqual({ status: 'stale' });
    expect(await emu.project(repo).repo.show('main', 'late.yaml')).toBe('someone: else\n');
  });

  it('a write to an unknown branch fails and is not reported as stale', async () => {
    const head = (await forge.headOf(repo, 'main')) ?? '';
    await expect(forge.write(repo, { branch: 'nope', expectedHead: head, message: 'x\n', changes: [{ type: 'write', path: 'a.yaml', contents: 'x' }] })).rejects.toMatchObject({ status: 404 });
  });

  it('retries 5xx and honours Retry-After on 429', async () => {
    const waits: number[] = [];
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 1_500)));
    const patient = new GitlabForge({ url: emu.url, token: emu.token, retry: { baseDelayMs: 1, sleep: (ms) => (waits.push(ms), sleep(ms)) } });
    emu.failNext(2, 502);
    expect(await patient.headOf(repo, 'main')).toMatch(/^[0-9a-f]{40}$/);
    emu.rateLimit(1, 1_000);
    await patient.headOf(repo, 'main');
    expect(await patient.headOf(repo, 'main')).toMatch(/^[0-9a-f]{40}$/);
    emu.rateLimit(1_000_000);
    expect(waits).toHaveLength(3);
    expect(waits.slice(0, 2).every((w) => w < 100)).toBe(true);
    // The 429's Retry-After (whole seconds), not the backoff schedule.
    expect(waits[2]).toBe(1_000);
  });

  it('gives up with RetryableError after its attempts, or at once when Retry-After is too long', async () => {
    emu.failNext(10, 503);
    await expect(forge.headOf(repo, 'main')).rejects.toBeInstanceOf(RetryableError);
    emu.failNext(0);
    emu.rateLimit(0, 120_000);
    emu.resetCounts();
    const err = await forge.headOf(repo, 'main').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).retryAfterMs).toBeGreaterThan(30_000);
    expect(emu.requests).toHaveLength(1);
    emu.rateLimit(1_000_000);
  });

  it('survives a seeded random fraction of failures', async () => {
    emu.failRandomly(0.3, 42);
    const snap = await forge.readFiles(repo, 'main', ['a.yaml']);
    expect(snap.files['a.yaml']).toBe('a: 2\n');
    emu.failRandomly(0, 0);
  });

  it("reads 50 files with GitLab's complexity limit enforced: documents sized up front, no refused query", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 50; i++) files[`fifty/f${String(i).padStart(2, '0')}.yaml`] = `i: ${i}\n`;
    await emu.project(repo).repo.commit(files);
    emu.resetCounts();
    const refusedBefore = emu.graphqlRefusals.length;
    const scoresBefore = emu.graphqlScores.length;
    const snap = await new GitlabForge({ url: emu.url, token: emu.token, retry: noSleep }).readFiles(repo, 'main', Object.keys(files));
    expect(snap.files).toEqual(files);
    expect(emu.graphqlRefusals.slice(refusedBefore)).toEqual([]);
    // The head (15), then all 50 blobs at once: 2 + (1 + 3 + 1 + 50 + 1) × 1.5 = 86, well under 250.
    expect(emu.counts()).toEqual({ 'POST /graphql': 2 });
    const scores = emu.graphqlScores.slice(scoresBefore);
    // The adapter's cost model and the emulator's scoring of the parsed document agree.
    expect(scores).toEqual([{ heads: ['main'], blobs: [] }, { heads: [], blobs: [{ ref: snap.head, paths: Object.keys(files), withContent: true }] }].map((p) => readPlanComplexity(p)));
    expect(scores).toEqual([15, 86]);
  });

  it('a read the old way (50 paths, first: 100) is refused by the emulator with GitLab\'s message', async () => {
    const vars: Record<string, unknown> = { fullPath: repo, ref: 'main', paths: [] };
    const decls = ['$fullPath: ID!', '$ref: String!', '$paths: [String!]!'];
    const trees: string[] = [];
    for (let i = 0; i < 50; i++) {
      vars[`p${i}`] = `f${i}.yaml`;
      decls.push(`$p${i}: String!`);
      trees.push(`c${i}: tree(ref: $ref, path: $p${i}) { lastCommit { sha } }`);
    }
    (vars['paths'] as string[]).push(...Array.from({ length: 50 }, (_, i) => `f${i}.yaml`));
    const query = `query BatonRead(${decls.join(', ')}) { project(fullPath: $fullPath) { repository { blobs(ref: $ref, paths: $paths, first: 100) { nodes { path size rawTextBlob } } ${trees.join(' ')} } } }`;
    const res = await fetch(`${emu.url}/api/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${emu.token}` }, body: JSON.stringify({ query, variables: vars }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ errors: [{ message: 'Query has complexity of 764, which exceeds max complexity of 250' }] });
  });

  it('believes a lower limit GitLab names in its refusal and re-chunks to fit it', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 60; i++) files[`cx/f${i}.yaml`] = `i: ${i}\n`;
    await emu.project(repo).repo.commit(files);
    const fresh = new GitlabForge({ url: emu.url, token: emu.token, retry: noSleep });
    emu.graphqlComplexityLimit(100);
    emu.resetCounts();
    const refusedBefore = emu.graphqlRefusals.length;
    try {
      const snap = await fresh.readFiles(repo, 'main', Object.keys(files));
      expect(Object.values(snap.files)).toEqual(Object.values(files));
    } finally {
      emu.graphqlComplexityLimit(undefined);
    }
    // The head, one refusal of 60 blobs ("… exceeds max complexity of 100"); then, packed for 100: the head
    // with 50 blobs (score 99), and the other 10.
    expect(emu.graphqlRefusals.slice(refusedBefore).map((r) => r.reason)).toEqual(['Query has complexity of 107, which exceeds max complexity of 100']);
    expect(emu.counts()['POST /graphql']).toBe(4);
    expect(emu.graphqlScores.slice(-2)).toEqual([99, 19]);
  });

  it('serves GraphQL the way GitLab does: BigInt sizes as strings, and documents checked against the real schema', async () => {
    const post = async (query: string, variables: Record<string, unknown>): Promise<unknown> => {
      const res = await fetch(`${emu.url}/api/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${emu.token}` }, body: JSON.stringify({ query, variables }) });
      return res.json();
    };
    const ok = await post('query($p: ID!) { project(fullPath: $p) { repository { blobs(paths: ["a.yaml"], ref: "main", refType: HEADS) { nodes { id path size rawSize } } } } }', { p: repo });
    expect(ok).toMatchObject({ data: { project: { repository: { blobs: { nodes: [{ path: 'a.yaml', size: '5', rawSize: '5', id: expect.stringMatching(/^gid:\/\/gitlab\/Blob\/[0-9a-f]{40}$/) }] } } } } });
    const before = emu.graphqlRefusals.length;
    // `byteSize` is GitHub's name; GitLab's schema has no such field.
    const bad = await post('query($p: ID!) { project(fullPath: $p) { repository { blobs(paths: ["a.yaml"]) { nodes { byteSize } } } } }', { p: repo });
    expect(bad).toMatchObject({ errors: [{ message: expect.stringContaining('byteSize') }] });
    expect(emu.graphqlRefusals.length).toBe(before + 1);
  });

  it("the emulator's schema is GitLab's 2022 introspection with the changes GitLab documents since", () => {
    const old = buildClientSchema(gitlab2022Introspection());
    const now = gitlabGraphqlSchema();
    const blob = (s: GraphQLSchema) => (s.getType('RepositoryBlob') as GraphQLObjectType).getFields();
    const repository = (s: GraphQLSchema) => (s.getType('Repository') as GraphQLObjectType).getFields();
    expect([String(blob(old)['size']?.type), String(blob(old)['rawSize']?.type)]).toEqual(['Int', 'Int']);
    expect([String(blob(now)['size']?.type), String(blob(now)['rawSize']?.type)]).toEqual(['BigInt', 'BigInt']);
    expect(repository(old)['blobs']?.args.map((a) => a.name)).not.toContain('refType');
    for (const f of ['blobs', 'tree', 'paginatedTree']) expect(repository(now)[f]?.args.find((a) => a.name === 'refType')?.type.toString()).toBe('RefType');
    // Nothing else was lost on the way.
    expect(Object.keys(now.getTypeMap()).length).toBe(Object.keys(old.getTypeMap()).length + 1);
  });

  it('right after ensureBranch, a read of that branch is one document: the head it returned is confirmed beside the blobs', async () => {
    const fresh = new GitlabForge({ url: emu.url, token: emu.token, retry: noSleep });
    const head = await fresh.ensureBranch(repo, 'baton/handoff', 'main');
    emu.resetCounts();
    const snap = await fresh.readFiles(repo, 'baton/handoff', ['a.yaml']);
    expect(snap.head).toBe(head);
    expect(emu.counts()).toEqual({ 'POST /graphql': 1 });
  });

  it('lists files under a prefix across pages and an absent prefix as empty', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 130; i++) many[`many/f${String(i).padStart(3, '0')}.yaml`] = `i: ${i}\n`;
    await emu.project(repo).repo.commit(many);
    const listed = await forge.listFiles(repo, 'main', 'many');
    expect(listed.paths).toHaveLength(130);
    expect(listed.paths[0]).toBe('many/f000.yaml');
    expect((await forge.listFiles(repo, 'main', 'nowhere')).paths).toEqual([]);
  });

  it('refuses hostile project paths, branch names and file paths before any request', async () => {
    emu.resetCounts();
    await expect(forge.headOf('../../etc', 'main')).rejects.toThrow(/invalid GitLab project path/);
    await expect(forge.headOf(repo, 'a..b')).rejects.toThrow(/invalid branch/);
    await expect(forge.readFiles(repo, 'main', ['/etc/passwd'])).rejects.toThrow(/not inside/);
    expect(emu.requests).toHaveLength(0);
  });

  it('never puts the token in an error message', async () => {
    const bad = new GitlabForge({ url: emu.url, token: 'glpat-SECRET-VALUE', retry: noSleep });
    const err = await bad.headOf(repo, 'main').catch((e: Error) => e);
    expect(String(err)).toMatch(/401/);
    expect(String(err)).not.toContain('SECRET');
  });
});
