/**
 * Image → commit → PR without any CI event: skopeo pushes an image whose config labels say
 * `org.opencontainers.image.revision` to the real CNCF registry, the registry notifies Baton, and Baton
 * names the PR in its commit and tells the PR (GitHub emulator).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_MARKER } from '../../src/core/report/comment.js';
import { HttpOciClient } from '../../src/registry/client.js';
import { githubWebhookRoute } from '../../src/sources/github/index.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import { BATON_LOGIN, emulatedGitHub } from '../emulators/github/harness.js';
import type { TestBaton } from '../helpers/baton.js';
import { TEST_TOKEN, kustomization, startTestBaton } from '../helpers/baton.js';
import { buildImage, pushImage, registryUnavailable, removeImage, startRegistry } from '../helpers/registry.js';
import type { BuiltImage, RunningRegistry } from '../helpers/registry.js';

const unavailable = registryUnavailable();
if (unavailable) console.warn(unavailable);

describe.skipIf(unavailable !== undefined)('image → commit link on a real registry (docker-registry + skopeo)', () => {
  let gh: EmulatedGitHub;
  let baton: TestBaton;
  let registry: RunningRegistry;
  const images: BuiltImage[] = [];

  beforeAll(async () => {
    gh = await emulatedGitHub({ '.baton.yml': 'version: 1\nenvironments: {}\nimages: {}\n', 'envs/staging/kustomization.yaml': kustomization('placeholder/web', '1.0.0') });
    await gh.emulator.createRepo('acme/web', { 'README.md': '# web\n' });
    gh.emulator.grant('acme/web', BATON_LOGIN, 'write');
    baton = await startTestBaton({
      envRepo: { forge: gh.forge, repo: gh.repo, label: `github:${gh.repo}`, embedded: false },
      sources: { github: githubWebhookRoute({ WEBHOOK_SECRET: 'unused-secret-0123456789', BATON_BOT_LOGIN: BATON_LOGIN }) },
    });
    registry = await startRegistry({ notify: [{ url: `${baton.url}/webhooks/registry/distribution`, token: TEST_TOKEN }] });
    const env = gh.emulator.state.repo('acme', 'env')?.testRepo;
    await env?.commit({
      '.baton.yml': `version: 1
environments:
  staging:
    branch: main
    write: commit
images:
  web:
    repository: ${registry.host}/acme/web
    source: github:acme/web
    policy: semver
    digest: pin
    targets:
      staging:
        - envs/staging/kustomization.yaml
`,
      'envs/staging/kustomization.yaml': kustomization(`${registry.host}/acme/web`, '1.0.0'),
    });
  });
  afterAll(async () => {
    await baton?.close();
    await registry?.stop();
    await gh?.emulator.close();
    for (const i of images) await removeImage(i);
  });

  it('reads the revision from manifest annotations and from config labels', async () => {
    const annotated = await buildImage('0.0.1', { annotations: { 'org.opencontainers.image.revision': 'a'.repeat(40), 'org.opencontainers.image.source': 'https://github.com/acme/web' } });
    const labelled = await buildImage('0.0.2', { multiArch: true, labels: { 'org.opencontainers.image.revision': 'b'.repeat(40) } });
    images.push(annotated, labelled);
    await pushImage(annotated, registry.host, 'acme/other');
    await pushImage(labelled, registry.host, 'acme/other');
    const client = new HttpOciClient();
    expect(await client.imageOrigin(`${registry.host}/acme/other`, '0.0.1')).toEqual({ revision: 'a'.repeat(40), source: 'https://github.com/acme/web' });
    expect(await client.imageOrigin(`${registry.host}/acme/other`, '0.0.2')).toEqual({ revision: 'b'.repeat(40) });
  });

  it('a pushed image labelled with its revision is linked to the merged PR, with no CI event', async () => {
    const web = gh.emulator.state.repo('acme', 'web');
    if (!web) throw new Error('no app repo');
    await web.testRepo.commit({ 'checkout.ts': 'fast' }, 'Faster checkout', 'feature');
    const number = gh.emulator.openPull('acme/web', { title: 'Faster checkout', head: 'feature', base: 'main', user: 'alice' });
    const sha = await web.git.merge('main', 'feature', `Merge pull request #${number}`);
    Object.assign(web.pulls.find((p) => p.number === number) ?? {}, { state: 'closed', mergeCommitSha: sha, mergedAt: new Date().toISOString() });

    const image = await buildImage('1.5.0', { labels: { 'org.opencontainers.image.revision': sha, 'org.opencontainers.image.source': 'https://github.com/acme/web' } });
    images.push(image);
    await pushImage(image, registry.host, 'acme/web');
    const env = gh.emulator.state.repo('acme', 'env')?.testRepo;
    const deadline = Date.now() + 20_000;
    while (!(await env?.show('main', 'envs/staging/kustomization.yaml'))?.includes('1.5.0') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await baton.idle();
    const message = await env?.message('main');
    expect(message).toContain('web 1.0.0 → 1.5.0 in staging');
    expect(message).toContain(`Baton-Source: github:acme/web@${sha.slice(0, 7)} (#${number})`);
    const comments = web.comments.filter((c) => c.issueNumber === number && c.body.startsWith(REPORT_MARKER));
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toMatch(/\| staging \| web \| .*1\.0\.0.* → .*1\.5\.0.* \| ⏳ pending/);
    expect(web.statuses.find((s) => s.sha === sha && s.context === 'baton/staging')?.state).toBe('pending');
  });
});
