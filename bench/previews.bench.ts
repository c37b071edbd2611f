/**
 * API requests per preview create / update / delete on each forge (real executor, counted by the
 * GitHub and GitLab emulators), next to an image bump on the same forge in the same run; the
 * MR-side reads (CI state of the head, MRs of a built commit) are counted apart.
 */

import { execute } from '../src/app/executor.js';
import { ConfigIndex } from '../src/config/index.js';
import { parseConfig } from '../src/config/load.js';
import type { PullRequestChanged } from '../src/core/event.js';
import type { Intent } from '../src/core/intent.js';
import { route } from '../src/core/route.js';
import { GitlabAppRepo } from '../src/forges/gitlab/app-repo.js';
import { GitlabForge } from '../src/forges/gitlab/gitlab-forge.js';
import type { AppRepoPort, Forge } from '../src/forges/types.js';
import { emulatedGitHub } from '../test/emulators/github/harness.js';
import { startGitlabEmulator } from '../test/emulators/gitlab/server.js';
import { TEMPLATE } from '../test/core/preview/fixtures.js';
import type { BenchModule } from './index.js';

const IMAGE = 'registry.example.com/acme/web';
const config = (source: string): string => `version: 1
environments:
  staging:
    branch: main
images:
  web:
    repository: ${IMAGE}
    source: ${source}
    policy: sha
    targets:
      staging: [envs/staging/kustomization.yaml]
previews:
  web:
    branch: previews
    path: apps/{{name}}.yaml
    template: templates/preview-app.yaml
`;
const KUSTOMIZATION = `images:\n  - name: ${IMAGE}\n    newTag: "aaaaaaa"\n`;

function table(source: string): ConfigIndex {
  const parsed = parseConfig(config(source));
  if (!parsed.ok) throw new Error('bad bench config');
  return new ConfigIndex(parsed.config, 'main');
}

function event(action: PullRequestChanged['action'], source: 'github' | 'gitlab', path: string, sha: string): PullRequestChanged {
  return { type: 'pull-request', source, deliveryId: `bench-${action}-${sha}`, action, repo: { forge: source, path }, number: 7, title: 'Bench', author: 'alice', headSha: sha, headBranch: 'feature', baseBranch: 'main', fromFork: false, labels: [] };
}

interface Counter {
  reset(): void;
  count(): number;
  routes(): string;
}

async function measure(forge: Forge, repo: string, app: AppRepoPort, appRepo: string, counter: Counter, source: 'github' | 'gitlab', appSha: (n: number) => Promise<string>): Promise<string[]> {
  const t = table(`${source}:${appRepo}`);
  const run = async (intents: Intent[]): Promise<{ requests: number; routes: string; status: string }> => {
    counter.reset();
    const destination = intents[0]?.destination;
    if (!destination) throw new Error('no intent');
    const o = await execute(destination, intents, { forge, repo, random: () => 0.5, sleep: () => Promise.resolve() });
    return { requests: counter.count(), routes: counter.routes(), status: o.status };
  };
  const confirmed = (e: PullRequestChanged): Intent[] => route(e, t).intents.map((i) => (i.type === 'ensure-preview' ? { ...i, build: 'confirmed' } : i));
  const bump = await run(route({ type: 'ci-completed', source, deliveryId: 'bench-bump', repo: { forge: source, path: appRepo }, branch: 'main', defaultBranch: 'main', sha: 'b'.repeat(40), conclusion: 'success' }, t).intents);
  const sha1 = await appSha(1);
  const sha2 = await appSha(2);
  const create = await run(confirmed(event('opened', source, appRepo, sha1)));
  const update = await run(confirmed(event('updated', source, appRepo, sha2)));
  const remove = await run(route(event('closed', source, appRepo, sha2), t).intents);
  counter.reset();
  await app.buildState(appRepo, sha2);
  const buildReads = counter.routes();
  counter.reset();
  await app.commitMergeRequests(appRepo, sha2);
  const lookupReads = counter.routes();
  const line = (what: string, r: { requests: number; routes: string; status: string }): string =>
    `  ${what.padEnd(15)} ${String(r.requests).padStart(2)} requests (${(r.requests / bump.requests).toFixed(2)}× a bump) ${r.status}: ${r.routes}`;
  return [
    line('bump (baseline)', bump),
    line('preview create', create),
    line('preview update', update),
    line('preview delete', remove),
    `  MR-side reads: CI state of the head ${buildReads}; MRs of a built commit (CI-released previews) ${lookupReads}`,
  ];
}

const bench: BenchModule = {
  title: 'previews: API requests per create / update / delete',
  async run() {
    const out: string[] = [];
    const gh = await emulatedGitHub({ '.baton.yml': config('github:acme/web'), 'envs/staging/kustomization.yaml': KUSTOMIZATION });
    try {
      const envRepo = gh.emulator.state.repo('acme', 'env');
      await envRepo?.testRepo.commit({ 'templates/preview-app.yaml': TEMPLATE }, 'template', 'previews');
      const app = await gh.emulator.createRepo('acme/web', { 'README.md': 'x\n' });
      gh.emulator.grant('acme/web', 'baton-bot', 'read');
      gh.emulator.openPull('acme/web', { head: 'feature', base: 'main', title: 'Bench', user: 'alice' });
      const counter: Counter = {
        reset: () => gh.emulator.resetCounts(),
        count: () => gh.emulator.requests.length,
        routes: () => gh.emulator.requests.map((r) => r.route).join(', '),
      };
      out.push('GitHub:', ...(await measure(gh.forge, gh.repo, gh.forge, 'acme/web', counter, 'github', async (n) => {
        const sha = await app.testRepo.commit({ 'f.txt': String(n) }, `c${n}`, 'feature');
        // GitHub Actions reports check runs; a commit without any costs one more read (its commit statuses).
        gh.emulator.addCheckRun('acme/web', sha, { conclusion: 'success' });
        return sha;
      })));
    } finally {
      await gh.emulator.close();
    }
    const emu = await startGitlabEmulator();
    try {
      const env = await emu.addProject('acme/env', { '.baton.yml': config('gitlab:acme/web'), 'envs/staging/kustomization.yaml': KUSTOMIZATION });
      await env.repo.commit({ 'templates/preview-app.yaml': TEMPLATE }, 'template', 'previews');
      const app = await emu.addProject('acme/web', { 'README.md': 'x\n' });
      const forge = new GitlabForge({ url: emu.url, token: emu.token, botUsername: 'baton-bot', retry: { sleep: () => Promise.resolve() } });
      const counter: Counter = {
        reset: () => emu.resetCounts(),
        count: () => emu.requests.length,
        routes: () => emu.requests.map((r) => `${r.method} ${r.route}`).join(', '),
      };
      const sha = async (n: number): Promise<string> => {
        const s = await app.repo.commit({ 'f.txt': String(n) }, `c${n}`, 'feature');
        if (n === 1) emu.openMergeRequest('acme/web', { source: 'feature', title: 'Bench', author: 'alice' });
        return s;
      };
      out.push('GitLab:', ...(await measure(forge, 'acme/env', new GitlabAppRepo(forge), 'acme/web', counter, 'gitlab', sha)));
    } finally {
      await emu.close();
    }
    return out;
  },
};

export default bench;
