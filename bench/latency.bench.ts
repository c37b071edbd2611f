/**
 * Event → commit on the git forge: the real server over HTTP, a real bare env repository, one
 * registry push at a time (each waits for its commit). Figures are the time from accepting the event
 * to the commit, minus the debounce window; the baseline is one plain `git fetch` + `git push` of a
 * one-file commit to the same remote, measured in the same run (the floor of any git write).
 */

import { performance } from 'node:perf_hooks';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startBaton } from '../src/cli/serve.js';
import { loadSettings } from '../src/cli/settings.js';
import { GitForge } from '../src/forges/git/git-forge.js';
import { git } from '../src/forges/git/run-git.js';
import type { WriteRequest, WriteResult } from '../src/forges/types.js';
import { createBareRepo, tempDir } from '../test/helpers/git-repo.js';
import { REGISTRY_AUTH, TEST_TOKEN, distributionPush, kustomization, oneImageConfig } from '../test/helpers/baton.js';
import type { BenchModule } from './index.js';

const EVENTS = Number(process.env['BENCH_LATENCY_EVENTS'] ?? 60);
const DEBOUNCE_MS = Number(process.env['BENCH_DEBOUNCE_MS'] ?? 250);
const HOST = 'registry.example.com';
const REPO = `${HOST}/team/web`;
const TARGET = 'envs/staging/kustomization.yaml';

function quantile(samples: number[], q: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
}

/** Sum and count of each `baton_stage_seconds{stage}` series in a /metrics text. */
function stageMeans(text: string): string {
  const sums = new Map<string, number>();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^baton_stage_seconds_(sum|count)\{stage="(\w+)"\} ([\d.e+-]+)$/gm)) {
    (m[1] === 'sum' ? sums : counts).set(m[2] ?? '', Number(m[3]));
  }
  return ['route', 'window', 'prepare', 'read', 'plan', 'write']
    .filter((s) => counts.has(s))
    .map((s) => `${s} ${(((sums.get(s) ?? 0) / (counts.get(s) || 1)) * 1000).toFixed(1)}`)
    .join(', ');
}

/** p50 of a plain fetch + commit + push of one file to the same kind of remote. */
async function gitFloor(runs: number): Promise<number> {
  const repo = await createBareRepo({ [TARGET]: kustomization(REPO, '1.0.0') });
  const work = await tempDir('bench-floor-');
  try {
    await git(['clone', '--quiet', repo.bare, work]);
    const env = { GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' };
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await git(['fetch', '--quiet', 'origin'], { cwd: work });
      await git(['commit', '--quiet', '--allow-empty', '-m', `floor ${i}`], { cwd: work, env });
      await git(['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], { cwd: work });
      times.push(performance.now() - t0);
    }
    return quantile(times, 0.5);
  } finally {
    await rm(work, { recursive: true, force: true });
    await repo.cleanup();
  }
}

export default {
  title: `event → commit on the git forge (${EVENTS} registry pushes, debounce ${DEBOUNCE_MS} ms)`,
  async run(): Promise<string[]> {
    const repo = await createBareRepo({ '.baton.yml': oneImageConfig(REPO), [TARGET]: kustomization(REPO, '1.0.0') });
    const dataDir = await tempDir('bench-latency-');
    const env: Record<string, string> = {
      PORT: '0',
      HOST: '127.0.0.1',
      BATON_DATA_DIR: dataDir,
      BATON_REGISTRY_TOKEN: TEST_TOKEN,
      BATON_DEBOUNCE_MS: String(DEBOUNCE_MS),
      BATON_ENV_REPO: repo.bare,
      LOG_LEVEL: 'silent',
    };
    // The moment the push landed (what happens after it, reporting, is not part of event → commit).
    let landedAt = 0;
    class TimedGitForge extends GitForge {
      override async write(r: string, req: WriteRequest): Promise<WriteResult> {
        const out = await super.write(r, req);
        if (out.status === 'committed') landedAt = Date.now();
        return out;
      }
    }
    const forge = new TimedGitForge({ cacheDir: join(dataDir, 'git') });
    const committed = new Map<string, number>();
    const baton = await startBaton({
      settings: loadSettings(env),
      env,
      envRepo: { forge, repo: repo.bare, label: 'bench env repo', embedded: false },
      onOutcome: (o) => {
        if (o.status !== 'committed') return;
        for (const b of o.bumps) for (const c of b.causes) if (c.acceptedAt !== undefined) committed.set(c.deliveryId, landedAt - c.acceptedAt);
      },
    });
    const samples: number[] = [];
    try {
      for (let i = 1; i <= EVENTS + 1; i++) {
        const id = `lat-${i}`;
        const res = await fetch(`${baton.url}/webhooks/registry/distribution`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...REGISTRY_AUTH },
          body: JSON.stringify(distributionPush(id, HOST, 'team/web', `1.0.${i}`)),
        });
        await res.text();
        const until = Date.now() + 30_000;
        while (!committed.has(id)) {
          if (Date.now() > until) throw new Error(`event ${id} was not committed within 30 s`);
          await new Promise((r) => setTimeout(r, 2));
        }
        // The first event also pays for the clone and the first config read: not a steady-state figure.
        if (i > 1) samples.push(committed.get(id) ?? NaN);
      }
      const metrics = await (await fetch(`${baton.url}/metrics`)).text();
      const floor = await gitFloor(15);
      const p50 = quantile(samples, 0.5) - DEBOUNCE_MS;
      const p99 = quantile(samples, 0.99) - DEBOUNCE_MS;
      return [
        `event → commit beyond the debounce window: p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms (goal: p50 ≤ 100 ms, p99 ≤ 300 ms)`,
        `mean per stage, ms: ${stageMeans(metrics)}`,
        `baseline: plain git fetch + commit + push of one file to the same kind of remote, p50: ${floor.toFixed(0)} ms`,
        `ratio (p50 beyond the window) / baseline: ${(p50 / floor).toFixed(2)}x`,
      ];
    } finally {
      await baton.close();
      await repo.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
} satisfies BenchModule;
