/**
 * The README's first promise, checked the way a newcomer meets it: in a fresh copy of the project,
 * `npm start` (build, then `node dist/main.js serve`) with a misspelt setting exits 1 naming the
 * right variable; with no settings it serves the demo, and the README's curl, pasted as is in that
 * directory, is accepted and becomes a commit.
 *
 * The copy holds what a clone holds (package files, tsconfig, src, examples); node_modules is linked
 * from this checkout rather than installed again (`npm ci` needs the network).
 */

import { execFile } from 'node:child_process';
import { cp, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { readmeDemoCurl } from '../../src/cli/embedded.js';
import { git } from '../../src/forges/git/run-git.js';
import { tempDir } from '../helpers/git-repo.js';
import { eventually } from '../helpers/baton.js';
import { ROOT, runBaton } from './helpers.js';

const run = promisify(execFile);
const npmStart = ['npm', 'start', '--silent'];

/** The ```sh block of README.md that holds the demo curl. */
async function readmeCurl(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => (m[1] ?? '').trimEnd());
  const curl = blocks.find((b) => b.startsWith('curl ') && b.includes('/webhooks/registry/distribution'));
  if (!curl) throw new Error('README.md has no ```sh block with the demo curl');
  return curl;
}

describe('a fresh clone: npm start', () => {
  let clone: string;
  beforeAll(async () => {
    clone = join(await tempDir(), 'baton');
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'examples', 'README.md']) await cp(join(ROOT, f), join(clone, f), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
  }, 60_000);

  it('README shows the curl the demo prints, with a full digest and the demo token read from .baton/', async () => {
    const curl = await readmeCurl();
    expect(curl).toBe(readmeDemoCurl());
    expect(curl).toMatch(/"digest":"sha256:[0-9a-f]{64}"/);
  });

  it('with a misspelt setting exits 1 naming the variable meant; with none it serves the demo and the pasted README curl becomes a commit', async () => {
    const typo = await runBaton([], { command: npmStart, cwd: clone, group: true, env: { BATON_ENV_REPOSITORY: 'github:acme/env' }, timeoutMs: 240_000 });
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('unknown setting BATON_ENV_REPOSITORY — did you mean BATON_ENV_REPO?');

    let reply: Promise<{ stdout: string }> | undefined;
    const served = await runBaton([], {
      command: npmStart,
      cwd: clone,
      group: true,
      env: { PORT: '0', HOST: '127.0.0.1', BATON_DEBOUNCE_MS: '100', LOG_LEVEL: 'info' },
      timeoutMs: 240_000,
      onStdout: (out, child) => {
        const url = /curl -sS -X POST (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
        if (reply || !url) return;
        // The README's block as is; only the port differs (the test cannot count on 3000 being free).
        reply = readmeCurl().then(async (curl) => {
          try {
            return await run('bash', ['-c', curl.replace('http://localhost:3000', url)], { cwd: clone, timeout: 20_000 });
          } finally {
            const log = join(clone, '.baton', 'env.git');
            await eventually(async () => (await git(['--git-dir', log, 'log', '--format=%s', '-1', 'main'])).startsWith('web 1.4.2 → 1.5.0'), 20_000, 'the demo commit').finally(() => child.kill('SIGTERM'));
          }
        });
      },
    });
    expect(served.stdout.split('\n')[0]).toMatch(/^Baton is starting the embedded DEMO/);
    expect(reply, served.stderr).toBeDefined();
    expect(JSON.parse((await reply)?.stdout ?? '{}')).toEqual({ status: 'accepted', deliveries: [{ id: 'demo-1.5.0' }] });
    const subject = await git(['--git-dir', join(clone, '.baton', 'env.git'), 'log', '--format=%s', '-1', 'main']);
    expect(subject.trim()).toBe('web 1.4.2 → 1.5.0 in staging');
  }, 400_000);
});
