/**
 * Issue 2 figures: webhook ingest throughput and ack latency of Baton's registry endpoint against
 * a bare node:http server that only answers 202 (the ceiling), and the coalescing ratio (events
 * sent : commits made) for a burst of 100 distribution events for one environment.
 */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { BenchModule } from './index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const CONNECTIONS = 16;

interface Target {
  url: string;
  child: ChildProcess;
  output: () => string;
}

function startTarget(mode: 'bare' | 'baton', debounceMs = '2000'): Promise<Target> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/support/ingest-target.ts', mode, debounceMs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m?.[1]) resolve({ url: m[1], child, output: () => out });
    });
    child.on('error', reject);
  });
}

async function stop(t: Target): Promise<string> {
  const done = new Promise<void>((r) => t.child.on('close', () => r()));
  t.child.kill('SIGTERM');
  await done;
  return t.output();
}

function body(i: number): string {
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
