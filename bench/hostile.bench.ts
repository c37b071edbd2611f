/**
 * Hostile input: (1) a catastrophic pattern on RE2 against JavaScript's backtracking RegExp, and
 * RE2's overhead on an ordinary pattern; (2) the longest event-loop stall while a 1 MB
 * kustomization is edited inline, against the same edit on a worker thread.
 */

import { performance } from 'node:perf_hooks';
import type { BenchModule } from './index.js';
import { planOffThread } from '../src/app/offthread.js';
import type { SetImage } from '../src/core/intent.js';
import { plan } from '../src/core/plan.js';
import { compilePattern } from '../src/core/policy.js';

const REPO = 'registry.example.com/team/web';

function time(fn: () => void, runs: number): number {
  const t = performance.now();
  for (let i = 0; i < runs; i++) fn();
  return (performance.now() - t) / runs;
}

function kustomization(n: number): string {
  const others = Array.from({ length: n }, (_, i) => `  - name: registry.example.com/other/image-${i}\n    newTag: "1.0.${i}"\n`).join('');
  return `kind: Kustomization\nimages:\n${others}  - name: ${REPO}\n    newTag: "1.0.0"\n`;
}

const intent: SetImage = {
  type: 'set-image',
  destination: { branch: 'main', write: 'commit' },
  env: 'staging',
  image: 'web',
  repository: REPO,
  tag: '1.1.0',
  digestMode: 'ignore',
  mode: 'upgrade',
  policy: { policy: 'semver' },
  targets: [{ file: 'k.yaml' }],
  cause: { source: 'registry/generic', deliveryId: 'bench' },
};

/** Run `work` while a 5 ms ticker measures the longest gap between its ticks: how long the loop was blocked. */
async function stall(work: () => Promise<unknown>): Promise<{ ms: number; maxDelayMs: number }> {
  let last = performance.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  await new Promise((r) => setTimeout(r, 20));
  const t = performance.now();
  await work();
  const ms = performance.now() - t;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(ticker);
  return { ms, maxDelayMs: maxGap };
}

const bench: BenchModule = {
  title: 'Hostile input: patterns in linear time, large files off the event loop',
  async run() {
    const lines: string[] = [];
    const evil = `${'a'.repeat(22)}-`;
    const js = time(() => /^(a+)+$/.test(evil), 3);
    const re2 = compilePattern('^(a+)+$');
    const linear = time(() => re2.exec(evil), 200);
    lines.push(`^(a+)+$ on 22 a's and '-': JavaScript RegExp / RE2 = ${(js / linear).toFixed(0)}x (RE2 stays linear; each extra 'a' doubles the RegExp)`);
    const ordinary = '^main-(?P<sha>[0-9a-f]{7})-(?P<ts>[0-9]+)$';
    const jsOrdinary = new RegExp(ordinary.replace('(?P<', '(?<').replace('(?P<', '(?<'));
    const tag = 'main-abc1234-1700000000';
    const a = time(() => compilePattern(ordinary).exec(tag), 20_000);
    const b = time(() => jsOrdinary.exec(tag), 20_000);
    lines.push(`ordinary Flux pattern on a real tag: RE2 / RegExp = ${(a / b).toFixed(1)}x per match (both well under a millisecond)`);

    const files = { 'k.yaml': kustomization(16_000) };
    lines.push(`1 MB kustomization (${(files['k.yaml'].length / 1e6).toFixed(2)} MB), one bump:`);
    const inline = await stall(async () => plan([intent], files));
    const off = await stall(() => planOffThread([intent], files, { offThreadBytes: 1 }));
    lines.push(`  inline:      longest event-loop stall / edit time = ${(inline.maxDelayMs / inline.ms).toFixed(2)}`);
    lines.push(`  worker:      longest event-loop stall / edit time = ${(off.maxDelayMs / off.ms).toFixed(2)}`);
    lines.push(`  worker edit time / inline edit time = ${(off.ms / inline.ms).toFixed(2)} (the price: starting a worker and copying the file)`);
    return lines;
  },
};

export default bench;
