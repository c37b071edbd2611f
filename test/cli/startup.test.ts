/**
 * Setup mistakes caught at start: each is one line on stderr naming the setting to fix, and exit 1 —
 * never a silently ignored setting, a demo nobody asked for, or a server that fails every event.
 */

import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitHubEmulator } from '../emulators/github/server.js';
import type { GitHubEmulator } from '../emulators/github/server.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import { tempDir } from '../helpers/git-repo.js';
import { runBaton } from './helpers.js';
import type { Run } from './helpers.js';

/** Start `baton serve` with `env`; a server that does start is stopped as soon as it prints, so the assertion below fails clearly. */
async function serveWith(env: Record<string, string>): Promise<Run> {
  const dir = await tempDir();
  return runBaton(['serve'], {
    env: { BATON_DATA_DIR: join(dir, 'data'), PORT: '0', HOST: '127.0.0.1', BATON_FORGE_TIMEOUT: '5s', ...env },
    onStdout: (out, child) => {
      if (out.includes('Send a first') || out.includes('Baton is listening')) child.kill('SIGTERM');
    },
    timeoutMs: 45_000,
  });
}

function oneLine(run: Run): string {
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  return lines[0] ?? '';
}

describe('settings', () => {
  it('a misspelt BATON_* setting is refused with the closest known name, not ignored for the demo', async () => {
    const run = await serveWith({ BATON_ENV_REPOSITORY: 'github:acme/env' });
    expect(run.code).toBe(1);
    expect(oneLine(run)).toBe('unknown setting BATON_ENV_REPOSITORY — did you mean BATON_ENV_REPO?');
    expect(run.stdout).not.toContain('DEMO');
  }, 60_000);

  it('a forge setting without BATON_ENV_REPO is refused instead of starting the demo', async () => {
    const run = await serveWith({ GITHUB_TOKEN: 'ghp_something' });
    expect(run.code).toBe(1);
    expect(oneLine(run)).toMatch(/^GITHUB_TOKEN is set but BATON_ENV_REPO is not: set BATON_ENV_REPO/);
  }, 60_000);

  it('where BATON_REQUIRE_ENV_REPO=true (the container image), the demo needs BATON_DEMO=true', async () => {
    const refused = await serveWith({ BATON_REQUIRE_ENV_REPO: 'true' });
    expect(refused.code).toBe(1);
    expect(oneLine(refused)).toMatch(/^BATON_ENV_REPO is not set: .* or set BATON_DEMO=true to run the embedded demo$/);
    const demo = await serveWith({ BATON_REQUIRE_ENV_REPO: 'true', BATON_DEMO: 'true' });
    expect(demo.stdout.split('\n')[0]).toMatch(/^Baton is starting the embedded DEMO/);
  }, 60_000);

  it('a malformed value names its setting', async () => {
    const run = await serveWith({ BATON_RETENTION: 'a day' });
    expect(run.code).toBe(1);
    expect(oneLine(run)).toContain('BATON_RETENTION: expected a duration');
  }, 60_000);
});

describe('the port', () => {
  let busy: Server;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => busy.close(() => r())));

  it('a busy port is "port N is in use; set PORT", exit 1', async () => {
    const port = (busy.address() as AddressInfo).port;
    const run = await serveWith({ PORT: String(port) });
    expect(run.code).toBe(1);
    expect(oneLine(run)).toBe(`port ${port} is in use; set PORT`);
  }, 60_000);
});

describe('the env repository', () => {
  let github: GitHubEmulator;
  let gitlab: GitlabEmulator;
  let token: string;
  beforeAll(async () => {
    github = await startGitHubEmulator();
    token = github.addUser('baton-bot');
    await github.createRepo('acme/env', { '.baton.yml': 'version: 1\nenvironments: {}\n' });
    github.grant('acme/env', 'baton-bot', 'write');
    gitlab = await startGitlabEmulator();
    await gitlab.addProject('acme/env', { '.baton.yml': 'version: 1\nenvironments: {}\n' });
  });
  afterAll(async () => {
    await github?.close();
    await gitlab?.close();
  });

  it('a git env repo that cannot be read names BATON_ENV_REPO', async () => {
    const dir = await tempDir();
    const run = await serveWith({ BATON_ENV_REPO: join(dir, 'nowhere.git') });
    expect(run.code).toBe(1);
    expect(oneLine(run)).toMatch(new RegExp(`^BATON_ENV_REPO=${join(dir, 'nowhere.git')}: cannot read the repository`));
  }, 60_000);

  it('a wrong GitHub token names GITHUB_TOKEN; a repository the token cannot see names BATON_ENV_REPO', async () => {
    const [wrong, missing] = await Promise.all([
      serveWith({ BATON_ENV_REPO: 'github:acme/env', GITHUB_TOKEN: 'ghp_wrong', GITHUB_API_URL: github.url }),
      serveWith({ BATON_ENV_REPO: 'github:acme/nope', GITHUB_TOKEN: token, GITHUB_API_URL: github.url }),
    ]);
    expect(wrong.code).toBe(1);
    expect(oneLine(wrong)).toBe('GITHUB_TOKEN: GitHub refused the credentials (401); check GITHUB_TOKEN');
    expect(missing.code).toBe(1);
    expect(oneLine(missing)).toMatch(/^BATON_ENV_REPO=github:acme\/nope: not found, or GITHUB_TOKEN may not read it \(404\)/);
  }, 90_000);

  it('a wrong GitLab token names GITLAB_TOKEN; an unreachable GitLab names GITLAB_URL', async () => {
    const [wrong, away] = await Promise.all([
      serveWith({ BATON_ENV_REPO: 'gitlab:acme/env', GITLAB_TOKEN: 'glpat-wrong', GITLAB_URL: gitlab.url }),
      serveWith({ BATON_ENV_REPO: 'gitlab:acme/env', GITLAB_TOKEN: gitlab.token, GITLAB_URL: 'http://127.0.0.1:9', BATON_FORGE_TIMEOUT: '3s' }),
    ]);
    expect(wrong.code).toBe(1);
    expect(oneLine(wrong)).toBe('GITLAB_TOKEN: GitLab refused the credentials (401); check GITLAB_TOKEN');
    expect(away.code).toBe(1);
    expect(oneLine(away)).toMatch(/^BATON_ENV_REPO=gitlab:acme\/env: cannot reach http:\/\/127\.0\.0\.1:9: .* \(check GITLAB_URL and the network\)$/);
  }, 90_000);

  it('a GitHub App key file that is not there names PRIVATE_KEY_PATH', async () => {
    const dir = await tempDir();
    const key = join(dir, 'baton.pem');
    const run = await serveWith({ BATON_ENV_REPO: 'github:acme/env', APP_ID: '12345', PRIVATE_KEY_PATH: key, GITHUB_API_URL: github.url });
    expect(run.code).toBe(1);
    expect(oneLine(run)).toBe(`PRIVATE_KEY_PATH: cannot read ${key} (ENOENT)`);
  }, 60_000);

  it('a GitHub App key file that is not a key names PRIVATE_KEY_PATH', async () => {
    const dir = await tempDir();
    const key = join(dir, 'baton.pem');
    await writeFile(key, 'not a key\n');
    const run = await serveWith({ BATON_ENV_REPO: 'github:acme/env', APP_ID: '12345', PRIVATE_KEY_PATH: key, GITHUB_API_URL: github.url });
    expect(run.code).toBe(1);
    expect(oneLine(run)).toBe(`PRIVATE_KEY_PATH: ${key} is not a PEM private key`);
  }, 60_000);

  it('with a readable env repo it starts (no demo line)', async () => {
    const run = await serveWith({ BATON_ENV_REPO: 'github:acme/env', GITHUB_TOKEN: token, GITHUB_API_URL: github.url, LOG_LEVEL: 'info' });
    expect(run.stdout).toContain('Baton is listening');
    expect(run.stdout).not.toContain('DEMO');
  }, 60_000);
});
