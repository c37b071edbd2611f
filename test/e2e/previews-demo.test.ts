/** The embedded demo's preview curls, run verbatim through a shell against the real server. */

import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { demoPreviewCurls } from '../../src/cli/embedded.js';
import { startBaton } from '../../src/cli/serve.js';
import { loadSettings } from '../../src/cli/settings.js';
import { git } from '../../src/forges/git/run-git.js';
import { tempDir } from '../helpers/git-repo.js';

const run = promisify(execFile);

describe('embedded demo: preview', () => {
  it('the printed curls open a preview in the local env repo', async (ctx) => {
    const curl = await run('sh', ['-c', 'command -v curl']).catch(() => undefined);
    if (!curl) {
      console.log('skipped: no curl on this machine to run the printed commands');
      ctx.skip();
    }
    const dir = await tempDir('baton-demo-');
    const env = { BATON_DATA_DIR: join(dir, 'data'), PORT: '0', HOST: '127.0.0.1', BATON_DEBOUNCE_MS: '50', LOG_LEVEL: 'silent' };
    const baton = await startBaton({ settings: loadSettings(env), env, journal: false });
    try {
      expect(baton.demoGithubSecret).toMatch(/^demo-/);
      const script = demoPreviewCurls(baton.url, baton.demoToken ?? '', baton.demoGithubSecret ?? '');
      const commands = script.split('\n\n');
      expect(commands).toHaveLength(2);
      for (const c of commands) {
        const out = await run('bash', ['-c', c]);
        expect(JSON.parse(out.stdout)).toMatchObject({ status: 'accepted' });
        // Registry first: the build must be known before the merge request arrives.
        for (let i = 0; i < 200 && (baton.pipeline.queue.stats().pending > 0 || baton.pipeline.queue.stats().batches > 0); i++) await new Promise((r) => setTimeout(r, 25));
      }
      const gitDir = join(env.BATON_DATA_DIR, 'env.git');
      const text = await git(['--git-dir', gitDir, 'show', 'previews:previews/web-pr-42.yaml']);
      const app = parse(text) as { metadata: { name: string; finalizers: string[] }; spec: { source: { kustomize: { images: string[] } } } };
      expect(app.metadata.name).toBe('web-pr-42');
      expect(app.spec.source.kustomize.images[0]).toBe('localhost:5000/team/web:3f2c1d0');
      const subject = (await git(['--git-dir', gitDir, 'log', '-1', '--format=%s', 'previews'])).trim();
      expect(subject).toBe('Preview web-pr-42 to web 3f2c1d0');
    } finally {
      await baton.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
