/** `baton promote|rollback|pause|resume|status|diff` as an operator runs them: a real process over a real bare repo. */

import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kustomization } from '../helpers/baton.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import type { TestRepo } from '../helpers/git-repo.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WEB = 'registry.example.com/team/web';

const CONFIG = `version: 1
environments:
  staging:
    branch: main
  production:
    branch: main
    promoteFrom: staging
images:
  web:
    repository: ${WEB}
    targets:
      staging: [envs/staging/kustomization.yaml]
      production: [envs/production/kustomization.yaml]
`;

function baton(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'warn', ...env },
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

describe('baton <command> --as NAME: the /baton commands from a shell', () => {
  let repo: TestRepo;
  let env: Record<string, string>;
  let data: string;
  beforeAll(async () => {
    repo = await createBareRepo({ '.baton.yml': CONFIG, 'envs/staging/kustomization.yaml': kustomization(WEB, '1.2.0'), 'envs/production/kustomization.yaml': kustomization(WEB, '1.0.0') });
    data = await tempDir('baton-cli-data-');
    // BATON_URL names a port nothing listens on: `baton status` reads the env repo itself.
    env = { BATON_ENV_REPO: repo.bare, BATON_DATA_DIR: data, BATON_URL: 'http://127.0.0.1:9' };
  });
  afterAll(async () => {
    await repo?.cleanup();
    await rm(data, { recursive: true, force: true });
  });

  it('promote without --as is refused: the audit trail needs a name', async () => {
    const r = await baton(['promote', 'production'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--as <name>');
  });

  it('an unknown environment gets the same suggestion as in a comment', async () => {
    const r = await baton(['promote', 'prodution', '--as', 'alice'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Did you mean `production`?');
  });

  it('promote, then rollback to a version, then pause: each lands as a commit naming the operator', async () => {
    const promote = await baton(['promote', 'production', '--as', 'alice'], env);
    expect(promote.stderr).toBe('');
    expect(promote.code).toBe(0);
    expect(promote.stdout).toContain('web 1.0.0 → 1.2.0 in production');
    expect(await repo.show('main', 'envs/production/kustomization.yaml')).toBe(kustomization(WEB, '1.2.0'));
    expect(await repo.message('main')).toContain('Baton-Actor: alice');

    const rollback = await baton(['rollback', 'production', 'web', 'to', '1.0.0', '--as', 'alice'], env);
    expect(rollback.code).toBe(0);
    expect(await repo.show('main', 'envs/production/kustomization.yaml')).toBe(kustomization(WEB, '1.0.0'));
    expect(await repo.message('main')).toContain('Baton-Rollback: alice: rollback from 1.2.0 to 1.0.0');

    const pause = await baton(['pause', 'production', '--as', 'bob'], env);
    expect(pause.code).toBe(0);
    expect(await repo.show('main', '.baton/state.yml')).toMatch(/production:\n {4}by: bob\n {4}since: .+\n {4}comment: cli/);
    const status = await baton(['status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^production +web +1\.0\.0 +paused /m);
    expect(status.stdout).toMatch(/^staging +web +1\.2\.0 +on /m);
    expect(status.stdout).toMatch(/production\/web: paused by bob since \S+ \(cli\)/);
  });

  it('diff prints the plan and writes nothing', async () => {
    const head = await repo.head();
    const r = await baton(['diff', 'production'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('+    newTag: "1.2.0"');
    expect(await repo.head()).toBe(head);
  });
});
