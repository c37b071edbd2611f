/** The embedded default: a local bare env repo under BATON_DATA_DIR, seeded from examples/env-repo. */

import { randomBytes } from 'node:crypto';
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
    await git(['push', '--quiet', bare, 'HEAD:refs/heads/main'], { cwd: work });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { path: bare, created: true };
}

/** A demo registry token, generated once and kept (mode 600) so restarts keep the same curl working. */
export async function demoToken(dataDir: string): Promise<string> {
  const file = join(dataDir, 'demo-registry-token');
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
    `  -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' \\`,
    `  -d '${body}'`,
  ].join('\n');
}
