/**
 * A server for the ingest benchmark, in its own process so the load generator does not share its
 * event loop: `bare` answers 202 and nothing else (the ceiling); `baton` is the real server.
 */

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBaton } from '../../src/cli/serve.js';
import { loadSettings } from '../../src/cli/settings.js';
import { git } from '../../src/forges/git/run-git.js';

const mode = process.argv[2];

if (mode === 'bare') {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{"status":"accepted"}');
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
  });
} else {
  const dataDir = await mkdtemp(join(tmpdir(), 'baton-bench-'));
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    BATON_DATA_DIR: dataDir,
    BATON_REGISTRY_TOKEN: 'bench-token',
    BATON_DEBOUNCE_MS: process.argv[3] ?? '2000',
    LOG_LEVEL: 'silent',
  };
  const baton = await startBaton({ settings: loadSettings(env), env, journal: true });
  process.stdout.write(`READY ${baton.url.replace('localhost', '127.0.0.1')} ${baton.envRepo.repo}\n`);
  process.on('SIGTERM', () => {
    void baton.close().then(async () => {
      const count = (await git(['--git-dir', baton.envRepo.repo, 'rev-list', '--count', '--all'])).trim();
      process.stdout.write(`COMMITS ${count}\n`);
      process.exit(0);
    });
  });
}
