/**
 * Webhook ingest figures, each against servers measured in the same run:
 * - Baton's registry endpoint vs a bare node:http server that only answers 202 (the ceiling);
 * - Baton's `/webhooks/github` vs a minimal probot app (createNodeMiddleware, signature verified,
 *   one no-op handler) and the bare server, all receiving the same signed `push` deliveries;
 * - p99 ack latency at a fixed 1,000 req/s (Baton and bare);
 * - the coalescing ratio (events sent : commits made) for a burst of 100 distribution events.
 */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { BenchModule } from './index.js';
import { median } from './support/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const CONNECTIONS = 16;
/** Interleaved rounds of the bare / probot / Baton comparison. */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

export interface Target {
  url: string;
  child: ChildProcess;
  output: () => string;
}

export function startTarget(mode: 'bare' | 'baton' | 'probot', debounceMs = '2000', nodeArgs: string[] = []): Promise<Target> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'bench/support/ingest-target.ts', mode, debounceMs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)[^\n]*\n/.exec(out);
      if (m?.[1]) resolve({ url: m[1], child, output: () => out });
    });
    child.on('error', reject);
  });
}

/** CPU time (µs) the target process has used so far. */
export function cpuOf(t: Target): Promise<number> {
  const seen = (t.output().match(/CPU \d+\n/g) ?? []).length;
  t.child.kill('SIGUSR2');
  return new Promise((resolve) => {
    const check = (): void => {
      const all = [...t.output().matchAll(/CPU (\d+)\n/g)];
      if (all.length > seen) {
        t.child.stdout?.off('data', check);
        resolve(Number(all[all.length - 1]?.[1]));
      }
    };
    t.child.stdout?.on('data', check);
    check();
  });
}

export async function stop(t: Target): Promise<string> {
  const done = new Promise<void>((r) => t.child.on('close', () => r()));
  t.child.kill('SIGTERM');
  await done;
  return t.output();
}

export function body(i: number): string {
  // A distribution envelope like the registry sends; unique ids, tags that all pass the policy.
  return JSON.stringify({
    events: [
      {
        id: `bench-${i}`,
        action: 'push',
        timestamp: '2026-11-22T07:20:06.553749036Z',
        target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: `1.${5 + (i % 50)}.${i % 97}`, digest: `sha256:${(i % 16).toString(16).repeat(64)}` },
        request: { host: 'localhost:5000' },
      },
    ],
  });
}

async function load(url: string): Promise<autocannon.Result> {
  let i = 0;
  return autocannon({
    url: `${url}/webhooks/registry/distribution`,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer bench-token' },
        setupRequest: (req) => ({ ...req, body: body(i++) }),
      },
    ],
  });
}

function percentile(r: autocannon.Result, p: 'p50' | 'p99'): number {
  return r.latency[p];
}

// Must match bench/support/ingest-target.ts.
const GITHUB_SECRET = 'bench-github-secret';
const examples = createRequire(import.meta.url)('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: { ref?: string }[] }[];
/** GitHub's published `push` example to a branch (about 7 kB), signed once: every delivery carries it under its own id. */
const PUSH = JSON.stringify(examples.find((e) => e.name === 'push')?.examples.find((x) => x.ref?.startsWith('refs/heads/')));
const PUSH_HEADERS = {
  'content-type': 'application/json',
  'user-agent': 'GitHub-Hookshot/bench',
  'x-github-event': 'push',
  'x-github-hook-id': '1',
  'x-hub-signature-256': `sha256=${createHmac('sha256', GITHUB_SECRET).update(PUSH).digest('hex')}`,
};

/** Signed GitHub deliveries, unique ids; `rate` fixes the overall request rate (autocannon's overallRate). */
export async function githubLoad(url: string, options: { rate?: number; connections?: number; seconds?: number } = {}): Promise<autocannon.Result> {
  let i = 0;
  const run = Date.now().toString(36);
  return autocannon({
    url: `${url}/webhooks/github`,
    connections: options.connections ?? CONNECTIONS,
    duration: options.seconds ?? SECONDS,
    ...(options.rate !== undefined && { overallRate: options.rate }),
    requests: [
      {
        method: 'POST',
        body: PUSH,
        setupRequest: (req) => ({ ...req, headers: { ...PUSH_HEADERS, 'x-github-delivery': `bench-${run}-${i++}` } }),
      },
    ],
  });
}

/** Server-side ack latency (ms): from a request's headers to the end of its reply, measured in the server. */
interface ServerAck {
  p50: number;
  p99: number;
  max: number;
}

/** One server: warm it up, then load it; also its CPU time per acknowledged request (µs) and its own ack latency. */
type Measured = autocannon.Result & { cpuPerReq: number; serverAck: ServerAck };


async function measure(mode: 'bare' | 'baton' | 'probot', load: (url: string) => Promise<autocannon.Result>): Promise<Measured> {
  const t = await startTarget(mode);
  await load(t.url); // warm-up
  const before = await cpuOf(t);
  const r = await load(t.url);
  const after = await cpuOf(t);
  // The target prints `ACK p50 p99 max` on each signal, each covering the time since the one before.
  const ack = [...t.output().matchAll(/ACK (\S+) (\S+) (\S+)\n/g)].pop();
  await stop(t);
  return Object.assign(r, { cpuPerReq: (after - before) / Math.max(1, r['2xx']), serverAck: { p50: Number(ack?.[1]), p99: Number(ack?.[2]), max: Number(ack?.[3]) } });
}

const bench: BenchModule = {
  title: 'Webhook ingest and coalescing (issue 2)',
  async run() {
    const lines: string[] = [];
    const bare = await startTarget('bare');
    await load(bare.url); // warm-up
    const base = await load(bare.url);
    await stop(bare);

    const baton = await startTarget('baton');
    await load(baton.url); // warm-up (also fills the dedupe set with other ids)
    const real = await load(baton.url);
    await stop(baton);

    const ok = (r: autocannon.Result) => r['2xx'];
    const rate = (r: autocannon.Result) => ok(r) / r.duration;
    lines.push(`load: autocannon, ${CONNECTIONS} connections, ${SECONDS}s per run, unique distribution events (commits happen in the background)`);
    lines.push(`| server | accepted req/s | p50 ack ms | p99 ack ms | non-2xx |`);
    lines.push(`|---|---|---|---|---|`);
    lines.push(`| bare node:http (202 only) | ${rate(base).toFixed(0)} | ${percentile(base, 'p50')} | ${percentile(base, 'p99')} | ${base.non2xx} |`);
    lines.push(`| Baton /webhooks/registry/distribution | ${rate(real).toFixed(0)} | ${percentile(real, 'p50')} | ${percentile(real, 'p99')} | ${real.non2xx} |`);
    lines.push(`Baton throughput / bare ceiling = ${(rate(real) / rate(base)).toFixed(3)}; p99 ratio = ${(percentile(real, 'p99') / Math.max(1, percentile(base, 'p99'))).toFixed(2)}x`);


    // GitHub deliveries: Baton vs the probot app every GitHub app is built on, and the bare ceiling,
    // in interleaved rounds (this machine's speed drifts by tens of percent within minutes); the
    // table gives each server's median, the ratios are of the medians, with each round's range.
    const modes = [
      ['bare', 'bare node:http (202 only)'],
      ['probot', 'probot (createNodeMiddleware, no-op handler)'],
      ['baton', 'Baton /webhooks/github (journaled before the 202)'],
    ] as const;
    const runs = new Map<string, Measured[]>(modes.map(([m]) => [m, []]));
    for (let round = 0; round < ROUNDS; round++) for (const [m] of modes) runs.get(m)?.push(await measure(m, (u) => githubLoad(u)));
    const acked = (r: autocannon.Result) => r['2xx'] / r.duration;
    const med = (m: string, f: (r: Measured) => number): number => median((runs.get(m) ?? []).map(f));
    const perRound = (f: (r: Measured) => number, a: string, b: string): string => {
      const ratios = (runs.get(a) ?? []).map((r, i) => { const o = runs.get(b)?.[i]; return o ? f(r) / f(o) : NaN; }).sort((x, y) => x - y);
      return `${ratios[0]?.toFixed(2)}–${ratios[ratios.length - 1]?.toFixed(2)}`;
    };
    lines.push('');
    lines.push(`load: autocannon, ${CONNECTIONS} connections, ${SECONDS}s per run, GitHub's example push (${PUSH.length} bytes) signed with X-Hub-Signature-256, a unique X-GitHub-Delivery each; ${ROUNDS} interleaved rounds, medians`);
    lines.push(`| server | acked req/s | p50 ack ms | p99 ack ms | server CPU µs per request | non-2xx (all rounds) |`);
    lines.push(`|---|---|---|---|---|---|`);
    for (const [m, name] of modes) lines.push(`| ${name} | ${med(m, acked).toFixed(0)} | ${med(m, (r) => percentile(r, 'p50'))} | ${med(m, (r) => percentile(r, 'p99'))} | ${med(m, (r) => r.cpuPerReq).toFixed(0)} | ${(runs.get(m) ?? []).reduce((n, r) => n + r.non2xx, 0)} |`);
    const inverseCpu = (r: Measured): number => 1 / r.cpuPerReq;
    lines.push(`Baton / probot: throughput ${(med('baton', acked) / med('probot', acked)).toFixed(2)}x (rounds ${perRound(acked, 'baton', 'probot')}), CPU-bound throughput (inverse CPU per request) ${(med('probot', (r) => r.cpuPerReq) / med('baton', (r) => r.cpuPerReq)).toFixed(2)}x (rounds ${perRound(inverseCpu, 'baton', 'probot')}) (goal >= 1); Baton / bare ceiling: ${(med('baton', acked) / med('bare', acked)).toFixed(2)}x, ${(med('bare', (r) => r.cpuPerReq) / med('baton', (r) => r.cpuPerReq)).toFixed(2)}x; p99 Baton / probot = ${(med('baton', (r) => percentile(r, 'p99')) / Math.max(1, med('probot', (r) => percentile(r, 'p99')))).toFixed(2)}x`);

    // A fixed 1,000 req/s: the latency a steady stream of deliveries sees (goal: Baton p99 <= 10 ms).
    const fixed = { rate: 1000, connections: 10 };
    const fBare = await measure('bare', (u) => githubLoad(u, fixed));
    const fBaton = await measure('baton', (u) => githubLoad(u, fixed));
    const fProbot = await measure('probot', (u) => githubLoad(u, fixed));
    lines.push(`fixed rate: 1,000 req/s over 10 connections for ${SECONDS}s: p50/p99 ack ms bare ${percentile(fBare, 'p50')}/${percentile(fBare, 'p99')}, probot ${percentile(fProbot, 'p50')}/${percentile(fProbot, 'p99')}, Baton ${percentile(fBaton, 'p50')}/${percentile(fBaton, 'p99')} (max ${fBaton.latency.max}); Baton achieved ${acked(fBaton).toFixed(0)} req/s, non-2xx ${fBaton.non2xx}; p99 Baton - bare = ${(percentile(fBaton, 'p99') - percentile(fBare, 'p99')).toFixed(1)} ms`);
    // The same runs timed inside each server (headers in → reply sent): the load generator shares the
    // machine's cores, so its p99 carries its own scheduling delays; this one does not.
    const sa = (r: { serverAck: ServerAck }): string => `${r.serverAck.p50.toFixed(2)}/${r.serverAck.p99.toFixed(2)} (max ${r.serverAck.max.toFixed(1)})`;
    lines.push(`fixed rate, server-side ack ms p50/p99: bare ${sa(fBare)}, probot ${sa(fProbot)}, Baton ${sa(fBaton)} (goal: Baton p99 <= 10 ms)`);

    // Coalescing: 100 events for one environment, sent as fast as the server takes them.
    const burst = await startTarget('baton', '2000');
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        fetch(`${burst.url}/webhooks/registry/distribution`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer bench-token' }, body: body(10_000 + i) }).then((r) => r.status),
      ),
    );
    await new Promise((r) => setTimeout(r, 2500));
    const out = await stop(burst);
    const total = Number(/COMMITS (\d+)/.exec(out)?.[1] ?? NaN);
    // The seed is one commit; staging (commit) and production (rolling MR branch) are two destinations.
    const made = total - 1;
    lines.push(`coalescing: 100 events (${replies.filter((s) => s === 202).length} accepted) for one image → ${made} commits across 2 destinations (staging on main, production on baton/production): ${(100 / made).toFixed(0)} events per commit; ${(100 / (made / 2)).toFixed(0)}:1 per destination`);
    return lines;
  },
};

export default bench;
