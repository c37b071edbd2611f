/** The embedded default: a local bare env repo under BATON_DATA_DIR, seeded from examples/env-repo. */

import { createHmac, randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { git } from '../forges/git/run-git.js';

/** examples/env-repo, found from both src/cli (tsx) and dist/cli (built). */
export const EXAMPLE_ENV_REPO = fileURLToPath(new URL('../../examples/env-repo', import.meta.url));

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Create `<dataDir>/env.git` from the example on first start; returns its path. */
export async function ensureEmbeddedRepo(dataDir: string, seedDir = EXAMPLE_ENV_REPO): Promise<{ path: string; created: boolean }> {
  const bare = join(dataDir, 'env.git');
  if (await exists(join(bare, 'HEAD'))) return { path: bare, created: false };
  await mkdir(dataDir, { recursive: true });
  await git(['init', '--bare', '--quiet', '--initial-branch=main', '--template=', bare]);
  const work = await mkdtemp(join(tmpdir(), 'baton-seed-'));
  try {
    await cp(seedDir, work, { recursive: true });
    const env = { GIT_AUTHOR_NAME: 'Baton', GIT_AUTHOR_EMAIL: 'baton@localhost', GIT_COMMITTER_NAME: 'Baton', GIT_COMMITTER_EMAIL: 'baton@localhost' };
    await git(['init', '--quiet', '--initial-branch=main', '--template='], { cwd: work });
    await git(['add', '-A'], { cwd: work });
    await git(['commit', '--quiet', '-m', 'Seed the demo environment repository from examples/env-repo'], { cwd: work, env });
    // The seed workflow for previews: a `previews` branch holding the templates (and, later, the previews).
    await git(['push', '--quiet', bare, 'HEAD:refs/heads/main', 'HEAD:refs/heads/previews'], { cwd: work });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { path: bare, created: true };
}

/** A demo registry token, generated once and kept (mode 600) so restarts keep the same curl working. */
export function demoToken(dataDir: string): Promise<string> {
  return demoSecret(dataDir, 'demo-registry-token');
}

/** The demo GitHub webhook secret (embedded default without WEBHOOK_SECRET), kept like the token. */
export function demoGithubSecret(dataDir: string): Promise<string> {
  return demoSecret(dataDir, 'demo-github-secret');
}

async function demoSecret(dataDir: string, name: string): Promise<string> {
  const file = join(dataDir, name);
  try {
    const t = (await readFile(file, 'utf8')).trim();
    if (t) return t;
  } catch {
    // first start
  }
  const token = `demo-${randomBytes(18).toString('base64url')}`;
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, token + '\n', { mode: 0o600 });
  return token;
}

export function demoCurl(baseUrl: string, token: string, tag = '1.5.0'): string {
  const digest = `sha256:${'5'.repeat(64)}`;
  const body = JSON.stringify({
    events: [
      {
        id: `demo-${tag}`,
        action: 'push',
        target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag, digest },
        request: { host: 'localhost:5000' },
        actor: { name: 'you' },
      },
    ],
  });
  return [
    `curl -sS -X POST ${baseUrl}/webhooks/registry/distribution \\`,
    `  -H "Authorization: Bearer ${token}" -H 'Content-Type: application/json' \\`,
    `  -d '${body}'`,
  ].join('\n');
}

/**
 * The demo curl the README shows: pasted as is in the directory `npm start` runs in, it reads the
 * demo token from `.baton/` (test/cli/readme-demo.test.ts runs it against a started demo).
 */
export function readmeDemoCurl(): string {
  return demoCurl('http://localhost:3000', '$(cat .baton/demo-registry-token)');
}

/** The demo merge request: github:acme/web#42 at 3f2c1d0, the example env repo's preview source. */
export const DEMO_PR = { repo: 'acme/web', number: 42, sha: '3f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e', branch: 'feature/login' } as const;

/**
 * The preview demo, two calls: the registry announces the MR's build (`<repo>:3f2c1d0`), then a
 * GitHub-format `pull_request` delivery, signed with the demo secret, opens the MR.
 */
export function demoPreviewCurls(baseUrl: string, token: string, secret: string): string {
  const tag = DEMO_PR.sha.slice(0, 7);
  const build = demoCurl(baseUrl, token, tag);
  const body = JSON.stringify({
    action: 'opened',
    number: DEMO_PR.number,
    repository: { full_name: DEMO_PR.repo, default_branch: 'main' },
    sender: { login: 'you', type: 'User' },
    pull_request: {
      number: DEMO_PR.number,
      title: 'Add the login page',
      merged: false,
      user: { login: 'you' },
      labels: [],
      head: { sha: DEMO_PR.sha, ref: DEMO_PR.branch, repo: { full_name: DEMO_PR.repo } },
      base: { ref: 'main', repo: { full_name: DEMO_PR.repo } },
    },
  });
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return [
    build,
    '',
    `curl -sS -X POST ${baseUrl}/webhooks/github \\`,
    `  -H 'X-GitHub-Event: pull_request' -H 'X-GitHub-Delivery: demo-pr-${DEMO_PR.number}' \\`,
    `  -H 'X-Hub-Signature-256: ${signature}' -H 'Content-Type: application/json' \\`,
    `  -d '${body}'`,
  ].join('\n');
}

export interface DemoBannerOptions {
  url: string;
  gitDir: string;
  /** The registry token the demo accepts (its own, or `$BATON_REGISTRY_TOKEN` when one is set). */
  token: string;
  debounceMs: number;
  githubSecret?: string;
}

/**
 * The first line `baton serve` prints on the embedded default, before anything else: nobody should
 * mistake the demo for their configured Baton (a misspelt BATON_ENV_REPO is refused before this).
 */
export const DEMO_HEADLINE = 'Baton is starting the embedded DEMO (no BATON_ENV_REPO and no forge setting): it writes to a local example env repo. To use your env repository, set BATON_ENV_REPO.';

/** What `baton serve` prints once the demo listens: where its repo is, and the first curl to send. */
export function demoBanner(o: DemoBannerOptions): string {
  const tokenLine = o.token.startsWith('$') ? [] : [`  registry token (demo): ${o.token}`];
  return [
    `  env repo:  ${o.gitDir}`,
    ...tokenLine,
    '',
    'Send a first image-pushed event:',
    '',
    demoCurl(o.url, o.token),
    '',
    `Then, after BATON_DEBOUNCE_MS (${o.debounceMs} ms), see the commit:`,
    `  git --git-dir ${o.gitDir} log -p -1 main`,
    ...(o.githubSecret
      ? [
          '',
          'Open a preview environment: the registry announces the merge request build, then GitHub announces the merge request:',
          '',
          demoPreviewCurls(o.url, o.token, o.githubSecret),
          '',
          'Then see the preview Application Baton wrote:',
          `  git --git-dir ${o.gitDir} log -p -1 previews`,
        ]
      : []),
  ].join('\n');
}
