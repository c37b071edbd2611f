/**
 * How long one `git` run stalls the event loop that answers webhooks: started from that thread
 * (`spawnGit`, what `runGit` did before), the fork of the process and the wait for its exec block
 * it; started from the git runner thread (`runGit`), they do not. A 1 ms timer measures the longest
 * gap around each run, in interleaved rounds, with a heap the size of a running server's, and a
 * third series where nothing is started gives the timer's own jitter on this machine.
 */

import { performance } from 'node:perf_hooks';
import { runGit } from '../src/forges/git/run-git.js';
import { spawnGit } from '../src/forges/git/spawn-git.js';
import type { BenchModule } from './index.js';

const RUNS = 30;
const ROUNDS = 3;

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? NaN;
const p90 = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.9)] ?? NaN;

const bench: BenchModule = {
  title: 'Event-loop stall per git run: started from the event-loop thread vs the git runner thread',
  async run() {
    // About what a busy server holds: 100k small objects and 64 MiB of buffers.
    const ballast = { objects: Array.from({ length: 100_000 }, (_, i) => ({ i, s: `delivery-${i}` })), buffers: Array.from({ length: 64 }, () => Buffer.alloc(1024 * 1024, 1)) };
    let last = performance.now();
    let gap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
    }, 1);
    const env = { ...process.env, LC_ALL: 'C' };
    const series: [string, () => Promise<unknown>][] = [
      ['nothing started (timer jitter)', () => new Promise((r) => setTimeout(r, 5))],
      ['spawn from the event-loop thread (before)', () => spawnGit({ args: ['--version'], env, input: '', timeoutMs: 10_000 })],
      ['runGit: spawn from the git runner thread', () => runGit(['--version'])],
    ];
    const gaps = new Map<string, number[]>(series.map(([n]) => [n, []]));
    await runGit(['--version']); // the runner thread starts on first use
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
    void ballast;
    const lines = [`${ROUNDS} interleaved rounds of ${RUNS} \`git --version\` runs each; heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB, RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB; longest gap of a 1 ms timer around each run`, '| started from | median ms | p90 ms | max ms |', '|---|---|---|---|'];
    for (const [name] of series) {
      const g = gaps.get(name) ?? [];
      lines.push(`| ${name} | ${median(g).toFixed(1)} | ${p90(g).toFixed(1)} | ${Math.max(...g).toFixed(1)} |`);
    }
    const [idle, before, after] = series.map(([n]) => median(gaps.get(n) ?? []));
    lines.push(`stall beyond the timer's jitter, median: before ${((before ?? NaN) - (idle ?? NaN)).toFixed(1)} ms, now ${((after ?? NaN) - (idle ?? NaN)).toFixed(1)} ms; now / before = ${(((after ?? NaN) - (idle ?? NaN)) / ((before ?? NaN) - (idle ?? NaN))).toFixed(2)}x`);
    return lines;
  },
};

export default bench;
