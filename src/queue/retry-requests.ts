/**
 * `baton retry` runs in another process than the server: it leaves one small file per request in
 * `<data dir>/queue/retry/`, which the running server (or the next one to start) takes and acts on.
 */

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

function dirOf(queueDir: string): string {
  return join(queueDir, 'retry');
}

/** Ask for dead letters to be worked again: ids as `baton failed` lists them, or `all`. */
export async function requestRetry(queueDir: string, ids: string[] | 'all'): Promise<string> {
  const dir = dirOf(queueDir);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${Date.now()}-${randomUUID()}.json`);
  // Written aside, then renamed: the server never reads half a request.
  await writeFile(`${file}.part`, JSON.stringify(ids === 'all' ? ['all'] : ids), { mode: 0o600 });
  await rename(`${file}.part`, file);
  return file;
}

/** Read and remove every pending request; returns the ids asked for (`all` among them for --all). */
export async function takeRetryRequests(queueDir: string): Promise<string[]> {
  const dir = dirOf(queueDir);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const ids: string[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    try {
      const data: unknown = JSON.parse(await readFile(path, 'utf8'));
      if (Array.isArray(data)) for (const id of data) if (typeof id === 'string') ids.push(id);
    } catch {
      // A request being written right now, or damaged: removed below either way only when parsed.
      continue;
    }
    await rm(path, { force: true });
  }
  return ids;
}
