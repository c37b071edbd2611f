/** The `baton` command as a user runs it: a real process, real files, real git. */

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import { kustomization, oneImageConfig } from '../helpers/baton.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function baton(args: string[], env: Record<string, string> = {}, onStdout?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const REPO = 'registry.example.com/team/web';
const EVENT = { events: [{ id: 'replayed-1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: '1.3.0' }, request: { host: 'registry.example.com' } }] };

describe('baton validate', () => {
  it('exits 0 for a valid file and 1 with located messages for an invalid one', async () => {
    const ok = await baton(['validate', 'examples/env-repo/.baton.yml']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('valid — 2 environments, 1 image, 1 preview');
    const dir = await tempDir();
    const bad = join(dir, '.baton.yml');
    await writeFile(bad, 'version: 1\nenvironments:\n  staging:\n    write: yolo\n');
    const res = await baton(['validate', bad]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${bad}:4:12: environments.staging.write:`);
  });
});

describe('baton replay', () => {
  it('prints the plan as a unified diff with --dry-run and writes nothing; without it, commits', async () => {
    const repo = await createBareRepo({ '.baton.yml': oneImageConfig(REPO), 'envs/staging/kustomization.yaml': kustomization(REPO, '1.2.0') });
    const dir = await tempDir();
    const file = join(dir, 'event.json');
    await writeFile(file, JSON.stringify(EVENT));
    const env = { BATON_ENV_REPO: repo.bare, BATON_DATA_DIR: join(dir, 'data') };

    const dry = await baton(['replay', '--source', 'registry:distribution', '--event', file, '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('--- a/envs/staging/kustomization.yaml');
    expect(dry.stdout).toContain('-    newTag: "1.2.0"\n+    newTag: "1.3.0"');
    expect(dry.stderr).toContain('web 1.2.0 → 1.3.0 in staging (main)');
    expect(await repo.subjects()).toEqual(['seed']);

    const real = await baton(['replay', '--source', 'registry:distribution', '--event', file], env);
    expect(real.code).toBe(0);
    expect(real.stderr).toMatch(/committed [0-9a-f]{40} on main/);
    expect(await repo.subjects()).toEqual(['web 1.2.0 → 1.3.0 in staging', 'seed']);
    await repo.cleanup();
  });
});

describe('baton replay with BATON_SKIP_CI', () => {
  it('marks its commit [skip ci], like the server does', async () => {
    const repo = await createBareRepo({ '.baton.yml': oneImageConfig(REPO), 'envs/staging/kustomization.yaml': kustomization(REPO, '1.2.0') });
    const dir = await tempDir();
    const file = join(dir, 'event.json');
    await writeFile(file, JSON.stringify(EVENT));
    const res = await baton(['replay', '--source', 'registry:distribution', '--event', file], { BATON_ENV_REPO: repo.bare, BATON_DATA_DIR: join(dir, 'data'), BATON_SKIP_CI: 'true' });
    expect(res.code).toBe(0);
    expect(await repo.subjects()).toEqual(['web 1.2.0 → 1.3.0 in staging [skip ci]', 'seed']);
    await repo.cleanup();
  });
});

describe('baton serve', () => {
  it('starts on the embedded default, prints a working curl, and drains queued work on SIGTERM', async () => {
    const dir = await tempDir();
    const dataDir = join(dir, 'data');
    let posted = false;
    let reply: Promise<Response> | undefined;
    const run = await baton(['serve'], { BATON_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', BATON_DEBOUNCE_MS: '60000' }, (out, child) => {
      const url = /curl -sS -X POST (\S+) /.exec(out)?.[1];
      const token = /Bearer ([^"]+)"/.exec(out)?.[1];
      const body = /-d '(.+)'\n/.exec(out)?.[1];
      if (posted || !url || !token || !body) return;
      posted = true;
      reply = fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body }).then((r) => {
        // The debounce window is a minute: only the drain on SIGTERM can write it now.
        setTimeout(() => child.kill('SIGTERM'), 300);
        return r;
      });
    });
    expect(posted).toBe(true);
    expect((await reply)?.status).toBe(202);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('registry token (demo): demo-');
    const { git } = await import('../../src/forges/git/run-git.js');
    const log = await git(['--git-dir', join(dataDir, 'env.git'), 'log', '--format=%s', 'main']);
    expect(log.split('\n')[0]).toBe('web 1.4.2 → 1.5.0 in staging');
  });
});
