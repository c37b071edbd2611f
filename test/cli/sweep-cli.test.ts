/** `baton sweep [--dry-run]` as a user runs it: env repo on plain git, app repo on the GitHub emulator. */

import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitHubEmulator } from '../emulators/github/server.js';
import type { GitHubEmulator } from '../emulators/github/server.js';
import { TEMPLATE, previewConfig } from '../core/preview/fixtures.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import type { TestRepo } from '../helpers/git-repo.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function baton(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const preview = (n: number): string =>
  `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web-pr-${n}\n  annotations:\n    baton.dev/merge-request: github:acme/web#${n}\n    baton.dev/image: web\nspec: {}\n`;

describe('baton sweep', () => {
  let gh: GitHubEmulator;
  let env: TestRepo;
  let settings: Record<string, string>;
  let data = '';

  beforeAll(async () => {
    gh = await startGitHubEmulator();
    const app = await gh.createRepo('acme/web', { 'README.md': 'web\n' });
    const token = gh.addUser('baton-bot');
    gh.grant('acme/web', 'baton-bot', 'read');
    await app.testRepo.commit({ 'a.txt': '1\n' }, 'a', 'feature');
    gh.openPull('acme/web', { head: 'feature', base: 'main', title: 'Closed', user: 'alice' });
    gh.openPull('acme/web', { head: 'feature', base: 'main', title: 'Open', user: 'alice' });
    const closed = app.pulls.find((p) => p.number === 1);
    if (closed) closed.state = 'closed';
    const open = app.pulls.find((p) => p.number === 2);
    if (open) open.updatedAt = new Date().toISOString();
    env = await createBareRepo({ '.baton.yml': previewConfig(), 'envs/staging/kustomization.yaml': 'images: []\n' });
    await env.commit({ 'templates/preview-app.yaml': TEMPLATE, 'apps/web-pr-1.yaml': preview(1), 'apps/web-pr-2.yaml': preview(2) }, 'previews', 'previews');
    data = await tempDir();
    settings = { BATON_ENV_REPO: env.bare, BATON_DATA_DIR: join(data, 'data'), GITHUB_TOKEN: token, GITHUB_API_URL: gh.url };
  });
  afterAll(async () => {
    await gh?.close();
    await env?.cleanup();
    await rm(data, { recursive: true, force: true });
  });

  it('--dry-run says what it would remove and writes nothing', async () => {
    const head = await env.head('previews');
    const r = await baton(['sweep', '--dry-run'], settings);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('would remove web-pr-1 (!1, closed)');
    expect(r.stdout).toContain('keep web-pr-2 (!2, open)');
    expect(await env.head('previews')).toBe(head);
  });

  it('without --dry-run removes the preview of the closed MR in one commit', async () => {
    const r = await baton(['sweep'], settings);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('remove web-pr-1 (!1, closed)');
    expect(await env.subjects('previews')).toContain('Remove preview web-pr-1 (closed)');
    await expect(env.show('previews', 'apps/web-pr-1.yaml')).rejects.toThrow();
    expect(await env.show('previews', 'apps/web-pr-2.yaml')).toBe(preview(2));
    expect(gh.violations).toEqual([]);
  });
});
