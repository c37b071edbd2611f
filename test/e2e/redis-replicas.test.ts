/**
 * Two Baton replicas on one Redis (REDIS_URL), in this process: the queue, the de-duplication, the
 * debounce windows, the dead letters and the watermarks are shared, so what the replicas do together
 * is what one would do alone. Uses the machine's Redis at 127.0.0.1:6379 under a unique key prefix.
 */

import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { listFailed, retryFailed } from '../../src/cli/failed.js';
import { githubForgeFromSettings } from '../../src/forges/github/index.js';
import { REGISTRY_AUTH, distributionPush, eventually, startTestBaton } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import { REDIS_URL, deleteKeys, redisAnswers } from '../helpers/redis.js';
import { HOST, gitOf, history, manyImagesSeed } from '../helpers/replicas.js';
import { FAST, emulatedGitHub } from '../emulators/github/harness.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';

const why = await redisAnswers(REDIS_URL);
if (why) console.warn(`skipping the two-replica Redis tests: ${why}`);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

function freshPrefix(): string {
  const prefix = `baton-e2e-${randomUUID().slice(0, 8)}`;
  cleanups.push(async () => {
    const r = new Redis(REDIS_URL, { commandTimeout: 5_000 });
    await deleteKeys(r, prefix);
    r.disconnect();
  });
  return prefix;
}

const push = (t: TestBaton, id: string, app: number, tag: string) => t.post('/webhooks/registry/distribution', distributionPush(id, HOST, `team/app${app}`, tag), REGISTRY_AUTH);

describe.skipIf(why !== undefined)('two replicas on Redis', () => {
  it('a window’s events arriving at both replicas, each delivered to both, make one commit naming each event once', async () => {
    const N = 40;
    const repo = await createBareRepo(manyImagesSeed(N));
    cleanups.push(() => repo.cleanup());
    const env = { REDIS_URL, BATON_REDIS_PREFIX: freshPrefix(), BATON_DEBOUNCE_MS: '6000' };
    const a = await startTestBaton({ repo, env });
    cleanups.push(() => a.close());
    const b = await startTestBaton({ repo, env });
    cleanups.push(() => b.close());

    const answers = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
        const one = await push(first, `d${i}`, i, '1.1.0');
        // The sender (or a load balancer retrying) delivers it again, to the other replica.
        const two = await push(second, `d${i}`, i, '1.1.0');
        return [one, two] as const;
      }),
    );
    for (const [one, two] of answers) {
      expect(one.status).toBe(202);
      expect(two.status).toBe(202);
      expect(JSON.stringify(two.json)).toContain('duplicate');
    }
    await eventually(async () => (await history(gitOf(repo.bare))).commits > 1, 30_000, 'the window’s commit');
    await a.idle(30_000);
    await b.idle(30_000);
    const h = await history(gitOf(repo.bare));
    expect(h.commits).toBe(2); // the seed and one commit for the window
    expect(h.parents).toEqual([1, 0]);
    for (let i = 0; i < N; i++) {
      expect(h.changes.get(`envs/staging/app${i}.yaml`)).toBe(2); // seeded, then bumped once
      expect(h.events.get(`d${i}`)).toBe(1);
      expect(await repo.show('main', `envs/staging/app${i}.yaml`)).toContain('"1.1.0"');
    }
  });

  it('a dead letter is seen by every replica, listed by `baton failed` and worked again by `baton retry` through Redis', async () => {
    const repo = await createBareRepo(manyImagesSeed(2));
    cleanups.push(() => repo.cleanup());
    const hook = join(repo.bare, 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\necho "main is frozen" >&2\nexit 1\n', { mode: 0o755 });
    const prefix = freshPrefix();
    const env = { REDIS_URL, BATON_REDIS_PREFIX: prefix, BATON_DEBOUNCE_MS: '50' };
    const a = await startTestBaton({ repo, env });
    cleanups.push(() => a.close());
    const b = await startTestBaton({ repo, env });
    cleanups.push(() => b.close());

    expect((await push(a, 'frozen-1', 0, '2.0.0')).status).toBe(202);
    await eventually(() => b.baton.pipeline.queue.stats().dead === 1, 20_000, 'the dead letter, seen from the other replica');
    const ready = (await (await fetch(`${b.url}/readyz`)).json()) as { deadLetters: { id: string; reason: string }[] };
    expect(ready.deadLetters).toMatchObject([{ id: 'registry/distribution:frozen-1' }]);
    expect(ready.deadLetters[0]?.reason).toContain('main is frozen');
    const place = { url: REDIS_URL, prefix };
    const dataDir = await tempDir('baton-cli-');
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    expect((await listFailed(dataDir, Date.now(), place)).map((d) => d.id)).toEqual(['registry/distribution:frozen-1']);

    await rm(hook);
    expect(await retryFailed(dataDir, ['registry/distribution:frozen-1', 'registry/distribution:nope'], place)).toEqual({ requested: ['registry/distribution:frozen-1'], unknown: ['registry/distribution:nope'] });
    await eventually(async () => (await repo.show('main', 'envs/staging/app0.yaml')).includes('"2.0.0"'), 20_000, 'the retried event landed');
    await eventually(() => a.baton.pipeline.queue.stats().dead === 0 && a.baton.pipeline.queue.stats().pending === 0, 10_000, 'no dead letter left');
    expect(await listFailed(dataDir, Date.now(), place)).toEqual([]);
  });

  it('is not ready and refuses to acknowledge while Redis does not answer', async () => {
    const repo = await createBareRepo(manyImagesSeed(1));
    cleanups.push(() => repo.cleanup());
    // A port nothing listens on: Redis is "down".
    const t = await startTestBaton({ repo, env: { REDIS_URL: 'redis://127.0.0.1:1', BATON_REDIS_PREFIX: freshPrefix() } });
    cleanups.push(() => t.close());
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/queue cannot take work/);
    // Never a 202 for an event that was not stored.
    expect((await push(t, 'nowhere', 0, '1.2.0')).status).toBeGreaterThanOrEqual(500);
  });

  it('a rolling merge-request branch written by one replica and then the other carries both bumps (the second rebuilds it)', async () => {
    const seed = manyImagesSeed(2);
    seed['.baton.yml'] = (seed['.baton.yml'] ?? '').replace('write: commit', 'write: merge-request');
    const repo = await createBareRepo(seed);
    cleanups.push(() => repo.cleanup());
    const env = { REDIS_URL, BATON_REDIS_PREFIX: freshPrefix(), BATON_DEBOUNCE_MS: '50' };
    const a = await startTestBaton({ repo, env });
    cleanups.push(() => a.close());
    const b = await startTestBaton({ repo, env });
    cleanups.push(() => b.close());
    expect((await push(a, 'm0', 0, '1.1.0')).status).toBe(202);
    await eventually(async () => (await repo.show('baton/staging', 'envs/staging/app0.yaml').catch(() => '')).includes('"1.1.0"'), 20_000, 'the rolling branch');
    await a.idle();
    // The first replica goes away (a rolling deploy); the other never wrote this branch: it does
    // not know its head, so it rebuilds it from what the branch proposes.
    await a.close();
    expect((await push(b, 'm1', 1, '2.0.0')).status).toBe(202);
    await eventually(async () => (await repo.show('baton/staging', 'envs/staging/app1.yaml').catch(() => '')).includes('"2.0.0"'), 20_000, 'the second bump');
    await b.idle();
    expect(await repo.show('baton/staging', 'envs/staging/app0.yaml')).toContain('"1.1.0"');
    expect(await repo.show('main', 'envs/staging/app0.yaml')).toContain('"1.0.0"');
    // Both causes are known to whichever replica writes next (the ledger is shared).
    const message = await repo.message('baton/staging');
    expect(message).toMatch(/Baton-Event: registry\/distribution m1/);
    // The rebuilt commit carries app0's version with the cause the first replica recorded.
    expect(message).toMatch(/Baton-Event: registry\/distribution m0/);
  });

  it('on a GitHub that fails 30% of calls (5xx, 429 with Retry-After) and whose branch moves under it, every bump lands once', async () => {
    const N = 24;
    const gh = await emulatedGitHub(manyImagesSeed(N));
    cleanups.push(() => gh.emulator.close());
    gh.emulator.faults.failRandomly(0.3, 15);
    const env = { REDIS_URL, BATON_REDIS_PREFIX: freshPrefix(), BATON_DEBOUNCE_MS: '100' };
    const forgeB = githubForgeFromSettings({ GITHUB_TOKEN: gh.token, GITHUB_API_URL: gh.emulator.url }, { tuning: FAST });
    if (!forgeB) throw new Error('no forge');
    const a = await startTestBaton({ env, envRepo: { forge: gh.forge, repo: gh.repo, label: 'github:acme/env', embedded: false } });
    cleanups.push(() => a.close());
    const b = await startTestBaton({ env, envRepo: { forge: forgeB, repo: gh.repo, label: 'github:acme/env', embedded: false } });
    cleanups.push(() => b.close());
    const testRepo = gh.emulator.state.repo('acme', 'env')!.testRepo;

    for (let i = 0; i < N; i++) {
      const t = i % 2 === 0 ? a : b;
      // A sender retries until it gets its 202 (a 5xx from Baton is allowed; a lost event is not).
      await eventually(async () => (await push(t, `f${i}`, i, '3.0.0')).status === 202, 10_000, `a 202 for f${i}`);
      // Someone else pushes to main now and then: Baton's expected head goes stale.
      // (that writer, too, retries when Baton pushed first).
      if (i % 6 === 3)
        await eventually(
          () => testRepo.commit({ [`notes/${i}.txt`]: `by someone else ${i}\n` }).then(() => true, () => false),
          10_000,
          'the external commit',
        );
      await new Promise((r) => setTimeout(r, 40));
    }
    await eventually(async () => {
      for (let i = 0; i < N; i++) if (!(await testRepo.show('main', `envs/staging/app${i}.yaml`)).includes('"3.0.0"')) return false;
      return true;
    }, 60_000, 'every bump');
    await a.idle(30_000);
    const h = await history(gitOf(testRepo.bare));
    for (let i = 0; i < N; i++) {
      expect(h.changes.get(`envs/staging/app${i}.yaml`)).toBe(2);
      expect(h.events.get(`f${i}`)).toBe(1);
    }
    expect(h.parents.filter((p) => p > 1)).toEqual([]);
    expect(a.baton.pipeline.queue.stats()).toMatchObject({ dead: 0, pending: 0 });
    expect(gh.emulator.requests.some((r) => r.faulted)).toBe(true);
  });

  it('on a GitLab that fails 30% of calls (502), rate-limits with Retry-After and whose branch moves under it, every bump lands once', async () => {
    const N = 16;
    const emu = await startGitlabEmulator({ botUsername: 'baton-bot' });
    cleanups.push(() => emu.close());
    const project = await emu.addProject('platform/env', manyImagesSeed(N));
    const env = { REDIS_URL, BATON_REDIS_PREFIX: freshPrefix(), BATON_DEBOUNCE_MS: '100', BATON_ENV_REPO: 'gitlab:platform/env', GITLAB_URL: emu.url, GITLAB_TOKEN: emu.token };
    const a = await startTestBaton({ env });
    cleanups.push(() => a.close());
    const b = await startTestBaton({ env });
    cleanups.push(() => b.close());
    emu.failRandomly(0.3, 16, 502);
    emu.rateLimit(60, 1_000);
    for (let i = 0; i < N; i++) {
      const t = i % 2 === 0 ? a : b;
      await eventually(async () => (await push(t, `g${i}`, i, '3.0.0')).status === 202, 10_000, `a 202 for g${i}`);
      if (i % 5 === 2)
        await eventually(
          () => project.repo.commit({ [`notes/${i}.txt`]: `by someone else ${i}\n` }).then(() => true, () => false),
          10_000,
          'the external commit',
        );
      await new Promise((r) => setTimeout(r, 40));
    }
    await eventually(async () => {
      for (let i = 0; i < N; i++) if (!(await project.repo.show('main', `envs/staging/app${i}.yaml`)).includes('"3.0.0"')) return false;
      return true;
    }, 90_000, 'every bump');
    await a.idle(30_000);
    const h = await history(gitOf(project.repo.bare));
    for (let i = 0; i < N; i++) {
      expect(h.changes.get(`envs/staging/app${i}.yaml`)).toBe(2);
      expect(h.events.get(`g${i}`)).toBe(1);
    }
    expect(a.baton.pipeline.queue.stats()).toMatchObject({ dead: 0, pending: 0 });
  });
});
