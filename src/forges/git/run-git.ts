/** Run the git CLI without a shell, with prompts off and credentials kept out of errors. */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

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

/** What the spawner sends back: advanced serialization may hand over Uint8Arrays for Buffers. */
function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

interface SpawnRequest {
  args: string[];
  cwd?: string | undefined;
  /** The whole environment of the git process. */
  env: Record<string, string | undefined>;
  input: string | Uint8Array;
  timeoutMs: number;
}

interface SpawnResult {
  code: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  timedOut: boolean;
}

type SpawnerReply = { id: number; result: SpawnResult } | { id: number; error: { message: string; code?: unknown } };

/**
 * The spawner: a small Node process, started once, that starts every git process for this one.
 * Each request runs git without a shell in its own process group (a terminal's Ctrl-C must not reach
 * a push the drain waits for), feeds `input` to its stdin, collects stdout and stderr, and kills the
 * whole group once `timeoutMs` has passed. It exits when this process goes away (its IPC channel
 * closes). Plain JavaScript, so it starts in tens of milliseconds without a TypeScript loader.
 */
const SPAWNER_SOURCE = `// baton git spawner
const { spawn } = require('node:child_process');
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  const reply = (r) => { if (process.connected) process.send(r); };
  let child;
  try {
    child = spawn('git', m.args, { cwd: m.cwd, env: m.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  } catch (e) {
    reply({ id: m.id, error: { message: String(e && e.message), code: e && e.code } });
    return;
  }
  const out = [];
  const err = [];
  let timedOut = false;
  let settled = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
  }, m.timeoutMs);
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => err.push(d));
  child.on('error', (e) => {
    clearTimeout(timer);
    if (settled) return;
    settled = true;
    reply({ id: m.id, error: { message: e.message, code: e.code } });
  });
  child.on('close', (code) => {
    clearTimeout(timer);
    if (settled) return;
    settled = true;
    reply({ id: m.id, result: { code: code === null ? 1 : code, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut } });
  });
  child.stdin.on('error', () => {});
  child.stdin.end(m.input);
});
`;

/**
 * Git processes are started by the spawner, not by this process. Starting a process from here
 * forks this whole process: on a small VM that cost the event loop 6–16 ms per git run (more as the
 * heap grows), and, from a worker thread, the same again in copy-on-write faults while the child
 * started (measured with `npm run bench -- git-stall`; docs/performance.md). The spawner is small, so
 * its forks are cheap, and this process only exchanges messages with it. It is started on first use,
 * holds this process open only while a command runs, and is started again if it ever stops.
 */
class GitSpawner {
  private child: ChildProcess | undefined;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: SpawnResult) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }>();

  run(req: SpawnRequest): Promise<SpawnResult> {
    const child = this.ensure();
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      // The spawner kills git at `timeoutMs`; this bound only matters if the spawner stops answering.
      const timer = setTimeout(() => this.settle(id)?.reject(new GitTimeoutError(req.args, req.timeoutMs)), req.timeoutMs + 10_000);
      this.pending.set(id, { resolve, reject, timer });
      if (this.pending.size === 1) {
        child.ref();
        child.channel?.ref();
      }
      child.send({ id, ...req }, (err) => {
        if (err) this.settle(id)?.reject(err);
      });
    });
  }

  private settle(id: number): { resolve: (r: SpawnResult) => void; reject: (e: unknown) => void } | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(id);
    if (this.pending.size === 0) {
      this.child?.unref();
      this.child?.channel?.unref();
    }
    return p;
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    const env = { ...process.env };
    // Whatever loader this process was started with is not needed there.
    delete env['NODE_OPTIONS'];
    const child = spawn(process.execPath, ['-e', SPAWNER_SOURCE], { env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'advanced' });
    child.unref();
    child.channel?.unref();
    child.on('message', (m: SpawnerReply) => {
      const p = this.settle(m.id);
      if (!p) return;
      if ('result' in m) p.resolve(m.result);
      else p.reject(Object.assign(new Error(m.error.message), m.error.code !== undefined && { code: m.error.code }));
    });
    const stopped = (err: Error): void => {
      if (this.child !== child) return;
      this.child = undefined;
      for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
    };
    child.on('error', stopped);
    child.on('exit', (code, signal) => stopped(new Error(`the git spawner process stopped (${signal ?? `exit ${code}`})`)));
    this.child = child;
    return child;
  }
}

const spawner = new GitSpawner();

export async function runGit(args: string[], options: RunGitOptions = {}): Promise<GitResult> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const r = await spawner.run({
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
