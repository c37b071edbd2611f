/** `baton validate --repo`: preview templates in the env repo rendered and checked like real previews. */

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateRepo } from '../../src/cli/validate.js';
import { GitForge } from '../../src/forges/git/git-forge.js';
import { TEMPLATE, previewConfig } from '../core/preview/fixtures.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';
import type { TestRepo } from '../helpers/git-repo.js';

const repos: TestRepo[] = [];
const caches: string[] = [];
afterAll(async () => {
  for (const r of repos) await r.cleanup();
  for (const c of caches) await rm(c, { recursive: true, force: true });
});

async function envWith(template: string | undefined): Promise<{ forge: GitForge; repo: TestRepo }> {
  const repo = await createBareRepo({ '.baton.yml': previewConfig(), 'envs/staging/kustomization.yaml': 'images: []\n' });
  repos.push(repo);
  if (template !== undefined) await repo.commit({ 'templates/preview-app.yaml': template }, 'template', 'previews');
  const cache = await tempDir();
  caches.push(cache);
  const forge = new GitForge({ cacheDir: join(cache, 'git'), author: { name: 'Baton', email: 'baton@localhost' } });
  return { forge, repo };
}

describe('baton validate --repo', () => {
  it('a valid template passes, and says when Baton will add the finalizer', async () => {
    const { forge, repo } = await envWith(TEMPLATE.replace('  finalizers: [resources-finalizer.argocd.argoproj.io]\n', ''));
    const r = await validateRepo(forge, repo.bare, 'env');
    expect(r.ok).toBe(true);
    expect(r.lines.join('\n')).toMatch(/previews\.web: templates\/preview-app\.yaml on previews: valid \(added the finalizer/);
  });

  it('a template that renders a plaintext Secret, or lacks a destination, fails with the reasons', async () => {
    const bad = TEMPLATE.replace(/ {2}destination:\n( {4}.*\n)+/, '') + '---\napiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {k: dg==}\n';
    const { forge, repo } = await envWith(bad);
    const r = await validateRepo(forge, repo.bare, 'env');
    expect(r.ok).toBe(false);
    expect(r.lines.join('\n')).toMatch(/spec.destination is missing/);
    expect(r.lines.join('\n')).toMatch(/plaintext Secret/);
  });

  it('a missing preview branch is reported', async () => {
    const { forge, repo } = await envWith(undefined);
    const r = await validateRepo(forge, repo.bare, 'env');
    expect(r.ok).toBe(false);
    expect(r.lines.join('\n')).toMatch(/previews\.web: .*cannot read/);
  });
});
