/** `baton resync` against a real CNCF registry: the safety net for a missed webhook. */

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kustomization, oneImageConfig } from '../helpers/baton.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import type { TestRepo } from '../helpers/git-repo.js';
import { buildImage, pushImage, registryUnavailable, startRegistry } from '../helpers/registry.js';
import type { RunningRegistry } from '../helpers/registry.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const missing = registryUnavailable();
if (missing) console.warn(`skipping baton resync against a real registry: ${missing}`);

function baton(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'warn', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(missing !== undefined)('baton resync (real docker-registry + skopeo)', () => {
  let registry: RunningRegistry;
  let repo: TestRepo;
  const digests: Record<string, string> = {};

  beforeAll(async () => {
    registry = await startRegistry();
    for (const tag of ['1.2.3', '1.4.0', '2.0.0']) {
      const image = await buildImage(tag, { multiArch: tag === '1.4.0' });
      digests[tag] = await pushImage(image, registry.host);
    }
    const name = `${registry.host}/team/web`;
    repo = await createBareRepo({
      '.baton.yml': oneImageConfig(name, '    range: "<2.0.0"\n    digest: pin\n'),
      'envs/staging/kustomization.yaml': kustomization(name, '1.2.3'),
    });
  }, 120_000);
  afterAll(async () => {
    await registry?.stop();
    await repo?.cleanup();
  });

  it('bumps to the newest tag the policy accepts, pinning the multi-arch index digest, then finds nothing to do', async () => {
    const env = { BATON_ENV_REPO: repo.bare, BATON_DATA_DIR: join(await tempDir(), 'data') };
    const dry = await baton(['resync', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`${registry.host}/team/web: newest accepted tag 1.4.0@${digests['1.4.0']}`);
    expect(await repo.subjects()).toEqual(['seed']);

    // The dry run shows the diff a real run writes, digest pinned as the registry resolves it.
    expect(dry.stdout).toContain('-    newTag: "1.2.3"\n+    newTag: "1.4.0"');
    expect(dry.stdout).toContain(`+    digest: "${digests['1.4.0']}"`);
    expect(dry.stdout).toContain('  web 1.2.3 → 1.4.0 in staging (main)');

    // replay --dry-run of a push that names no digest resolves it the way the server does.
    const dir = await tempDir();
    const event = join(dir, 'event.json');
    await writeFile(event, JSON.stringify({ events: [{ id: 'no-digest-1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: '1.4.0' }, request: { host: registry.host } }] }));
    const replayed = await baton(['replay', '--source', 'registry:distribution', '--event', event, '--dry-run'], env);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain(`+    digest: "${digests['1.4.0']}"`);

    const run = await baton(['resync'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/main: committed [0-9a-f]{40} \(web 1\.2\.3 → 1\.4\.0 in staging\)/);
    const file = await repo.show('main', 'envs/staging/kustomization.yaml');
    expect(file).toContain('newTag: "1.4.0"');
    expect(file).toContain(digests['1.4.0']);

    const again = await baton(['resync'], env);
    expect(again.stdout).toContain('main: already up to date');
    expect(await repo.subjects()).toEqual(['web 1.2.3 → 1.4.0 in staging', 'seed']);
    const nothing = await baton(['resync', '--dry-run'], env);
    expect(nothing.stdout).toContain('nothing would change');
  }, 240_000);
});
