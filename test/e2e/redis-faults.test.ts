/**
 * Crash and fault tests on Redis, bounded in time and seeded:
 * - two replicas as real processes (`tsx src/main.ts serve`), a 200-event burst spread across both,
 *   one killed with SIGKILL mid-burst and restarted: every bump lands exactly once, history stays
 *   linear, every delivery that got a 202 is named by exactly one commit;
 * - Redis itself restarted mid-run (its own redis-server, AOF on): Baton is unready meanwhile, never
 *   answers 202 for what it could not store, reconnects, and loses nothing it acknowledged.
 */

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { REGISTRY_AUTH, TEST_TOKEN, distributionPush, eventually, startTestBaton } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import { REDIS_URL, deleteKeys, redisAnswers } from '../helpers/redis.js';
import { freePort } from '../helpers/registry.js';
import { HOST, gitOf, history, manyImagesSeed } from '../helpers/replicas.js';
import { seededRandom } from '../emulators/seeded-random.js';

const why = await redisAnswers(REDIS_URL);
if (why) console.warn(`skipping the Redis crash tests: ${why}`);
const noServer = spawnSync('redis-server', ['--version'], { timeout: 5_000 }).status === 0 ? undefined : 'no redis-server binary to start a Redis of its own';
if (noServer) console.warn(`skipping the Redis restart test: ${noServer}`);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Replica {
  url: string;
  child: ChildProcess;
  exited: Promise<void>;
}

/** `baton serve` as its own process; resolves with its URL once it listens. */
async function startReplica(env: Record<string, string>): Promise<Replica> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], { env: { ...process.env, ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica did not start: ${out.slice(-2000)}`)), 60_000);
    const onData = (b: Buffer): void => {
      out += b.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
      if (out.length > 1_000_000) out = out.slice(-100_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    void exited.then(() => reject(new Error(`replica exited: ${out.slice(-2000)}`)));
  });
  return { url, child, exited };
}

async function post(url: string, id: string, app: number, tag: string): Promise<number> {
  try {
    const res = await fetch(`${url}/webhooks/registry/distribution`, { method: 'POST', headers: { 'content-type': 'application/json', ...REGISTRY_AUTH }, body: JSON.stringify(distributionPush(id, HOST, `team/app${app}`, tag)), signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0; // refused or reset: the process is gone
  }
}

function freshPrefix(url = REDIS_URL): string {
  const prefix = `baton-crash-${randomUUID().slice(0, 8)}`;
  cleanups.push(async () => {
    const r = new Redis(url, { commandTimeout: 5_000, lazyConnect: true, retryStrategy: () => null });
    await r.connect();
    await deleteKeys(r, prefix);
    r.disconnect();
  });
  return prefix;
}

describe.skipIf(why !== undefined)('crashes on Redis', () => {
  it('kill -9 of one of two replicas mid-burst: after its restart every bump landed exactly once, history linear, every 202 accounted for', { timeout: 240_000 }, async () => {
    const N = 200;
    const repo = await createBareRepo(manyImagesSeed(N));
    cleanups.push(() => repo.cleanup());
    const dirs = [await tempDir('baton-a-'), await tempDir('baton-b-')];
    for (const d of dirs) cleanups.push(() => rm(d, { recursive: true, force: true }));
    const common = { REDIS_URL, BATON_REDIS_PREFIX: freshPrefix(), BATON_REDIS_LOCK_TIMEOUT: '3s', BATON_ENV_REPO: repo.bare, BATON_REGISTRY_TOKEN: TEST_TOKEN, BATON_DEBOUNCE_MS: '300', BATON_CONFIG_TTL_MS: '0' };
    const replicas = await Promise.all(dirs.map((d) => startReplica({ ...common, BATON_DATA_DIR: d })));
    const [a, b] = replicas as [Replica, Replica];

    const random = seededRandom(200);
    const accepted = new Map<string, string>();
    let killed = false;
    const killAt = 60 + Math.floor(random() * 60);
    // Eight senders at once; each delivery goes to a random replica, and to the other one if that fails.
    let next = 0;
    const sender = async (): Promise<void> => {
      for (let i = next++; i < N; i = next++) {
        if (i === killAt && !killed) {
          killed = true;
          a.child.kill('SIGKILL');
        }
        const first = random() < 0.5 ? a : b;
        const order = first === a ? [a, b] : [b, a];
        for (let attempt = 0; !accepted.has(`k${i}`); attempt++) {
          const target = order[attempt % 2] as Replica;
          const status = await post(target.url, `k${i}`, i, '1.1.0');
          if (status === 202) accepted.set(`k${i}`, target === a ? 'a' : 'b');
          else if (attempt > 20) throw new Error(`k${i} was never accepted`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, sender));
    expect(killed).toBe(true);
    expect(accepted.size).toBe(N);
    expect([...accepted.values()].filter((v) => v === 'a').length).toBeGreaterThan(10);

    // The killed replica comes back on its data dir; together they finish what it left.
    await a.exited;
    const a2 = await startReplica({ ...common, BATON_DATA_DIR: dirs[0] as string });
    await eventually(async () => {
      const h = await history(gitOf(repo.bare));
      return h.events.size === N;
    }, 120_000, 'every delivery named by a commit');
    await eventually(async () => {
      const ready = (await (await fetch(`${a2.url}/readyz`)).json()) as { queue: { pending: number; batches: number } };
      return ready.queue.pending === 0 && ready.queue.batches === 0;
    }, 30_000, 'the shared queue empty');
    const h = await history(gitOf(repo.bare));
    for (let i = 0; i < N; i++) {
      expect(h.changes.get(`envs/staging/app${i}.yaml`), `app${i}`).toBe(2); // seeded, bumped once
      expect(h.events.get(`k${i}`), `k${i}`).toBe(1);
    }
    expect(h.parents.filter((p) => p !== 1).length).toBe(1); // linear: only the root has no parent
    const ready = (await (await fetch(`${b.url}/readyz`)).json()) as { queue: { dead: number } };
    expect(ready.queue.dead).toBe(0);
  });

  it.skipIf(noServer !== undefined)('Redis restarted mid-run: unready meanwhile, nothing acknowledged lost, Baton reconnects by itself', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const dir = await tempDir('redis-');
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
    const startRedis = async (): Promise<{ stop(): Promise<void> }> => {
      const p = spawn('redis-server', args, { stdio: 'ignore' });
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      cleanups.push(async () => {
        p.kill('SIGKILL');
        await exited;
      });
      await eventually(async () => (await redisAnswers(`redis://127.0.0.1:${port}`)) === undefined, 10_000, 'redis-server');
      return {
        stop: async () => {
          p.kill('SIGKILL'); // a crash, not a clean shutdown: AOF is what keeps the data
          await exited;
        },
      };
    };
    let redis = await startRedis();
    const url = `redis://127.0.0.1:${port}`;
    const N = 30;
    const repo = await createBareRepo(manyImagesSeed(2 * N));
    cleanups.push(() => repo.cleanup());
    const env = { REDIS_URL: url, BATON_REDIS_PREFIX: 'baton', BATON_DEBOUNCE_MS: '1500' };
    const t: TestBaton = await startTestBaton({ repo, env });
    cleanups.push(() => t.close());
    await eventually(async () => (await fetch(`${t.url}/readyz`)).status === 200, 10_000, 'ready');

    const acknowledged: number[] = [];
    for (let i = 0; i < N; i++) if ((await post(t.url, `r${i}`, i, '1.1.0')) === 202) acknowledged.push(i);
    expect(acknowledged.length).toBe(N);
    // Redis dies while those events wait in their debounce window.
    await redis.stop();
    await eventually(async () => (await fetch(`${t.url}/readyz`)).status === 503, 10_000, '/readyz unready');
    const ready = (await (await fetch(`${t.url}/readyz`)).json()) as { reason: string };
    expect(ready.reason).toMatch(/queue cannot take work/);
    const during = await post(t.url, 'during', N, '1.1.0');
    expect(during).not.toBe(202);

    redis = await startRedis();
    await eventually(async () => (await fetch(`${t.url}/readyz`)).status === 200, 30_000, '/readyz ready again');
    for (let i = N; i < 2 * N; i++) if ((await post(t.url, `r${i}`, i, '1.1.0')) === 202) acknowledged.push(i);
    expect(acknowledged.length).toBe(2 * N);
    await eventually(async () => (await history(gitOf(repo.bare))).events.size >= 2 * N, 60_000, 'every acknowledged event written').catch(async (e: unknown) => {
      const h = await history(gitOf(repo.bare));
      throw new Error(`${(e as Error).message}: ${h.events.size} written, ${[...h.events.keys()].sort().join(' ')}; queue ${JSON.stringify(t.baton.pipeline.queue.stats())}`);
    });
    const h = await history(gitOf(repo.bare));
    for (const i of acknowledged) {
      expect(h.changes.get(`envs/staging/app${i}.yaml`), `app${i}`).toBe(2);
      expect(h.events.get(`r${i}`), `r${i}`).toBe(1);
    }
    expect(h.parents.filter((p) => p !== 1).length).toBe(1);
    void redis;
  });
});
