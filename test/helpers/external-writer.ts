/**
 * Someone else updating a bare repository's main branch, as a push would, in its own process (as a
 * real other writer is: its git runs neither share nor stall the event loop of the Baton under test).
 * Each round reads the head, commits a file of its own on top and moves the ref only if it is still
 * where it was read (compare-and-swap), then waits out the rest of `periodMs`. It stops when its
 * stdin closes and prints `{ landed, attempts, seconds }` as JSON.
 *
 * Usage: node --import tsx test/helpers/external-writer.ts <bare repo> <name> <periodMs>
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, runGit } from '../../src/forges/git/run-git.js';

const [bare, name, period] = process.argv.slice(2);
if (!bare || !name) throw new Error('usage: external-writer.ts <bare repo> <name> <periodMs>');
const periodMs = Number(period ?? 60);
let stopping = false;
process.stdin.on('data', () => undefined);
process.stdin.on('end', () => (stopping = true));

const scratch = await mkdtemp(join(tmpdir(), 'writer-'));
const env = {
  GIT_INDEX_FILE: join(scratch, 'index'),
  GIT_AUTHOR_NAME: name,
  GIT_AUTHOR_EMAIL: `${name}@example.com`,
  GIT_COMMITTER_NAME: name,
  GIT_COMMITTER_EMAIL: `${name}@example.com`,
};
const landed: string[] = [];
let attempts = 0;
const began = Date.now();
process.stdout.write('STARTED\n');
for (let n = 0; !stopping; n++) {
  const started = Date.now();
  attempts++;
  const head = (await git(['rev-parse', 'refs/heads/main'], { cwd: bare })).trim();
  await git(['read-tree', head], { cwd: bare, env });
  const blob = (await git(['hash-object', '-w', '--stdin'], { cwd: bare, input: `${name} ${n}\n` })).trim();
  await git(['update-index', '--add', '--cacheinfo', `100644,${blob},external/${name}.txt`], { cwd: bare, env });
  const tree = (await git(['write-tree'], { cwd: bare, env })).trim();
  const commit = (await git(['commit-tree', tree, '-p', head, '-m', `${name} change ${n}`], { cwd: bare, env })).trim();
  const moved = await runGit(['update-ref', 'refs/heads/main', commit, head], { cwd: bare });
  if (moved.code === 0) landed.push(commit);
  await new Promise((r) => setTimeout(r, Math.max(0, periodMs - (Date.now() - started))));
}
await rm(scratch, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ landed, attempts, seconds: (Date.now() - began) / 1000 }) + '\n');
