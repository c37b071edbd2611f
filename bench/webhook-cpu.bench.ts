/**
 * CPU per GitHub delivery at the HTTP edge, in one process and without sockets, so neither the
 * load generator nor the other processes on a busy machine blur it: the same signed `push`
 * delivery is handed to a bare 202 handler (the floor), a minimal probot app two ways (its middleware
 * on node:http, and probot's own server as `probot run` starts it) and Baton's app (signature, JSON,
 * schema, journal append before the 202), in interleaved rounds; the medians are compared, with
 * logging off and again with every server logging at the default level.
 */

import { createHmac } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { createMetrics } from '../src/app/metrics.js';
import { createHttpApp } from '../src/http/server.js';
import { MemoryQueue, systemTimer } from '../src/queue/memory.js';
import { githubSource, githubWebhookRoute } from '../src/sources/github/index.js';
import { jsonDeeperThan } from '../src/sources/json-limits.js';
import type { Delivery } from '../src/sources/types.js';
import { freePort } from '../test/helpers/registry.js';
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
  // A real server emits 'close' on the reply once it has finished (request logs are written then).
  const done = new Promise<number>((r) =>
    res.on('finish', () => {
      process.nextTick(() => res.emit('close'));
      r(res.statusCode);
    }),
  );
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


/** The three peers and Baton, each logging at `level` to /dev/null (synchronously, so the CPU is charged to the delivery). */
async function handlersAt(level: string, dir: string): Promise<{ handlers: [string, RequestListener][]; queue: MemoryQueue }> {
  const { Probot, Server, createNodeMiddleware } = await import('probot');
  const log = (): Logger => pino({ level }, pino.destination({ dest: '/dev/null', sync: true }));
  const middleware = await createNodeMiddleware((app) => {
    app.onAny(() => undefined);
  }, { probot: new Probot({ githubToken: 'unused', secret: SECRET, log: log() }), webhooksPath: '/webhooks/github' });
  // What `probot run ./app.js` starts: probot's own server, with its request log (pino-http). It
  // takes port 0 to mean its default, 3000, so it is given a free one.
  const server = new Server({ Probot: Probot.defaults({ githubToken: 'unused', secret: SECRET, log: log() }), log: log(), port: await freePort(), host: '127.0.0.1', webhookPath: '/webhooks/github' });
  await server.load((app) => {
    app.onAny(() => undefined);
  });
  const listening = await server.start();
  const probotRun = listening.listeners('request')[0] as RequestListener;
  await server.stop();
  const queue = new MemoryQueue({ debounceMs: 1000, journalPath: join(dir, `journal-${level}.jsonl`), now: Date.now, setTimer: systemTimer });
  // Routing is not measured here: every event is finished at once, as an event with nothing to do is.
  await queue.start({ route: async () => [], flush: async () => undefined });
  const baton = createHttpApp({ logger: log(), metrics: createMetrics({ defaults: false }), queue, registrySecrets: () => [], sources: { github: githubWebhookRoute({ WEBHOOK_SECRET: SECRET }) }, isReady: () => true }) as unknown as RequestListener;
  return {
    queue,
    handlers: [
      ['bare node:http handler (202 only)', (req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"accepted"}'));
      }],
      ['probot middleware (createNodeMiddleware on node:http, no-op handler)', (req, res) => void middleware(req, res, () => res.writeHead(404).end())],
      ['probot run (probot\'s own Server, no-op handler)', probotRun],
      ['Baton /webhooks/github (verified, parsed, journaled)', baton],
    ],
  };
}

/**
 * Steps of a delivery, each on its own (median CPU µs of 7 runs of 20,000): the ones probot takes too
 * (HMAC, the body as a string, JSON.parse), then the ones only Baton takes: the nesting bound before
 * the parse, the payload's schema and normalisation, and the journal record's `JSON.stringify` and
 * append (one write to a real file).
 */
function stepCosts(dir: string): { shared: [string, number][]; batonOnly: [string, number][] } {
  const source = githubSource({ selfLogins: [] });
  const delivery: Delivery = { headers: { 'x-github-event': 'push', 'x-github-delivery': 'steps-1' }, query: {}, rawBody: PUSH, receivedAt: new Date().toISOString() };
  const body: unknown = JSON.parse(PUSH.toString('utf8'));
  const parsed = source.parse(body, delivery);
  const event = parsed.kind === 'events' ? parsed.events[0] : undefined;
  if (!event) throw new Error('the example push did not parse to an event');
  const fd = openSync(join(dir, 'steps.jsonl'), 'a');
  const line = `${JSON.stringify({ op: 'add', key: 'github:steps-1', event, at: Date.now() })}\n`;
  const shared: [string, () => unknown][] = [
    ['HMAC-SHA256 of the body', () => createHmac('sha256', SECRET).update(PUSH).digest('hex')],
    ['body as a string', () => PUSH.toString('utf8')],
    ['JSON.parse', () => JSON.parse(PUSH.toString('utf8')) as unknown],
  ];
  const batonOnly: [string, () => unknown][] = [
    ['nesting bound (scan before JSON.parse)', () => jsonDeeperThan(PUSH, 32)],
    ['schema and normalisation (zod)', () => source.parse(body, delivery)],
    ['journal record (JSON.stringify)', () => JSON.stringify({ op: 'add', key: 'github:steps-1', event, at: 1 })],
    ['journal append (one write)', () => writeSync(fd, line)],
  ];
  const n = 20_000;
  const time = ([name, f]: [string, () => unknown]): [string, number] => {
    for (let i = 0; i < 2_000; i++) f();
    const runs: number[] = [];
    for (let r = 0; r < 7; r++) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) f();
      const c = process.cpuUsage(c0);
      runs.push((c.user + c.system) / n);
    }
    return [name, median(runs)];
  };
  const out = { shared: shared.map(time), batonOnly: batonOnly.map(time) };
  closeSync(fd);
  return out;
}

/** Median CPU µs per delivery for each handler, in interleaved rounds. */
async function measure(handlers: [string, RequestListener][]): Promise<number[]> {
  const runs = new Map<string, number[]>(handlers.map(([n]) => [n, []]));
  for (const [, h] of handlers) await cpuPer(h, 1000); // warm-up
  for (let r = 0; r < ROUNDS; r++) for (const [n, h] of handlers) runs.get(n)?.push(await cpuPer(h, PER_ROUND));
  return handlers.map(([n]) => median(runs.get(n) ?? []));
}

const bench: BenchModule = {
  title: 'CPU per GitHub delivery at the HTTP edge (in-process)',
  async run() {
    const dir = await mkdtemp(join(tmpdir(), 'baton-bench-cpu-'));
    const lines = [`${ROUNDS} interleaved rounds of ${PER_ROUND} deliveries each (GitHub's example push, ${PUSH.length} bytes, signed); median CPU µs per delivery`];
    const ratio = (peer: number | undefined, b: number | undefined): string => `${((peer ?? NaN) / (b ?? NaN)).toFixed(2)}x`;
    // Logging off (as in the ingest benchmark), then every server at the default level, `info`.
    let silentMiddleware: number | undefined;
    let silentBare: number | undefined;
    for (const level of ['silent', 'info']) {
      const { handlers, queue } = await handlersAt(level, dir);
      const medians = await measure(handlers);
      await queue.drain();
      lines.push('', `LOG_LEVEL=${level}${level === 'info' ? ' (the default of both; lines to /dev/null)' : ''}`, '| handler | CPU µs per delivery |', '|---|---|');
      handlers.forEach(([n], i) => lines.push(`| ${n} | ${(medians[i] ?? NaN).toFixed(1)} |`));
      const [bare, middleware, probotRun, bat] = medians;
      if (level === 'silent') [silentMiddleware, silentBare] = [middleware, bare];
      lines.push(`Baton / probot middleware (deliveries per CPU-second) = ${ratio(middleware, bat)} (goal >= 1); Baton / probot run = ${ratio(probotRun, bat)}; Baton / bare = ${ratio(bare, bat)}`);
    }
    // What the goal asks for cannot go below these: Baton's answer waits for each of them.
    const steps = stepCosts(dir);
    const sum = (xs: [string, number][]): number => xs.reduce((a, [, us]) => a + us, 0);
    const [shared, extra] = [sum(steps.shared), sum(steps.batonOnly)];
    lines.push('', 'Steps of a delivery, each alone (median CPU µs):', '| step | taken by | µs |', '|---|---|---|');
    for (const [name, us] of steps.shared) lines.push(`| ${name} | both | ${us.toFixed(2)} |`);
    for (const [name, us] of steps.batonOnly) lines.push(`| ${name} | Baton only | ${us.toFixed(2)} |`);
    const probotSilent = silentMiddleware ?? NaN;
    const floor = (silentBare ?? NaN) + shared + extra;
    lines.push(`Baton-only steps ${extra.toFixed(1)} µs: with every other step at probot's cost (${probotSilent.toFixed(1)} µs), Baton / probot middleware could reach at most ${(probotSilent / (probotSilent + extra)).toFixed(2)}x`);
    lines.push(`floor: the bare handler + the shared steps + Baton's own = ${floor.toFixed(1)} µs, against probot's ${probotSilent.toFixed(1)} µs in total: at most ${(probotSilent / floor).toFixed(2)}x with no other cost at all`);
    await rm(dir, { recursive: true, force: true });
    return lines;
  },
};

export default bench;
