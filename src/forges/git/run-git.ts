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

export function runGit(args: string[], options: { cwd?: string; input?: string | Buffer; env?: Record<string, string> } = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd: options.cwd,
      env: {
        ...process.env,
        GIT_TERMINAL_PROMPT: '0',
        GIT_CONFIG_NOSYSTEM: '1',
        LC_ALL: 'C',
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: redactUrl(Buffer.concat(err).toString('utf8')) }));
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
