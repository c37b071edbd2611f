/**
 * What one `git` run costs the thread that answers webhooks, started two ways: from that thread
 * (`child_process.spawn`, as Baton did before), and through the spawner process (`runGit`, now).
 * 1. The longest gap of a 1 ms timer around each run (how long webhooks wait), in interleaved
 *    rounds; a series where nothing is started gives the timer's own jitter on this machine.
 * 2. How much other work the thread gets done while git runs back to back (JSON parses per
 *    second, against the same loop with nothing started): forking a large process costs it time
 *    even when the fork is not waited for (from a worker thread), in copy-on-write faults.
 * Both with a heap the size of a running server's.
 */

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { runGit } from '../src/forges/git/run-git.js';
import type { BenchModule } from './index.js';
import { median, quantile } from './support/stats.js';

const RUNS = 30;
const ROUNDS = 3;


/** `git --version` started from this thread, as runGit did before the spawner. */
function direct(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['--version'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}

const bench: BenchModule = {
  title: 'What a git run costs the event loop: started from it vs through the spawner process',
  async run() {
    // About what a busy server holds: 100k small objects and 64 MiB of buffers.
    const ballast = { objects: Array.from({ length: 100_000 }, (_, i) => ({ i, s: `delivery-${i}` })), buffers: Array.from({ length: 64 }, () => Buffer.alloc(1024 * 1024, 1)) };
    const series: [string, () => Promise<unknown>][] = [
      ['nothing started (timer jitter)', () => new Promise((r) => setTimeout(r, 5))],
      ['from the event-loop thread (before)', direct],
      ['runGit, through the spawner process (now)', () => runGit(['--version'])],
    ];
    await runGit(['--version']); // the spawner starts on first use

    // 1. Stall per run.
    let last = performance.now();
    let gap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
    }, 1);
    const gaps = new Map<string, number[]>(series.map(([n]) => [n, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, fn] of series) {
        for (let i = 0; i < RUNS; i++) {
          await new Promise((r) => setTimeout(r, 3));
          last = performance.now();
          gap = 0;
          await fn();
          await new Promise((r) => setTimeout(r, 2));
          gaps.get(name)?.push(gap);
        }
      }
    }
    clearInterval(timer);
    const mem = process.memoryUsage();
    const lines = [`${ROUNDS} interleaved rounds of ${RUNS} \`git --version\` runs each; heap ${(mem.heapUsed / 1e6).toFixed(0)} MB, RSS ${(mem.rss / 1e6).toFixed(0)} MB; longest gap of a 1 ms timer around each run`, '| started | median ms | p90 ms | max ms |', '|---|---|---|---|'];
    for (const [name] of series) {
      const g = gaps.get(name) ?? [];
      lines.push(`| ${name} | ${median(g).toFixed(1)} | ${quantile(g, 0.9).toFixed(1)} | ${Math.max(...g).toFixed(1)} |`);
    }
    const [idle, before, now] = series.map(([n]) => median(gaps.get(n) ?? []));
    lines.push(`stall beyond the timer's jitter, median: before ${((before ?? NaN) - (idle ?? NaN)).toFixed(1)} ms, now ${((now ?? NaN) - (idle ?? NaN)).toFixed(1)} ms`);

    // 2. Work left to the thread while git runs back to back, 2 s per trial, interleaved.
    const text = JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ a: i, b: 'x'.repeat(20), c: [1, 2, 3] })));
    const work = new Map<string, { parses: number[]; runs: number[] }>(series.map(([n]) => [n, { parses: [], runs: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, fn] of series) {
        let stop = false;
        let runs = 0;
        const loop = (async () => {
          while (!stop) {
            await fn();
            runs++;
          }
        })();
        let parses = 0;
        const end = performance.now() + 2000;
        while (performance.now() < end) {
          for (let k = 0; k < 20; k++) JSON.parse(text);
          parses += 20;
          await new Promise((r) => setImmediate(r));
        }
        stop = true;
        await loop;
        work.get(name)?.parses.push(parses / 2);
        work.get(name)?.runs.push(runs / 2);
      }
    }
    void ballast;
    const base = median(work.get(series[0]?.[0] ?? '')?.parses ?? []);
    lines.push('', `work the thread still does while git runs back to back (${ROUNDS} interleaved 2 s trials each, medians)`, '| started | JSON parses / s | share of the idle figure | git runs / s | thread time lost per git run, ms |', '|---|---|---|---|---|');
    for (const [name] of series) {
      const w = work.get(name);
      const parses = median(w?.parses ?? []);
      const runs = median(w?.runs ?? []);
      const lost = name === series[0]?.[0] ? '—' : ((1000 * (1 - parses / base)) / runs).toFixed(1);
      lines.push(`| ${name} | ${parses.toFixed(0)} | ${(parses / base).toFixed(2)} | ${name === series[0]?.[0] ? '—' : runs.toFixed(0)} | ${lost} |`);
    }
    return lines;
  },
};

export default bench;
