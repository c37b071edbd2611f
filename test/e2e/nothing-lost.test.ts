/**
 * Nothing lost, against a failing world: every accepted event lands or is visibly parked. The real
 * server over HTTP, on the git forge, with a remote that refuses, one that stalls, external writers
 * racing Baton, restarts with a broken config and redeliveries after a restart.
 */

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { retryFailed } from '../../src/cli/failed.js';
import { runGit } from '../../src/forges/git/run-git.js';
import { REGISTRY_AUTH, distributionPush, eventually, kustomization, oneImageConfig, startTestBaton } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import type { TestRepo } from '../helpers/git-repo.js';

const HOST = 'registry.example.com';
const REPO = `${HOST}/team/web`;
const TARGET = 'envs/staging/kustomization.yaml';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const seed = (config = oneImageConfig(REPO)): Record<string, string> => ({ '.baton.yml': config, [TARGET]: kustomization(REPO, '1.0.0') });

/** A pino logger whose lines the test can read. */
function capture(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: 'info' }, { write: (s: string) => lines.push(s) }), lines };
}

const push = (t: TestBaton, id: string, tag: string) => t.post('/webhooks/registry/distribution', distributionPush(id, HOST, 'team/web', tag), REGISTRY_AUTH);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a remote that refuses the push', () => {
  it('parks the event with git’s own reason, shows it on /readyz and /metrics, and works it again on redelivery or `baton retry`', async () => {
    const repo = await createBareRepo(seed());
    cleanups.push(() => repo.cleanup());
    const hook = join(repo.bare, 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\necho "pushes to main are frozen for the release" >&2\nexit 1\n', { mode: 0o755 });
    const dataDir = await tempDir('baton-data-');
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const { logger, lines } = capture();
    const t = await startTestBaton({ repo, dataDir, logger });
    cleanups.push(() => t.close());
    const before = await repo.head();

    expect((await push(t, 'e1', '1.1.0')).status).toBe(202);
    expect((await push(t, 'e2', '1.2.0')).status).toBe(202);
    await eventually(() => t.baton.pipeline.queue.stats().dead === 2, 20_000, 'two dead letters');
    expect(await repo.head()).toBe(before);

    const dead = t.baton.pipeline.queue.deadLetters();
    expect(dead.map((d) => d.id).sort()).toEqual(['registry/distribution:e1', 'registry/distribution:e2']);
    for (const d of dead) {
      expect(d.reason).toMatch(/pre-receive hook declined/);
      expect(d.reason).toContain('pushes to main are frozen for the release');
    }
    // Not mistaken for a race with another writer.
    expect(lines.join('')).not.toMatch(/moved while writing|kept moving/);
    const ready = (await (await fetch(`${t.url}/readyz`)).json()) as { deadLetters: { reason: string }[]; queue: { dead: number; pending: number } };
    expect(ready.queue).toMatchObject({ dead: 2, pending: 0 });
    expect(ready.deadLetters[0]?.reason).toMatch(/hook declined/);
    expect(await (await fetch(`${t.url}/metrics`)).text()).toMatch(/^baton_dead_letters 2$/m);

    await rm(hook);
    // The sender redelivers e1: not a duplicate, it is worked.
    const again = await push(t, 'e1', '1.1.0');
    expect(again.json).toMatchObject({ deliveries: [{ id: 'e1' }] });
    expect(JSON.stringify(again.json)).not.toContain('duplicate');
    await eventually(async () => (await repo.show('main', TARGET)).includes('"1.1.0"'), 20_000, 'e1 landed');

    // An operator retries e2 from the command line; the running server takes the request.
    const { requested } = await retryFailed(dataDir, ['registry/distribution:e2']);
    expect(requested).toEqual(['registry/distribution:e2']);
    await eventually(async () => (await repo.show('main', TARGET)).includes('"1.2.0"'), 20_000, 'e2 landed');
    await t.idle();
    expect(t.baton.pipeline.queue.stats().dead).toBe(0);
    expect(await repo.parents()).toEqual([1, 1, 0]);
  });
});

describe('a remote that accepts connections and never answers', () => {
  let server: Server;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('keeps /healthz answering, says why /readyz is not ready, bounds every git call, and drains within its deadline leaving the event journaled', async () => {
    server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const dataDir = await tempDir('baton-data-');
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const env = { BATON_ENV_REPO: `http://127.0.0.1:${port}/env.git`, BATON_GIT_TIMEOUT: '1s', BATON_FORGE_TIMEOUT: '1s', BATON_DRAIN_TIMEOUT: '1s' };
    const t = await startTestBaton({ dataDir, env });
    let closed = false;
    cleanups.push(() => (closed ? Promise.resolve() : t.close()));

    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/could not be read|not been read/);
    expect((await push(t, 'stalled-1', '1.1.0')).status).toBe(202);
    // The event is neither lost nor done: it waits for the remote, and counts as pending.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect(t.baton.pipeline.queue.stats().pending).toBe(1);
    await t.close();
    closed = true;

    // The journal still holds it for the next start.
    const restarted = await startTestBaton({ dataDir, env });
    cleanups.push(() => restarted.close());
    expect(restarted.baton.pipeline.queue.stats().pending).toBe(1);
  });
});

/**
 * Someone else updating the env repo's main branch (test/helpers/external-writer.ts), in its own
 * process. `stop()` closes its stdin; it finishes its round and reports what it landed.
 */
async function externalWriter(bare: string, name: string, periodMs: number): Promise<{ stop(): Promise<{ landed: string[]; attempts: number; seconds: number }> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/external-writer.ts', bare, name, String(periodMs)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (out.includes('STARTED\n')) resolve();
    };
    child.stdout.on('data', check);
    child.on('close', () => reject(new Error(`writer ${name} exited before starting: ${out}`)));
  });
  return {
    async stop() {
      child.stdin.end();
      await exited;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) throw new Error(`writer ${name} reported nothing: ${out}`);
      return JSON.parse(line) as { landed: string[]; attempts: number; seconds: number };
    },
  };
}

describe('two external writers pushing to the same branch', () => {
  it('lands every accepted bump (the highest wins), never forces, and loses no external commit', { timeout: 120_000 }, async (ctx) => {
    const repo: TestRepo = await createBareRepo(seed());
    cleanups.push(() => repo.cleanup());

    // The writers must be able to push 10 times a second each, or the test is not the one asked
    // for. Each round starts seven git processes; on a machine where starting one takes tens of
    // milliseconds they cannot, with or without Baton: measure that first, alone, and say so.
    const trial = await Promise.all([externalWriter(repo.bare, 'trial-a', 60), externalWriter(repo.bare, 'trial-b', 60)]);
    await new Promise((r) => setTimeout(r, 2_000));
    const trialRates = (await Promise.all(trial.map((w) => w.stop()))).map((r) => r.attempts / r.seconds);
    if (trialRates.some((rate) => rate < 10)) {
      const reason = `skipped: on this machine two external writers reach only ${trialRates.map((r) => r.toFixed(1)).join(' and ')} pushes a second each without Baton running (git processes start too slowly), below the 10 a second this test is about`;
      console.warn(reason);
      ctx.skip(reason);
    }

    const t = await startTestBaton({ repo, env: { BATON_DEBOUNCE_MS: '150' } });
    cleanups.push(() => t.close());

    const writers = await Promise.all([externalWriter(repo.bare, 'alice', 60), externalWriter(repo.bare, 'bob', 60)]);
    let stopped: Promise<{ landed: string[]; attempts: number; seconds: number }[]> | undefined;
    const stopWriters = (): Promise<{ landed: string[]; attempts: number; seconds: number }[]> => (stopped ??= Promise.all(writers.map((w) => w.stop())));
    cleanups.push(async () => {
      await stopWriters();
    });
    const tags = Array.from({ length: 24 }, (_, i) => `1.${i + 1}.0`);
    for (const [i, tag] of tags.entries()) {
      expect((await push(t, `race-${i}`, tag)).status).toBe(202);
      await new Promise((r) => setTimeout(r, 60));
    }
    await t.idle(60_000);
    const results = await stopWriters();

    // The writers really did push at least 10 times a second each, while Baton wrote.
    for (const r of results) expect(r.attempts / r.seconds, `attempts per second ${r.attempts / r.seconds}`).toBeGreaterThanOrEqual(10);
    expect(await repo.show('main', TARGET)).toContain('"1.24.0"');
    // No force push: every external commit is still in main's history, which is linear.
    for (const r of results) {
      expect(r.landed.length).toBeGreaterThan(0);
      for (const c of r.landed) expect((await runGit(['merge-base', '--is-ancestor', c, 'refs/heads/main'], { cwd: repo.bare })).code).toBe(0);
    }
    expect((await repo.parents()).slice(0, -1).every((p) => p === 1)).toBe(true);
    expect(t.baton.pipeline.queue.stats()).toMatchObject({ pending: 0, dead: 0 });
  });
});

describe('restarts', () => {
  it('with an invalid .baton.yml, keeps routing by the last valid one it read', async () => {
    const repo = await createBareRepo(seed());
    cleanups.push(() => repo.cleanup());
    const dataDir = await tempDir('baton-data-');
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const first = await startTestBaton({ repo, dataDir });
    await push(first, 'before', '1.1.0');
    await first.idle();
    await first.close();

    await repo.commit({ '.baton.yml': 'version: 1\nenvironments: [this is not a map\n' }, 'break the config');
    const { logger, lines } = capture();
    const second = await startTestBaton({ repo, dataDir, logger });
    cleanups.push(() => second.close());
    expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
    expect((await push(second, 'after', '1.2.0')).status).toBe(202);
    await second.idle();
    expect(await repo.show('main', TARGET)).toContain('"1.2.0"');
    expect(lines.join('')).toMatch(/the last valid config \([0-9a-f]{12}\) stays in force/);
  });

  it('with no valid .baton.yml ever read, keeps events journaled and routes them once a valid one is pushed', async () => {
    const repo = await createBareRepo(seed('version: 1\nimages: {web: {repository: 42}}\n'));
    cleanups.push(() => repo.cleanup());
    const { logger, lines } = capture();
    const t = await startTestBaton({ repo, logger });
    cleanups.push(() => t.close());
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/no valid \.baton\.yml/);
    expect((await push(t, 'early', '1.1.0')).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(t.baton.pipeline.queue.stats()).toMatchObject({ pending: 1, dead: 0 });
    expect(lines.join('')).toMatch(/no valid config was ever read: events stay queued/);
    expect(lines.join('')).not.toMatch(/last valid config .* stays in force/);

    await repo.commit({ '.baton.yml': oneImageConfig(REPO) }, 'fix the config');
    await t.idle(30_000);
    expect(await repo.show('main', TARGET)).toContain('"1.1.0"');
  });

  it('remembers finished deliveries: an old policy: sha delivery redelivered after a restart rolls nothing back', async () => {
    const config = oneImageConfig(REPO).replace('policy: semver', () => "policy: sha\n    pattern: '^[0-9a-f]{7}$'");
    const repo = await createBareRepo(seed(config));
    cleanups.push(() => repo.cleanup());
    const dataDir = await tempDir('baton-data-');
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const first = await startTestBaton({ repo, dataDir });
    await push(first, 'old', 'aaaaaaa');
    await first.idle();
    await push(first, 'new', 'bbbbbbb');
    await first.idle();
    expect(await repo.show('main', TARGET)).toContain('"bbbbbbb"');
    await first.close();

    const second = await startTestBaton({ repo, dataDir });
    cleanups.push(() => second.close());
    const head = await repo.head();
    const again = await push(second, 'old', 'aaaaaaa');
    expect(again.json).toMatchObject({ deliveries: [{ id: 'old', duplicate: true }] });
    await second.idle();
    expect(await repo.head()).toBe(head);
    expect(await repo.show('main', TARGET)).toContain('"bbbbbbb"');
  });
});
