/**
 * CPU per GitHub delivery at the HTTP edge, in one process and without sockets, so neither the
 * load generator nor the other processes on a busy machine blur it: the same signed `push`
 * delivery is handed to a bare 202 handler (the floor), a minimal probot app (createNodeMiddleware,
 * no-op handler) and Baton's app (signature, JSON, schema, journal append before the 202), in
 * interleaved rounds; the medians are compared.
 */

import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { pino } from 'pino';
import { createMetrics } from '../src/app/metrics.js';
import { createHttpApp } from '../src/http/server.js';
import { MemoryQueue, systemTimer } from '../src/queue/memory.js';
import { githubWebhookRoute } from '../src/sources/github/index.js';
import type { BenchModule } from './index.js';
import { median } from './support/stats.js';

const SECRET = 'bench-github-secret';
const examples = createRequire(import.meta.url)('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: { ref?: string }[] }[];
const PUSH = Buffer.from(JSON.stringify(examples.find((e) => e.name === 'push')?.examples.find((x) => x.ref?.startsWith('refs/heads/'))));
const SIGNATURE = `sha256=${createHmac('sha256', SECRET).update(PUSH).digest('hex')}`;
const ROUNDS = 7;
const PER_ROUND = 3000;
let seq = 0;

/** One delivery through `handler` over a socket that swallows what is written; resolves with the status. */
function inject(handler: RequestListener): Promise<number> {
  const socket = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } }) as unknown as Socket;
  const req = new IncomingMessage(socket);
  req.method = 'POST';
  req.url = '/webhooks/github';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.httpVersion = '1.1';
  req.headers = { host: 'baton', 'content-type': 'application/json', 'content-length': String(PUSH.length), 'user-agent': 'GitHub-Hookshot/bench', 'x-github-event': 'push', 'x-github-delivery': `cpu-${seq++}`, 'x-hub-signature-256': SIGNATURE };
  const res = new ServerResponse(req);
  res.assignSocket(socket);
  const done = new Promise<number>((r) => res.on('finish', () => r(res.statusCode)));
  handler(req, res);
  req.complete = true;
  req.push(PUSH);
  req.push(null);
  return done;
}

/** CPU µs per delivery over `n` deliveries, 8 in flight at a time. */
async function cpuPer(handler: RequestListener, n: number): Promise<number> {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i += 8) {
    const statuses = await Promise.all(Array.from({ length: 8 }, () => inject(handler)));
    if (statuses.some((s) => s >= 300)) throw new Error(`unexpected replies ${statuses.join(',')}`);
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}


const bench: BenchModule = {
  title: 'CPU per GitHub delivery at the HTTP edge (in-process)',
  async run() {
    const { Probot, createNodeMiddleware } = await import('probot');
    const silent = pino({ level: 'silent' });
    const probot = new Probot({ githubToken: 'unused', secret: SECRET, log: silent });
    const middleware = await createNodeMiddleware((app) => {
      app.onAny(() => undefined);
    }, { probot, webhooksPath: '/webhooks/github' });
    const dir = await mkdtemp(join(tmpdir(), 'baton-bench-cpu-'));
    const queue = new MemoryQueue({ debounceMs: 1000, journalPath: join(dir, 'journal.jsonl'), now: Date.now, setTimer: systemTimer });
    // Routing is not measured here: every event is finished at once, as an event with nothing to do is.
    await queue.start({ route: async () => [], flush: async () => undefined });
    const baton = createHttpApp({ logger: silent, metrics: createMetrics({ defaults: false }), queue, registrySecrets: () => [], sources: { github: githubWebhookRoute({ WEBHOOK_SECRET: SECRET }) }, isReady: () => true }) as unknown as RequestListener;
    const handlers: [string, RequestListener][] = [
      ['bare node:http handler (202 only)', (req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"accepted"}'));
      }],
      ['probot (createNodeMiddleware, no-op handler)', (req, res) => void middleware(req, res, () => res.writeHead(404).end())],
      ['Baton /webhooks/github (verified, parsed, journaled)', baton],
    ];
    const runs = new Map<string, number[]>(handlers.map(([n]) => [n, []]));
    for (const [, h] of handlers) await cpuPer(h, 1000); // warm-up
    for (let r = 0; r < ROUNDS; r++) for (const [n, h] of handlers) runs.get(n)?.push(await cpuPer(h, PER_ROUND));
    await queue.drain();
    await rm(dir, { recursive: true, force: true });
    const [bare, prob, bat] = handlers.map(([n]) => median(runs.get(n) ?? []));
    const lines = [`${ROUNDS} interleaved rounds of ${PER_ROUND} deliveries each (GitHub's example push, ${PUSH.length} bytes, signed); median CPU per delivery`, '| handler | CPU µs per delivery |', '|---|---|'];
    for (const [n] of handlers) lines.push(`| ${n} | ${median(runs.get(n) ?? []).toFixed(1)} |`);
    lines.push(`Baton / probot (deliveries per CPU-second) = ${((prob ?? NaN) / (bat ?? NaN)).toFixed(2)}x (goal >= 1); Baton / bare = ${((bare ?? NaN) / (bat ?? NaN)).toFixed(2)}x`);
    return lines;
  },
};

export default bench;
