/**
 * GitHub API requests per coalesced commit (one bump across N files, real executor, counted by the
 * GitHub emulator), next to the HTTP round trips and bytes a clone-and-push flow needs against the
 * same content, served over git's smart HTTP protocol (`git http-backend`) and counted the same way.
 */

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execute } from '../src/app/executor.js';
import type { Destination, SetImage } from '../src/core/intent.js';
import { git } from '../src/forges/git/run-git.js';
import { emulatedGitHub } from '../test/emulators/github/harness.js';
import type { BenchModule } from './index.js';

const IMAGE = 'registry.example.com/team/web';
const kustomization = (n: number): string =>
  `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base/svc-${n}\nimages:\n  - name: ${IMAGE}\n    newTag: "1.4.2"\n`;

function seedFor(files: number): Record<string, string> {
  // Unrelated content, as a real env repo has (200 files of ~1 KiB, varied so it does not compress
  // to nothing): a clone pays for it, an API write does not.
  const seed: Record<string, string> = { '.baton.yml': 'version: 1\n' };
  for (let n = 0; n < 200; n++) {
    const lines = Array.from({ length: 24 }, (_, i) => `  key${i}: "${createHash('sha256').update(`${n}:${i}`).digest('hex').slice(0, 32)}"`);
    seed[`apps/app-${n}/values.yaml`] = `app: app-${n}\nvalues:\n${lines.join('\n')}\n`;
  }
  for (let n = 0; n < files; n++) seed[`envs/staging/svc-${n}/kustomization.yaml`] = kustomization(n);
  return seed;
}

function intentFor(files: number, destination: Destination): SetImage {
  return {
    type: 'set-image',
    destination,
    env: 'staging',
    image: 'web',
    repository: IMAGE,
    tag: '1.5.0',
    digestMode: 'ignore',
    mode: 'upgrade',
    policy: { policy: 'semver' },
    targets: Array.from({ length: files }, (_, n) => ({ file: `envs/staging/svc-${n}/kustomization.yaml` })),
    cause: { source: 'registry/distribution', deliveryId: 'bench' },
  };
}

async function apiRun(files: number, destination: Destination, failFraction = 0): Promise<{ requests: number; routes: string; status: string; violations: number; kib: string }> {
  const gh = await emulatedGitHub(seedFor(files));
  try {
    if (failFraction > 0) gh.emulator.faults.failRandomly(failFraction, 7);
    gh.emulator.resetCounts();
    const outcome = await execute(destination, [intentFor(files, destination)], { forge: gh.forge, repo: gh.repo, random: () => 0.5, sleep: () => Promise.resolve() });
    const counts = new Map<string, number>();
    for (const r of gh.emulator.requests) counts.set(r.route, (counts.get(r.route) ?? 0) + 1);
    const routes = [...counts].map(([k, v]) => `${k} ×${v}`).join(', ');
    const kib = (gh.emulator.requests.reduce((n, r) => n + r.bytes, 0) / 1024).toFixed(1);
    return { requests: gh.emulator.requests.length, routes, status: outcome.status, violations: gh.emulator.violations.length, kib };
  } finally {
    await gh.emulator.close();
  }
}

const PROD: Destination = { branch: 'main', write: 'merge-request', env: 'staging' };

/** Requests of one executor run, with GraphQL requests named by their root fields. */
async function counted(gh: Awaited<ReturnType<typeof emulatedGitHub>>, run: () => Promise<unknown>): Promise<{ n: number; ops: string }> {
  gh.emulator.resetCounts();
  await run();
  const counts = new Map<string, number>();
  for (const r of gh.emulator.requests) {
    const op = (r as { operation?: string }).operation ?? r.route;
    counts.set(op, (counts.get(op) ?? 0) + 1);
  }
  return { n: gh.emulator.requests.length, ops: [...counts].map(([k, v]) => (v > 1 ? `${k} ×${v}` : k)).join(', ') };
}

/**
 * The issue's GitHub rows, on one env repo (10 target files): the first bump of a rolling MR, a
 * later one (stacked; the PR text changes), a redelivered one, a rebuild on a moved base whose PR
 * text stays the same, and the first bump after the PR was squash-merged with its branch kept.
 */
export async function rollingRows(): Promise<{ name: string; n: number; ops: string }[]> {
  const gh = await emulatedGitHub(seedFor(10));
  try {
    const deps = { forge: gh.forge, repo: gh.repo, random: () => 0.5, sleep: () => Promise.resolve(), rolling: new Map<string, { base: string; head: string }>() };
    const at = (tag: string): SetImage => ({ ...intentFor(10, PROD), tag, cause: { source: 'registry/distribution', deliveryId: tag } });
    const rows: { name: string; n: number; ops: string }[] = [];
    const row = async (name: string, run: () => Promise<unknown>): Promise<void> => void rows.push({ name, ...(await counted(gh, run)) });
    await row('first bump (branch + commit + PR)', () => execute(PROD, [at('1.5.0')], deps));
    await row('later bump (stacked, PR text changes)', () => execute(PROD, [at('1.6.0')], deps));
    await row('same bump redelivered (nothing to write)', () => execute(PROD, [at('1.6.0')], deps));
    const repo = gh.emulator.state.repo('acme', 'env');
    await repo?.testRepo.commit({ 'README.md': 'moved base\n' }, 'docs');
    await row('base moved: rebuild, PR text unchanged', () => execute(PROD, [at('1.6.0')], deps));
    const open = repo?.pulls.find((p) => p.state === 'open');
    if (open) await gh.emulator.mergePull('acme/env', open.number, { method: 'squash' });
    await row('after the PR was merged (branch kept): new PR', () => execute(PROD, [at('1.7.0')], deps));
    return rows;
  } finally {
    await gh.emulator.close();
  }
}

/**
 * The same scenario on main before issue 16 (commit 7632e65), measured with `npm run bench github`:
 * two GraphQL reads, the PR state and the open PR over REST, the branch created over REST, the PR
 * always patched when its text changed, rebuilds through five REST ref calls.
 */
const BEFORE: Record<string, number> = {
  'first bump (branch + commit + PR)': 7,
  'later bump (stacked, PR text changes)': 6,
  'same bump redelivered (nothing to write)': 3,
  'base moved: rebuild, PR text unchanged': 9,
  'after the PR was merged (branch kept): new PR': 10,
};

/** A smart-HTTP git server (git http-backend as CGI) that counts requests and bytes both ways. */
async function gitHttpServer(root: string): Promise<{ url: string; requests: string[]; bytes: () => number; close(): Promise<void> }> {
  const requests: string[] = [];
  let bytes = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method ?? 'GET'} ${url.pathname.replace(/^.*\.git/, '')}${url.search}`);
    req.on('data', (c: Buffer) => (bytes += c.length));
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env['PATH'] ?? '',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: 'bench',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-encoding'] && { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] }),
        ...(req.headers['git-protocol'] && { GIT_PROTOCOL: String(req.headers['git-protocol']) }),
      },
    });
    req.pipe(child.stdin);
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.on('close', () => {
      const all = Buffer.concat(out);
      const split = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, split).toString('latin1');
      const body = all.subarray(split + 4);
      let status = 200;
      for (const line of head.split('\r\n')) {
        const [k, ...v] = line.split(':');
        const value = v.join(':').trim();
        if (!k) continue;
        if (k.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else res.setHeader(k, value);
      }
      bytes += body.length;
      res.writeHead(status);
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    bytes: () => bytes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Clone, edit N files, commit, push: the flow of tools that clone the env repo for each update. */
async function cloneAndPush(files: number): Promise<{ clone: string[]; push: string[]; bytes: number; cachedFetch: string[] }> {
  const root = await mkdtemp(join(tmpdir(), 'baton-bench-git-'));
  try {
    const bare = join(root, 'env.git');
    const seedDir = join(root, 'seed');
    await git(['init', '--quiet', '--initial-branch=main', seedDir]);
    for (const [path, contents] of Object.entries(seedFor(files))) {
      const p = join(seedDir, path);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, contents);
    }
    const env = { GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' };
    await git(['-C', seedDir, 'add', '-A']);
    await git(['-C', seedDir, 'commit', '--quiet', '-m', 'seed'], { env });
    await git(['clone', '--quiet', '--bare', seedDir, bare]);
    await git(['-C', bare, 'config', 'http.receivepack', 'true']);
    const server = await gitHttpServer(root);
    try {
      const work = join(root, 'work');
      await git(['clone', '--quiet', '--depth', '1', '--single-branch', '--branch', 'main', `${server.url}/env.git`, work]);
      const clone = [...server.requests];
      for (let n = 0; n < files; n++) await writeFile(join(work, `envs/staging/svc-${n}/kustomization.yaml`), kustomization(n).replace('1.4.2', '1.5.0'));
      await git(['-C', work, 'commit', '--quiet', '-am', 'bump'], { env });
      server.requests.length = 0;
      await git(['-C', work, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main']);
      const push = [...server.requests];
      const bytes = server.bytes();
      // A kept clone (Baton's own git forge) fetches instead of cloning.
      server.requests.length = 0;
      await git(['-C', work, 'fetch', '--quiet', 'origin', 'main']);
      const cachedFetch = [...server.requests];
      return { clone, push, bytes, cachedFetch };
    } finally {
      await server.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export default {
  title: 'GitHub: API requests per coalesced commit vs. clone-and-push (both counted at the server)',
  async run(): Promise<string[]> {
    const lines: string[] = ['Baton on the GitHub API (real executor, emulator-counted; goal: 2 = one read, one write)'];
    for (const n of [1, 10, 50]) {
      const r = await apiRun(n, { branch: 'main', write: 'commit' });
      lines.push(`  ${String(n).padStart(3)} files: ${r.requests} requests, ${r.kib} KiB both ways (${r.status}; ${r.violations} API-description violations) — ${r.routes}`);
    }
    const baseline = (await apiRun(10, { branch: 'main', write: 'commit' })).requests;
    lines.push(`GitHub \`write: merge-request\` (10 files; same-run baseline: a \`write: commit\` bump = ${baseline} requests, one read + one write)`);
    const rows = await rollingRows();
    for (const r of rows) {
      const before = BEFORE[r.name];
      lines.push(`  ${r.name.padEnd(46)} ${String(r.n).padStart(2)} requests = ${(r.n / baseline).toFixed(1)}× baseline${before !== undefined ? ` (before: ${before})` : ''} — ${r.ops}`);
    }
    const n = (name: string): string => `${BEFORE[name] ?? '?'} → ${rows.find((r) => r.name === name)?.n ?? '?'}`;
    lines.push(
      `  issue 16, GitHub rows: first bump ${n('first bump (branch + commit + PR)')} requests (goal ≤ 4); later bumps ${n('later bump (stacked, PR text changes)')} (goal ≤ 3), the PR edited only when its text changes (rebuild with the same text: ${n('base moved: rebuild, PR text unchanged')}, no PR call)`,
    );
    const flaky = await apiRun(10, { branch: 'main', write: 'commit' }, 0.3);
    lines.push(`  with a seeded 30% of requests failing (5xx/429), 10 files: ${flaky.requests} requests (${flaky.status})`);
    lines.push('Clone-and-push over git smart HTTP (git http-backend, same repo content incl. 200 unrelated files)');
    for (const n of [1, 10, 50]) {
      const g = await cloneAndPush(n);
      lines.push(
        `  ${String(n).padStart(3)} files: ${g.clone.length + g.push.length} HTTP round trips (clone --depth 1: ${g.clone.length}, push: ${g.push.length}), ${(g.bytes / 1024).toFixed(1)} KiB both ways; a kept clone fetches with ${g.cachedFetch.length} more`,
      );
      if (n === 1) lines.push(`      clone: ${g.clone.join(' | ')}`, `      push:  ${g.push.join(' | ')}`);
    }
    lines.push('The API flow is also atomic against concurrent writers (expectedHeadOid); a pushed clone races and must re-fetch on rejection.');
    return lines;
  },
} satisfies BenchModule;
