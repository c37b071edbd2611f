/** Run the git CLI without a shell, with prompts off and credentials kept out of errors. */

import { Worker } from 'node:worker_threads';
import { spawnGit } from './spawn-git.js';
import type { SpawnGitRequest, SpawnGitResult } from './spawn-git.js';

export interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Remove `user:password@` from URLs so a token in BATON_ENV_REPO never reaches a log. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@');
}

/** Default bound on one git command; `setGitTimeout` changes it for the process (BATON_GIT_TIMEOUT). */
let defaultTimeoutMs = 120_000;

export function setGitTimeout(ms: number): void {
  defaultTimeoutMs = ms;
}

/** A git command that ran past its bound and was killed. */
export class GitTimeoutError extends Error {
  constructor(args: string[], ms: number) {
    super(`git ${redactUrl(args[0] ?? '')} did not finish within ${ms} ms and was stopped`);
    this.name = 'GitTimeoutError';
  }
}

export interface RunGitOptions {
  cwd?: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Kill the command (and its helpers) after this long. */
  timeoutMs?: number;
}

/** The result of `spawnGit` as this thread receives it: a clone carries plain Uint8Arrays. */
function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

type ThreadReply = { id: number; result: SpawnGitResult } | { id: number; error: { message: string; code?: unknown } };

/**
 * Git processes are started from a worker thread. Starting one forks this process and waits for
 * the exec: 6–16 ms of a stalled event loop per git run on a small VM (more as the heap grows), during
 * which no webhook is answered. From the thread, the event loop keeps running. The thread is
 * started on first use, holds the process open only while a command runs, and is started again if
 * it ever stops; if it cannot be started at all, git runs from this thread as before.
 */
class GitThread {
  private worker: Worker | undefined;
  private failedToStart = false;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: SpawnGitResult) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }>();

  run(req: SpawnGitRequest): Promise<SpawnGitResult> {
    const worker = this.ensure();
    if (!worker) return spawnGit(req);
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      // The thread kills git at `timeoutMs`; this bound only matters if the thread stops answering.
      const timer = setTimeout(() => this.settle(id)?.reject(new GitTimeoutError(req.args, req.timeoutMs)), req.timeoutMs + 10_000);
      this.pending.set(id, { resolve, reject, timer });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, ...req });
    });
  }

  private settle(id: number): { resolve: (r: SpawnGitResult) => void; reject: (e: unknown) => void } | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    return p;
  }

  private ensure(): Worker | undefined {
    if (this.worker || this.failedToStart) return this.worker;
    let worker: Worker;
    try {
      worker = startThread();
    } catch {
      this.failedToStart = true;
      return undefined;
    }
    worker.unref();
    worker.on('message', (m: ThreadReply) => {
      const p = this.settle(m.id);
      if (!p) return;
      if ('result' in m) p.resolve(m.result);
      else p.reject(Object.assign(new Error(m.error.message), m.error.code !== undefined && { code: m.error.code }));
    });
    const stopped = (err: Error): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
    };
    worker.on('error', stopped);
    worker.on('exit', (code) => stopped(new Error(`the git runner thread stopped (exit ${code})`)));
    this.worker = worker;
    return worker;
  }
}

/** The thread's entry next to this module: compiled `.js` in production, `.ts` under tsx/vitest. */
function startThread(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./run-git-thread.ts', here).href;
    return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`, { eval: true });
  }
  return new Worker(new URL('./run-git-thread.js', here));
}

const thread = new GitThread();

export async function runGit(args: string[], options: RunGitOptions = {}): Promise<GitResult> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const r = await thread.run({
    args,
    cwd: options.cwd,
    env: {
      ...process.env,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      LC_ALL: 'C',
      // A remote that accepts the connection and then sends nothing is abandoned after 30 s.
      GIT_HTTP_LOW_SPEED_LIMIT: '1',
      GIT_HTTP_LOW_SPEED_TIME: '30',
      GIT_SSH_COMMAND: process.env['GIT_SSH_COMMAND'] ?? 'ssh -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=2',
      ...options.env,
    },
    input: options.input ?? '',
    timeoutMs,
  });
  if (r.timedOut) throw new GitTimeoutError(args, timeoutMs);
  return { code: r.code, stdout: asBuffer(r.stdout), stderr: redactUrl(asBuffer(r.stderr).toString('utf8')) };
}

export class GitCommandError extends Error {
  constructor(args: string[], readonly result: GitResult) {
    super(`git ${redactUrl(args.join(' '))} failed (${result.code}): ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.name = 'GitCommandError';
  }
}

export async function git(args: string[], options: Parameters<typeof runGit>[1] = {}): Promise<string> {
  const r = await runGit(args, options);
  if (r.code !== 0) throw new GitCommandError(args, r);
  return r.stdout.toString('utf8');
}
