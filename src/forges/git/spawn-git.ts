/**
 * One `git` process: no shell, its own process group (killed whole when it runs past its bound),
 * stdin fed from `input`, stdout and stderr collected. Used by the git runner thread
 * (`run-git-thread.ts`), and on the calling thread when that thread cannot be started.
 */

import { spawn } from 'node:child_process';

export interface SpawnGitRequest {
  args: string[];
  cwd?: string | undefined;
  /** The whole environment of the child (not merged with this thread's). */
  env: Record<string, string | undefined>;
  input: string | Uint8Array;
  timeoutMs: number;
}

export interface SpawnGitResult {
  code: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  timedOut: boolean;
}

export function spawnGit(req: SpawnGitRequest): Promise<SpawnGitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', req.args, {
      cwd: req.cwd,
      env: req.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group: Ctrl-C in a terminal signals the foreground group, and must not kill
      // a fetch or push that the drain is waiting for; the kill timer below stops the whole group.
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, req.timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(req.input);
  });
}
