/**
 * `baton replay` takes GitHub and GitLab deliveries (with their event header) through the server's
 * own parsers, and its --dry-run pins the digest the registry resolves, as a real run writes it;
 * `baton resync --dry-run` prints the diff it would write, then "nothing would change".
 *
 * The registry here is a small stand-in speaking the distribution API's three calls Baton makes
 * (tags list, manifest HEAD/GET); test/cli/resync.test.ts runs the same against a real docker-registry.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kustomization, oneImageConfig } from '../helpers/baton.js';
import { ghcrPackageEvent } from '../helpers/github.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import { ROOT, runBaton } from './helpers.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** HEAD/GET /v2/team/web/manifests/<tag> answer DIGEST for the tags listed; /tags/list lists them. */
async function standInRegistry(tags: string[]): Promise<{ host: string; close(): Promise<void> }> {
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: DIGEST, size: 2 }, layers: [] });
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/' || url === '/v2') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    if (url.startsWith('/v2/team/web/tags/list')) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: 'team/web', tags }));
    const m = /^\/v2\/team\/web\/manifests\/([^/?]+)$/.exec(url);
    if (m && tags.includes(m[1] ?? '')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': DIGEST, 'content-length': Buffer.byteLength(manifest) });
      return void res.end(req.method === 'HEAD' ? undefined : manifest);
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('baton replay of forge deliveries', () => {
  it('a GitHub `package` delivery (X-GitHub-Event) plans the GHCR bump; without the header it is refused by name', async () => {
    const repo = await createBareRepo({ '.baton.yml': oneImageConfig('ghcr.io/acme/web'), 'envs/staging/kustomization.yaml': kustomization('ghcr.io/acme/web', '1.2.0') });
    const dir = await tempDir();
    const file = join(dir, 'package.json');
    await writeFile(file, JSON.stringify(ghcrPackageEvent('1.3.0')));
    const env = { BATON_ENV_REPO: repo.bare, BATON_DATA_DIR: join(dir, 'data') };
    const [dry, headless] = await Promise.all([
      runBaton(['replay', '--source', 'github', '--header', 'X-GitHub-Event=package', '--event', file, '--dry-run'], { env }),
      runBaton(['replay', '--source', 'github', '--event', file, '--dry-run'], { env }),
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('-    newTag: "1.2.0"\n+    newTag: "1.3.0"');
    expect(dry.stderr).toContain('web 1.2.0 → 1.3.0 in staging (main)');
    expect(headless.stdout).toBe('');
    expect(headless.stderr).toMatch(/^note: ignored: /m);
    expect(await repo.subjects()).toEqual(['seed']);
    await repo.cleanup();
  }, 90_000);

  it('a GitLab `Pipeline Hook` delivery moves a policy: sha image to the commit that passed, and writes without --dry-run', async () => {
    const sha = 'bcbb5ec396a2c0f828686f14fac9b80b780504f2';
    const config = oneImageConfig('registry.example.com/team/web', '    source: gitlab:acme/web\n').replace('policy: semver', 'policy: sha');
    const repo = await createBareRepo({ '.baton.yml': config, 'envs/staging/kustomization.yaml': kustomization('registry.example.com/team/web', '0123abcd') });
    const dir = await tempDir();
    // GitLab's documented pipeline event (test/fixtures/gitlab), for a push pipeline on acme/web's default branch.
    const event = JSON.parse(await readFile(join(ROOT, 'test/fixtures/gitlab/pipeline.json'), 'utf8')) as { object_attributes: Record<string, unknown>; project: Record<string, unknown>; merge_request?: unknown };
    delete event.merge_request;
    Object.assign(event.object_attributes, { ref: 'main', source: 'push', status: 'success', sha });
    Object.assign(event.project, { path_with_namespace: 'acme/web', default_branch: 'main' });
    const file = join(dir, 'pipeline.json');
    await writeFile(file, JSON.stringify(event));
    const env = { BATON_ENV_REPO: repo.bare, BATON_DATA_DIR: join(dir, 'data') };
    const args = ['replay', '--source', 'gitlab', '--header', 'X-Gitlab-Event=Pipeline Hook', '--event', file];
    const dry = await runBaton([...args, '--dry-run'], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`+    newTag: "${sha.slice(0, 8)}"`);
    expect(await repo.subjects()).toEqual(['seed']);
    const real = await runBaton(args, { env });
    expect(real.code, real.stderr).toBe(0);
    expect(real.stderr).toMatch(/committed [0-9a-f]{40} on main/);
    expect((await repo.subjects())[0]).toBe(`web 0123abcd → ${sha.slice(0, 8)} in staging`);
    await repo.cleanup();
  }, 90_000);
});

describe('dry runs resolve digests as the server does', () => {
  let registry: Awaited<ReturnType<typeof standInRegistry>>;
  beforeAll(async () => {
    registry = await standInRegistry(['1.2.0', '1.3.0']);
  });
  afterAll(() => registry?.close());

  it('replay --dry-run of a push without a digest pins the resolved one; resync --dry-run shows its diff, then "nothing would change"', async () => {
    const name = `${registry.host}/team/web`;
    const repo = await createBareRepo({ '.baton.yml': oneImageConfig(name, '    digest: pin\n'), 'envs/staging/kustomization.yaml': kustomization(name, '1.2.0') });
    const dir = await tempDir();
    const file = join(dir, 'event.json');
    await writeFile(file, JSON.stringify({ events: [{ id: 'no-digest', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: '1.3.0' }, request: { host: registry.host } }] }));
    const env = { BATON_ENV_REPO: repo.bare, BATON_DATA_DIR: join(dir, 'data') };

    const [replayed, resyncDry] = await Promise.all([
      runBaton(['replay', '--source', 'registry:distribution', '--event', file, '--dry-run'], { env }),
      runBaton(['resync', '--dry-run'], { env }),
    ]);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain(`+    digest: "${DIGEST}"`);
    expect(resyncDry.code, resyncDry.stderr).toBe(0);
    expect(resyncDry.stdout).toContain('-    newTag: "1.2.0"\n+    newTag: "1.3.0"');
    expect(resyncDry.stdout).toContain(`+    digest: "${DIGEST}"`);
    expect(await repo.subjects()).toEqual(['seed']);

    const real = await runBaton(['resync'], { env });
    expect(real.code, real.stderr).toBe(0);
    expect(await repo.show('main', 'envs/staging/kustomization.yaml')).toContain(DIGEST);
    const again = await runBaton(['resync', '--dry-run'], { env });
    expect(again.stdout).toContain('nothing would change');
    await repo.cleanup();
  }, 120_000);
});
