/**
 * GitLab API requests per coalesced commit: one bump across N target files, run through the real
 * executor against the GitLab emulator, which counts every request it serves, validates every GraphQL
 * document against GitLab's schema and refuses any over GitLab's complexity limit (250).
 *
 * Each row: `before` is this same bench run against the code before the one-document read (commit
 * 7632e65, recorded below; `npm run bench -- gitlab` there gives the same figures); `now` is measured
 * in this run; `three-call read` is measured in this run too, on the same forge with its `readRolling`
 * hidden, so the executor reads the base, the rolling branch and the MR state separately (what a forge
 * without the one-document read costs); `minimum` is one read, one commit and, where the MR text
 * changes, one MR call.
 */

import { execute } from '../src/app/executor.js';
import type { ExecutorDeps } from '../src/app/executor.js';
import type { Destination, SetImage } from '../src/core/intent.js';
import type { Forge } from '../src/forges/types.js';
import { GitlabForge } from '../src/forges/gitlab/gitlab-forge.js';
import { startGitlabEmulator } from '../test/emulators/gitlab/server.js';
import type { BenchModule } from './index.js';

const IMAGE = 'registry.example.com/team/web';
const PROJECT = 'acme/platform/env';

function kustomization(n: number): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base/svc-${n}\nimages:\n  - name: ${IMAGE}\n    newTag: "1.4.2"\n`;
}

function intentFor(destination: Destination, files: string[], tag: string): SetImage {
  return {
    type: 'set-image',
    destination,
    env: 'staging',
    image: 'web',
    repository: IMAGE,
    tag,
    digestMode: 'ignore',
    mode: 'upgrade',
    policy: { policy: 'semver' },
    targets: files.map((file) => ({ file })),
    cause: { source: 'registry/distribution', deliveryId: `bench-${tag}` },
  };
}

type Step = 'bump' | 'move-base' | 'merge-mr';

interface Run {
  requests: number;
  routes: string;
  status: string;
  maxScore: number;
  refused: number;
}

/** Run `steps` on a fresh project and forge; the requests of the last step are counted. */
async function run(files: number, destination: Destination, steps: Step[], options: { failFraction?: number; threeCall?: boolean } = {}): Promise<Run> {
  const emu = await startGitlabEmulator();
  try {
    const seed: Record<string, string> = { '.baton.yml': 'version: 1\n' };
    for (let n = 0; n < files; n++) seed[`envs/staging/svc-${n}/kustomization.yaml`] = kustomization(n);
    await emu.addProject(PROJECT, seed);
    const gitlab = new GitlabForge({ url: emu.url, token: emu.token, retry: { sleep: () => Promise.resolve() } });
    // The same forge without the one-document read: the executor falls back to three calls.
    const forge: Forge = options.threeCall ? new Proxy(gitlab, { get: (t, k) => (k === 'readRolling' ? undefined : (Reflect.get(t, k, t) as unknown)) }) : gitlab;
    const targets = Object.keys(seed).filter((p) => p.startsWith('envs/'));
    // As the pipeline runs it: the executor remembers each rolling branch it wrote, so a later bump stacks.
    const deps: ExecutorDeps = { forge, repo: PROJECT, random: () => 0.5, sleep: () => Promise.resolve(), rolling: new Map() };
    let bumps = 0;
    let mr = 0;
    for (const [i, step] of steps.entries()) {
      const last = i === steps.length - 1;
      if (last) {
        if (options.failFraction) emu.failRandomly(options.failFraction, 7);
        emu.resetCounts();
      }
      const scoresBefore = emu.graphqlScores.length;
      if (step === 'move-base') await emu.project(PROJECT).repo.commit({ 'README.md': `merged elsewhere ${i}\n` }, 'unrelated');
      else if (step === 'merge-mr') await emu.mergeMergeRequest(PROJECT, mr);
      else {
        bumps++;
        const outcome = await execute(destination, [intentFor(destination, targets, `1.${4 + bumps}.0`)], deps);
        if ('mergeRequest' in outcome && outcome.mergeRequest) mr = outcome.mergeRequest.number;
        if (last) {
          const counts = new Map<string, number>();
          for (const r of emu.requests) counts.set(`${r.method} ${r.route}`, (counts.get(`${r.method} ${r.route}`) ?? 0) + 1);
          const routes = [...counts].map(([k, v]) => `${k.replace('/projects/:id', '')} ×${v}`).join(', ');
          return { requests: emu.requests.length, routes, status: outcome.status, maxScore: Math.max(0, ...emu.graphqlScores.slice(scoresBefore)), refused: emu.graphqlRefusals.length };
        }
      }
    }
    throw new Error('the last step must be a bump');
  } finally {
    await emu.close();
  }
}

interface Row {
  name: string;
  files: number;
  destination: Destination;
  steps: Step[];
  /** Requests measured by this bench at 7632e65 (before the one-document read). */
  before: number;
  minimum: number;
  goal?: string;
}

const direct: Destination = { branch: 'main', write: 'commit' };
const rolling: Destination = { branch: 'main', write: 'merge-request', env: 'staging' };

const ROWS: Row[] = [
  { name: 'write: merge-request, first bump (branch created, MR opened)', files: 1, destination: rolling, steps: ['bump'], before: 7, minimum: 3, goal: '≤ 4' },
  { name: 'write: merge-request, later bump (stacked, MR edited)', files: 1, destination: rolling, steps: ['bump', 'bump'], before: 7, minimum: 3, goal: '≤ 4' },
  { name: 'write: merge-request, later bump, 50 files', files: 50, destination: rolling, steps: ['bump', 'bump'], before: 11, minimum: 3 },
  { name: 'write: merge-request, later bump, 100 files', files: 100, destination: rolling, steps: ['bump', 'bump'], before: 17, minimum: 3 },
  { name: 'write: merge-request, base moved (rebuilt with start_sha + force)', files: 1, destination: rolling, steps: ['bump', 'move-base', 'bump'], before: 8, minimum: 3 },
  { name: 'write: merge-request, after the MR was merged (new MR)', files: 1, destination: rolling, steps: ['bump', 'merge-mr', 'bump'], before: 10, minimum: 3 },
  { name: 'write: commit, 1 file, first bump', files: 1, destination: direct, steps: ['bump'], before: 3, minimum: 2 },
  { name: 'write: commit, 1 file, later bump', files: 1, destination: direct, steps: ['bump', 'bump'], before: 3, minimum: 2 },
  { name: 'write: commit, 100 files, first bump', files: 100, destination: direct, steps: ['bump'], before: 8, minimum: 2, goal: '3' },
  { name: 'write: commit, 100 files, later bump', files: 100, destination: direct, steps: ['bump', 'bump'], before: 8, minimum: 2, goal: '3' },
];

export default {
  title: 'GitLab: API requests per coalesced commit (emulator-counted, real executor, GitLab complexity limit 250 enforced)',
  async run(): Promise<string[]> {
    const lines: string[] = ['row | before (7632e65) | now | same run, three-call read | minimum | goal | now: requests by route (highest complexity)'];
    const notes: string[] = [];
    for (const row of ROWS) {
      const now = await run(row.files, row.destination, row.steps);
      const three = row.destination.write === 'merge-request' ? await run(row.files, row.destination, row.steps, { threeCall: true }) : undefined;
      lines.push(
        `${row.name} | ${row.before} | ${now.requests} | ${three ? three.requests : '—'} | ${row.minimum} | ${row.goal ?? '—'} | ${now.routes} (${now.maxScore}/250, ${now.refused} refused; ${now.status})`,
      );
      notes.push(`${row.name}: ${row.before} → ${now.requests}${three ? ` (${three.requests} with the three-call read)` : ''}`);
    }
    const flaky = await run(10, direct, ['bump'], { failFraction: 0.2 });
    lines.push(`with a seeded 20% of requests failing 5xx, write: commit, 10 files, first bump: ${flaky.requests} requests (${flaky.status})`);
    lines.push('', 'before → after:', ...notes.map((n) => `  ${n}`));
    return lines;
  },
} satisfies BenchModule;
