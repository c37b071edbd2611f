/** Worker-thread entry: runs `git` processes for the main thread, so their fork and exec do not stall it. */

import { parentPort } from 'node:worker_threads';
import { spawnGit } from './spawn-git.js';
import type { SpawnGitRequest } from './spawn-git.js';

parentPort?.on('message', (m: SpawnGitRequest & { id: number }) => {
  const { id, ...req } = m;
  spawnGit(req).then(
    (result) => parentPort?.postMessage({ id, result }),
    (err: unknown) => parentPort?.postMessage({ id, error: { message: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown }).code } }),
  );
});
