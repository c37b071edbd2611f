/**
 * GitLab API requests per coalesced commit: one bump across N target files, run through the real
 * executor against the GitLab emulator, which counts every request it serves. Goal: at most 3.
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
}

async function run(files: number, destination: Destination, failFraction = 0): Promise<Run> {
  const emu = await startGitlabEmulator();
  try {
    const seed: Record<string, string> = { '.baton.yml': 'version: 1\n' };
    for (let n = 0; n < files; n++) seed[`envs/staging/svc-${n}/kustomization.yaml`] = kustomization(n);
    await emu.addProject(PROJECT, seed);
    const forge = new GitlabForge({ url: emu.url, token: emu.token, retry: { sleep: () => Promise.resolve() } });
    const intent: SetImage = {
      type: 'set-image',
      destination,
      env: 'staging',
      image: 'web',
      repository: REPO,
      tag: '1.5.0',
      digestMode: 'ignore',
      mode: 'upgrade',
      policy: { policy: 'semver' },
      targets: Object.keys(seed)
        .filter((p) => p.startsWith('envs/'))
        .map((file) => ({ file })),
      cause: { source: 'registry/distribution', deliveryId: 'bench' },
    };
    if (failFraction > 0) emu.failRandomly(failFraction, 7);
    emu.resetCounts();
    const outcome = await execute(destination, [intent], { forge, repo: PROJECT, random: () => 0.5, sleep: () => Promise.resolve() });
    return { requests: emu.requests.length, byRoute: emu.counts(), status: outcome.status };
  } finally {
    await emu.close();
  }
}

export default {
  title: 'GitLab: API requests per coalesced commit (emulator-counted, real executor)',
  async run(): Promise<string[]> {
    const lines: string[] = [];
    const direct: Destination = { branch: 'main', write: 'commit' };
    lines.push('write: commit (goal ≤ 3)');
    for (const n of [1, 10, 50, 100]) {
      const r = await run(n, direct);
      const routes = Object.entries(r.byRoute)
        .map(([k, v]) => `${k} ×${v}`)
        .join(', ');
      lines.push(`  ${String(n).padStart(3)} files: ${r.requests} requests (${r.status})  ${n > 50 ? '[more than one GraphQL chunk of 50 paths] ' : ''}— ${routes}`);
    }
    lines.push('write: merge-request (rolling baton/staging MR; branch, commit and MR together)');
    for (const n of [1, 10, 50]) {
      const r = await run(n, { branch: 'main', write: 'merge-request', env: 'staging' });
      lines.push(`  ${String(n).padStart(3)} files: ${r.requests} requests (${r.status})`);
    }
    const flaky = await run(10, direct, 0.2);
    lines.push(`with a seeded 20% of requests failing 5xx, 10 files: ${flaky.requests} requests (${flaky.status})`);
    return lines;
  },
} satisfies BenchModule;
