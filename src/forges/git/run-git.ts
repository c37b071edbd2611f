/** Run the git CLI without a shell, with prompts off and credentials kept out of errors. */

import { spawn } from 'node:child_process';

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

export function runGit(args: string[], options: RunGitOptions = {}): Promise<GitResult> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
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
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group: Ctrl-C in a terminal signals the foreground group, and must not kill
      // a fetch or push that the drain is waiting for; the kill timer below stops the whole group.
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new GitTimeoutError(args, timeoutMs));
      else resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: redactUrl(Buffer.concat(err).toString('utf8')) });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
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
