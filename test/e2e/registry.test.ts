/**
 * End to end with real peers: skopeo pushes to Debian's docker-registry, the registry posts its
 * notifications to a running Baton, and Baton commits the bump to a real bare env repo.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kustomization, startTestBaton, TEST_TOKEN } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';
import { buildImage, freePort, pushImage, registryUnavailable, removeImage, startRegistry } from '../helpers/registry.js';
import type { BuiltImage, RunningRegistry } from '../helpers/registry.js';

const unavailable = registryUnavailable();
if (unavailable) console.warn(unavailable);

function config(host: string): string {
  return `version: 1
environments:
  staging:
    branch: main
    write: commit
images:
  web:
    repository: ${host}/team/web
    policy: semver
    digest: pin
    targets:
      staging:
        - envs/staging/web/kustomization.yaml
  api:
    repository: ${host}/team/api
    policy: semver
    range: ">=1.0.0 <2.0.0"
    digest: pin
    targets:
      staging:
        - envs/staging/api/kustomization.yaml
`;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(unavailable !== undefined)('registry push → env repo commit (docker-registry, skopeo, Baton)', () => {
  let registry: RunningRegistry;
  let baton: TestBaton;
  const images: BuiltImage[] = [];

  beforeAll(async () => {
    // Each side needs the other's address: Baton's port is chosen first, the registry then notifies it.
    const port = await freePort();
    registry = await startRegistry({ notify: [{ url: `http://127.0.0.1:${port}/webhooks/registry/distribution`, token: TEST_TOKEN }] });
    baton = await startTestBaton({
      env: { PORT: String(port), BATON_DEBOUNCE_MS: '2500' },
      seed: {
        '.baton.yml': config(registry.host),
        'envs/staging/web/kustomization.yaml': kustomization(`${registry.host}/team/web`, '1.0.0'),
        'envs/staging/api/kustomization.yaml': kustomization(`${registry.host}/team/api`, '1.0.0'),
      },
    });
  });

  afterAll(async () => {
    await baton?.close();
    await registry?.stop();
    for (const i of images) await removeImage(i);
  });

  const repo = () => {
    if (!baton.repo) throw new Error('no test repo');
    return baton.repo;
  };

  /** Wait for the file to change from `before`, then for the queue to settle (late notifications included). */
  async function settled(path: string, before: string): Promise<string> {
    await until(async () => (await repo().show('main', path)) !== before, `${path} to change`);
    await new Promise((r) => setTimeout(r, 500));
    await baton.idle(30_000);
    return repo().show('main', path);
  }

  it('push of team/web:1.2.3 makes one commit with the tag and the registry digest', async () => {
    const path = 'envs/staging/web/kustomization.yaml';
    const before = await repo().show('main', path);
    const commitsBefore = (await repo().subjects()).length;
    const image = await buildImage('1.2.3');
    images.push(image);
    const digest = await pushImage(image, registry.host, 'team/web');
    const after = await settled(path, before);
    expect(after).toContain('newTag: "1.2.3"');
    expect(after).toContain(`digest: "${digest}"`);
    expect((await repo().subjects()).length).toBe(commitsBefore + 1);
    const message = await repo().message('main');
    expect(message).toContain(`Baton-Image: ${registry.host}/team/web:1.2.3@${digest}`);
    expect(message).toMatch(/Baton-Event: registry\/distribution [0-9a-f-]{36}/);
  });

  it('multi-arch push pins the index digest, not a platform manifest', async () => {
    const path = 'envs/staging/web/kustomization.yaml';
    const before = await repo().show('main', path);
    const image = await buildImage('2.0.0', { multiArch: true });
    images.push(image);
    const digest = await pushImage(image, registry.host, 'team/web');
    expect(digest).toBe(image.digest);
    const after = await settled(path, before);
    expect(after).toContain('newTag: "2.0.0"');
    expect(after).toContain(`digest: "${image.digest}"`);
    for (const platform of image.platforms) expect(after).not.toContain(platform);
  });

  it('a burst of 20 tags ends at the highest allowed tag in at most 2 commits', async () => {
    const path = 'envs/staging/api/kustomization.yaml';
    const before = await repo().show('main', path);
    const commitsBefore = (await repo().subjects()).length;
    const allowed = ['1.0.1', '1.0.2', '1.0.3', '1.1.0', '1.1.1', '1.2.0', '1.2.1', '1.3.0', '1.4.0', '1.5.0', '1.6.0', '1.7.0', '1.8.0', '1.9.0', '1.10.0', '1.9.9'];
    const outside = ['2.0.0', '3.1.0', '1.11.0-rc.1', 'latest'];
    const tags = [...allowed, ...outside].sort(() => 0.5 - Math.random());
    expect(tags).toHaveLength(20);
    const image = await buildImage('burst');
    images.push(image);
    const digest = image.digest;
    // The first push uploads the blobs; concurrent first uploads of one blob make the registry answer 500.
    await pushImage(image, registry.host, 'team/api', '1.0.1');
    await Promise.all(tags.filter((t) => t !== '1.0.1').map((tag) => pushImage(image, registry.host, 'team/api', tag)));
    const after = await settled(path, before);
    expect(after).toContain('newTag: "1.10.0"');
    expect(after).toContain(`digest: "${digest}"`);
    const added = (await repo().subjects()).length - commitsBefore;
    expect(added).toBeGreaterThanOrEqual(1);
    expect(added).toBeLessThanOrEqual(2);
  });
});
