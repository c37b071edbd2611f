/** `baton validate`: messages that say what to fix, on the line to fix; `--repo DIR` checks target files too. */

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateCheckout, validateFile } from '../../src/cli/validate.js';
import { kustomization } from '../helpers/baton.js';
import { tempDir } from '../helpers/git-repo.js';

async function fileWith(text: string): Promise<string> {
  const file = join(await tempDir(), '.baton.yml');
  await writeFile(file, text);
  return file;
}

async function checkout(files: Record<string, string>): Promise<string> {
  const dir = await tempDir();
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

describe('baton validate messages', () => {
  it('points an unknown key at its own line and suggests the closest known key', async () => {
    const file = await fileWith('version: 1\nenvironments:\n  staging:\n    branch: main\n    approver:\n      - maintain\n');
    const r = await validateFile(file);
    expect(r.ok).toBe(false);
    expect(r.lines).toEqual([`${file}:5:5: environments.staging.approver: unknown key "approver"; did you mean \`approvers\`?`]);
  });

  it('suggests within images and at the top level too, and says nothing when no key is close', async () => {
    const file = await fileWith(
      'version: 1\nenviroments: {}\nenvironments:\n  staging: {}\nimages:\n  web:\n    repository: r.example.com/team/web\n    polcy: semver\n    zzzzzzzz: 1\n    targets:\n      staging: [a.yaml]\n',
    );
    const r = await validateFile(file);
    expect(r.lines).toContain(`${file}:2:1: enviroments: unknown key "enviroments"; did you mean \`environments\`?`);
    expect(r.lines).toContain(`${file}:8:5: images.web.polcy: unknown key "polcy"; did you mean \`policy\`?`);
    expect(r.lines).toContain(`${file}:9:5: images.web.zzzzzzzz: unknown key "zzzzzzzz"`);
  });

  it('names the key that appears twice', async () => {
    const file = await fileWith('version: 1\nenvironments:\n  staging: {}\n  production: {}\n  staging: {}\n');
    const r = await validateFile(file);
    expect(r.lines).toEqual([`${file}:5:3: Map keys must be unique: staging appears twice in the same mapping`]);
  });

  it('an unquoted `range: >=1.0.0 <2.0.0` is told to quote the range', async () => {
    const file = await fileWith(
      'version: 1\nenvironments:\n  staging: {}\nimages:\n  web:\n    repository: r.example.com/team/web\n    range: >=1.0.0 <2.0.0\n    targets:\n      staging: [a.yaml]\n',
    );
    const r = await validateFile(file);
    expect(r.lines).toEqual([`${file}:7:12: quote the range: range: ">=1.0.0 <2.0.0" (a value starting with > or < means something else in YAML)`]);
  });
});

describe('baton validate --repo DIR', () => {
  const config = (targets: string): string =>
    `version: 1\nenvironments:\n  staging: {}\n  production: {}\nimages:\n  web:\n    repository: registry.example.com/team/web\n    targets:\n${targets}`;

  it('checks that every target file exists and mentions its image', async () => {
    const dir = await checkout({
      '.baton.yml': config('      staging: [envs/staging/kustomization.yaml]\n      production: [envs/production/kustomization.yaml, envs/production/missing.yaml]\n'),
      'envs/staging/kustomization.yaml': kustomization('registry.example.com/team/web', '1.2.0'),
      'envs/production/kustomization.yaml': kustomization('registry.example.com/team/api', '3.0.0'),
    });
    const r = await validateCheckout(dir);
    expect(r.ok).toBe(false);
    expect(r.lines).toContain('images.web.targets.staging: envs/staging/kustomization.yaml: registry.example.com/team/web at 1.2.0');
    expect(r.lines).toContain('images.web.targets.production: envs/production/kustomization.yaml: does not mention registry.example.com/team/web; a bump would have nothing to edit');
    expect(r.lines).toContain(`images.web.targets.production: envs/production/missing.yaml: not found in ${dir}`);
  });

  it('passes the example env repo as shipped', async () => {
    const r = await validateCheckout(join(process.cwd(), 'examples/env-repo'));
    expect(r.lines.join('\n')).not.toContain('not found');
    expect(r.ok).toBe(true);
  });

  it('a checkout without .baton.yml fails with the path', async () => {
    const dir = await checkout({ 'README.md': 'x' });
    const r = await validateCheckout(dir);
    expect(r.ok).toBe(false);
    expect(r.lines[0]).toBe(`${join(dir, '.baton.yml')}: cannot read: ENOENT`);
  });
});
