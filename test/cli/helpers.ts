/** Run `baton` as a user does: a child process of src/main.ts (through tsx), with only the settings given. */

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Called on every stdout chunk with everything so far; kill the child from here to end a server. */
  onStdout?: (text: string, child: ChildProcess) => void;
  /** Run in its own process group, and send kills to the whole group (npm does not pass SIGTERM on reliably). */
  group?: boolean;
  /** Kill the child after this long (a command that should have exited but serves instead). */
  timeoutMs?: number;
  /** The command line (default: node --import tsx src/main.ts). */
  command?: string[];
}

export function runBaton(args: string[], options: RunOptions = {}): Promise<Run> {
  const [cmd, ...pre] = options.command ?? [process.execPath, '--import', 'tsx', 'src/main.ts'];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd ?? process.execPath, [...pre, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'warn', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.group === true,
    });
    if (options.group && child.pid !== undefined) {
      const pid = child.pid;
      child.kill = (signal?: NodeJS.Signals | number) => {
        try {
          process.kill(-pid, signal ?? 'SIGTERM');
          return true;
        } catch {
          return false;
        }
      };
    }
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      options.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
