/**
 * GitLab API requests per coalesced commit: one bump across N target files, run through the real
 * executor against the GitLab emulator, which counts every request it serves and refuses GraphQL
 * documents over GitLab's complexity limit. Goals: 3 for `write: commit` up to 17 files (one GraphQL
 * read), at most 4 for a later bump in `write: merge-request` mode.
 */

import { execute } from '../src/app/executor.js';
import type { Destination, SetImage } from '../src/core/intent.js';
import { GitlabForge } from '../src/forges/gitlab/gitlab-forge.js';
import { startGitlabEmulator } from '../test/emulators/gitlab/server.js';
import type { BenchModule } from './index.js';

const REPO = 'registry.example.com/team/web';
const PROJECT = 'acme/platform/env';

function kustomization(n: number): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base/svc-${n}\nimages:\n  - name: ${REPO}\n    newTag: "1.4.2"\n`;
}

interface Run {
  requests: number;
  byRoute: Record<string, number>;
  status: string;
  /** Highest GitLab complexity score among the GraphQL documents sent, and how many GitLab refused. */
  maxScore: number;
  refused: number;
}

function intentFor(destination: Destination, files: string[], tag: string): SetImage {
  return {
    type: 'set-image',
    destination,
    env: 'staging',
    image: 'web',
    repository: REPO,
    tag,
    digestMode: 'ignore',
    mode: 'upgrade',
    policy: { policy: 'semver' },
    targets: files.map((file) => ({ file })),
    cause: { source: 'registry/distribution', deliveryId: `bench-${tag}` },
  };
}

/** One bump (or, with `bumps: 2`, a first and a later bump) across `files` target files; counts for the last one. */
async function run(files: number, destination: Destination, options: { failFraction?: number; bumps?: number } = {}): Promise<Run> {
  const emu = await startGitlabEmulator();
  try {
    const seed: Record<string, string> = { '.baton.yml': 'version: 1\n' };
    for (let n = 0; n < files; n++) seed[`envs/staging/svc-${n}/kustomization.yaml`] = kustomization(n);
    await emu.addProject(PROJECT, seed);
    const forge = new GitlabForge({ url: emu.url, token: emu.token, retry: { sleep: () => Promise.resolve() } });
    const targets = Object.keys(seed).filter((p) => p.startsWith('envs/'));
    const deps = { forge, repo: PROJECT, random: () => 0.5, sleep: () => Promise.resolve() };
    const bumps = options.bumps ?? 1;
    let outcome = { status: 'none' };
    for (let b = 1; b <= bumps; b++) {
      if (b === bumps) {
        if (options.failFraction) emu.failRandomly(options.failFraction, 7);
        emu.resetCounts();
      }
      const scoresBefore = emu.graphqlScores.length;
      outcome = await execute(destination, [intentFor(destination, targets, `1.${4 + b}.0`)], deps);
      if (b === bumps) {
        const scores = emu.graphqlScores.slice(scoresBefore);
        return { requests: emu.requests.length, byRoute: emu.counts(), status: outcome.status, maxScore: Math.max(0, ...scores), refused: emu.graphqlRefusals.length };
      }
    }
    throw new Error('no bump ran');
  } finally {
    await emu.close();
  }
}

const routes = (r: Run): string =>
  Object.entries(r.byRoute)
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ');

export default {
  title: 'GitLab: API requests per coalesced commit (emulator-counted, real executor, GitLab complexity limit 250 enforced)',
  async run(): Promise<string[]> {
    const lines: string[] = [];
    const direct: Destination = { branch: 'main', write: 'commit' };
    lines.push('write: commit');
    for (const n of [1, 10, 17, 50, 100]) {
      const r = await run(n, direct);
      lines.push(`  ${String(n).padStart(3)} files: ${r.requests} requests (${r.status}; highest complexity ${r.maxScore}/250, ${r.refused} refused) — ${routes(r)}`);
    }
    const mr: Destination = { branch: 'main', write: 'merge-request', env: 'staging' };
    lines.push('write: merge-request (rolling baton/staging MR)');
    for (const n of [1, 10, 50]) {
      const first = await run(n, mr);
      const later = await run(n, mr, { bumps: 2 });
      lines.push(`  ${String(n).padStart(3)} files: first bump ${first.requests} requests, later bump ${later.requests} (${later.status}; ${later.refused} refused) — later: ${routes(later)}`);
    }
    const flaky = await run(10, direct, { failFraction: 0.2 });
    lines.push(`with a seeded 20% of requests failing 5xx, 10 files: ${flaky.requests} requests (${flaky.status})`);
    return lines;
  },
} satisfies BenchModule;
