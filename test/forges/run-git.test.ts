/** Every git command has a bound: a stalled one is killed, with the processes it started. */

import childProcess, { spawnSync } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { describe, expect, it } from 'vitest';
import { GitTimeoutError, runGit } from '../../src/forges/git/run-git.js';

const running = async (pattern: string): Promise<boolean> => spawnSync('pgrep', ['-f', pattern]).status === 0;
const groupOf = (pid: number): number => Number(spawnSync('ps', ['-o', 'pgid=', '-p', String(pid)]).stdout.toString().trim());

describe('runGit', () => {
  it('kills a command that outlives its bound, and every process it started', async () => {
    const marker = `sleep 31.${process.pid}`;
    const err = await runGit(['-c', `alias.stall=!${marker}`, 'stall'], { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitTimeoutError);
    expect((err as Error).message).toMatch(/did not finish within 300 ms/);
    // The shell and the sleep git started are gone too (the whole process group was stopped).
    expect(await running(marker)).toBe(false);
  });

  it('runs git in its own process group, so a terminal Ctrl-C does not reach it', async () => {
    const r = await runGit(['-c', 'alias.pgid=!ps -o pgid= -p $$', 'pgid']);
    const childGroup = Number(r.stdout.toString('utf8').trim());
    const ours = groupOf(process.pid);
    expect(childGroup).toBeGreaterThan(0);
    expect(childGroup).not.toBe(ours);
  });

  it('starts git from another thread, so a fork and exec never stall the one answering webhooks', async () => {
    // Starting a process from this thread now fails; git still runs, and its output arrives intact.
    const original = childProcess.spawn;
    childProcess.spawn = (() => {
      throw new Error('git was started from the event-loop thread');
    }) as typeof childProcess.spawn;
    syncBuiltinESMExports();
    try {
      const input = Buffer.from('tree and blob bytes\n\0\xff', 'latin1');
      const r = await runGit(['hash-object', '--stdin'], { input });
      expect(r.code).toBe(0);
      expect(r.stdout.toString('utf8').trim()).toBe(spawnSync('git', ['hash-object', '--stdin'], { input }).stdout.toString('utf8').trim());
      const failed = await runGit(['rev-parse', '--verify', 'no-such-ref'], { cwd: process.cwd() });
      expect(failed.code).not.toBe(0);
      expect(failed.stderr).toMatch(/no-such-ref|Needed a single revision/);
    } finally {
      childProcess.spawn = original;
      syncBuiltinESMExports();
    }
  });
});
