/**
 * Memory and journal: the real server (embedded queue, journal on) takes 50,000 registry events in
 * five rounds of 10,000, each worked to the end (commits on the embedded repo) before the next.
 * After each round: the server's RSS and the journal's size, against the first round (same run),
 * and against what an append-only journal of the same events would hold. The journal is compacted
 * while the server runs (every 10,000 appended records), not only at start.
 */

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { BenchModule } from './index.js';
import type { Target } from './ingest.bench.js';
import { body, cpuOf, startTarget, stop } from './ingest.bench.js';

const TOTAL = Number(process.env['BENCH_JOURNAL_EVENTS'] ?? 50_000);
const ROUNDS = 5;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

/** The live heap after a full collection (the target runs with --expose-gc). */
async function liveHeap(t: Target): Promise<number> {
  await cpuOf(t);
  const all = [...t.output().matchAll(/MEM (\d+) (\d+)\n/g)];
  return Number(all[all.length - 1]?.[2] ?? NaN);
}

async function idle(url: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = (await (await fetch(`${url}/readyz`)).json()) as { queue?: { pending: number; batches: number } };
    if (r.queue && r.queue.pending === 0 && r.queue.batches === 0) return;
    if (Date.now() > until) throw new Error(`queue not idle: ${JSON.stringify(r.queue)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

const mb = (n: number): string => (n / 1024 / 1024).toFixed(1);

const bench: BenchModule = {
  title: 'Memory and journal after 50,000 events',
  async run() {
    const lines: string[] = [];
    const t = await startTarget('baton', '500', ['--expose-gc']);
    const dataDir = /READY \S+ \S+ (\S+)/.exec(t.output())?.[1];
    const pid = t.child.pid;
    if (!dataDir || pid === undefined) throw new Error('the target did not say where its data lives');
    const journal = join(dataDir, 'queue', 'journal.jsonl');
    const journalBytes = (): number => {
      try {
        return statSync(journal).size;
      } catch {
        return 0;
      }
    };
    const startRss = rssBytes(pid);
    const per = Math.floor(TOTAL / ROUNDS);
    let next = 0;
    let appendOnly = 0;
    const rows: { events: number; rss: number; heap: number; journal: number; appendOnly: number; maxAck: number; p99: number }[] = [];
    const startHeap = await liveHeap(t);
    for (let round = 0; round < ROUNDS; round++) {
      const first = next;
      const r = await autocannon({
        url: `${t.url}/webhooks/registry/distribution`,
        connections: 16,
        amount: per,
        requests: [{ method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer bench-token' }, setupRequest: (req) => ({ ...req, body: body(next++) }) }],
      });
      await idle(t.url);
      // What an append-only journal would hold: each event's `add` record (its body, roughly) and a `done` record.
      for (let i = first; i < next; i++) appendOnly += body(i).length + 120;
      rows.push({ events: next, rss: rssBytes(pid), heap: await liveHeap(t), journal: journalBytes(), appendOnly, maxAck: r.latency.max, p99: r.latency.p99 });
      if (r.non2xx > 0) lines.push(`round ${round + 1}: ${r.non2xx} non-2xx replies`);
    }
    await stop(t);
    const base = rows[0];
    lines.push(`load: ${ROUNDS} rounds of ${per} unique distribution events (autocannon, 16 connections), each worked to the end (debounce 500 ms, commits on the embedded repo); RSS from /proc, journal = ${'<data>/queue/journal.jsonl'}; RSS before the first event ${mb(startRss)} MB, live heap ${mb(startHeap)} MB`);
    lines.push(`| events | RSS MB | RSS vs 1st round | live heap after GC MB | heap vs 1st round | journal MB | journal vs 1st round | append-only journal would be MB | p99 / max ack ms in the round |`);
    lines.push(`|---|---|---|---|---|---|---|---|---|`);
    for (const row of rows) {
      lines.push(`| ${row.events} | ${mb(row.rss)} | ${(row.rss / (base?.rss ?? row.rss)).toFixed(2)}x | ${mb(row.heap)} | ${(row.heap / (base?.heap ?? row.heap)).toFixed(2)}x | ${mb(row.journal)} | ${(row.journal / Math.max(1, base?.journal ?? row.journal)).toFixed(2)}x | ${mb(row.appendOnly)} | ${row.p99} / ${row.maxAck} |`);
    }
    const last = rows[rows.length - 1];
    if (last && base) lines.push(`after ${last.events} events: RSS ${(last.rss / base.rss).toFixed(2)}x and live heap ${(last.heap / base.heap).toFixed(2)}x the first round's; journal ${mb(last.journal)} MB = ${((100 * last.journal) / last.appendOnly).toFixed(0)}% of an append-only journal`);
    return lines;
  },
};

export default bench;
