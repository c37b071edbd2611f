/**
 * A server for the ingest benchmark, in its own process so the load generator does not share its
 * event loop: `bare` answers 202 and nothing else (the ceiling); `probot` is a minimal probot app
 * (signature verified, one no-op handler) on node:http; `baton` is the real server.
 */

import { Server, createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBaton } from '../../src/cli/serve.js';
import { loadSettings } from '../../src/cli/settings.js';
import { git } from '../../src/forges/git/run-git.js';

/** The webhook secret bench/ingest.bench.ts signs GitHub deliveries with. */
const BENCH_GITHUB_SECRET = 'bench-github-secret';

const mode = process.argv[2];

// SIGUSR2: print the CPU time this process has used so far (µs), so the benchmark can charge each
// server its own CPU per request — a figure the other processes on a busy machine do not skew.
// With --expose-gc it also collects garbage first and prints the live heap (`MEM rss heapUsed`).
// Also printed on SIGUSR2, each since the last one (p50/p99/max in ms): `ELD …`, the event loop's
// delay, and `ACK …`, the server-side time from a request's headers to the end of its reply — the ack
// latency without the load generator's own scheduling (it shares the machine's cores).
const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();
const ack = createHistogram();
const emit = Server.prototype.emit;
Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
  if (event === 'request') {
    const started = process.hrtime.bigint();
    (args[1] as ServerResponse).once('finish', () => ack.record(Math.max(1, Number(process.hrtime.bigint() - started))));
  }
  return Reflect.apply(emit, this, [event, ...args]) as boolean;
} as typeof Server.prototype.emit;
const ms = (ns: number): string => (ns / 1e6).toFixed(2);
process.on('SIGUSR2', () => {
  process.stdout.write(`ELD ${ms(eld.percentile(50))} ${ms(eld.percentile(99))} ${ms(eld.max)}\n`);
  eld.reset();
  process.stdout.write(`ACK ${ms(ack.percentile(50))} ${ms(ack.percentile(99))} ${ms(ack.max)}\n`);
  ack.reset();
  const u = process.cpuUsage();
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    const m = process.memoryUsage();
    process.stdout.write(`MEM ${m.rss} ${m.heapUsed}\n`);
  }
  process.stdout.write(`CPU ${u.user + u.system}\n`);
});

if (mode === 'bare') {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{"status":"accepted"}');
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
  });
} else if (mode === 'probot') {
  const { Probot, createNodeMiddleware } = await import('probot');
  const { pino } = await import('pino');
  const probot = new Probot({ githubToken: 'unused', secret: BENCH_GITHUB_SECRET, log: pino({ level: 'silent' }) });
  let received = 0;
  const middleware = await createNodeMiddleware(
    (app) => {
      app.onAny(() => {
        received++;
      });
    },
    { probot, webhooksPath: '/webhooks/github' },
  );
  const server = createServer((req, res) => {
    void middleware(req, res, () => {
      res.writeHead(404).end();
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
  });
  process.on('SIGTERM', () => {
    process.stdout.write(`RECEIVED ${received}\n`);
    process.exit(0);
  });
} else {
  const dataDir = await mkdtemp(join(tmpdir(), 'baton-bench-'));
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    BATON_DATA_DIR: dataDir,
    BATON_REGISTRY_TOKEN: 'bench-token',
    WEBHOOK_SECRET: BENCH_GITHUB_SECRET,
    BATON_DEBOUNCE_MS: process.argv[3] ?? '2000',
    LOG_LEVEL: 'silent',
  };
  const baton = await startBaton({ settings: loadSettings(env), env, journal: true });
  process.stdout.write(`READY ${baton.url.replace('localhost', '127.0.0.1')} ${baton.envRepo.repo} ${dataDir}\n`);
  process.on('SIGTERM', () => {
    void baton.close().then(async () => {
      const count = (await git(['--git-dir', baton.envRepo.repo, 'rev-list', '--count', '--all'])).trim();
      process.stdout.write(`COMMITS ${count}\n`);
      process.exit(0);
    });
  });
}
