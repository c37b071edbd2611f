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

  it('starts git through the spawner process, so this process never forks for a git run', async () => {
    await runGit(['--version']); // the spawner starts on first use
    // Starting a process from this one now fails; git still runs, and its output arrives intact.
    const original = childProcess.spawn;
    childProcess.spawn = (() => {
      throw new Error('git was started from the process that answers webhooks');
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

  it('fails a command in flight when the spawner dies, and starts a new spawner for the next one', async () => {
    await runGit(['--version']);
    const first = spawnerOf(process.pid);
    expect(first).toBeDefined();
    const marker = `sleep 32.${process.pid}`;
    const stalled = runGit(['-c', `alias.stall=!${marker}`, 'stall'], { timeoutMs: 20_000 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(first ?? 0, 'SIGKILL');
    const err = await stalled;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/git spawner process stopped/);
    spawnSync('pkill', ['-f', marker]);
    const r = await runGit(['--version']);
    expect(r.stdout.toString('utf8')).toMatch(/^git version/);
    const second = spawnerOf(process.pid);
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
  });

  it('leaves no spawner behind when the process that started it exits', async () => {
    const script = `import { spawnSync } from 'node:child_process';
import { runGit } from ${JSON.stringify(new URL('../../src/forges/git/run-git.ts', import.meta.url).href)};
await runGit(['--version']);
const line = spawnSync('ps', ['-eo', 'pid=,ppid=,args=']).stdout.toString('utf8').split('\\n').find((l) => l.includes('baton git spawner') && Number(l.trim().split(/\\s+/)[1]) === process.pid);
process.stdout.write(line ? line.trim().split(/\\s+/)[0] : 'none');`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(child.status).toBe(0);
    const pid = Number(child.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    // It exits once its channel to the process that started it closes. Wait up to 10 s.
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return spawnersWithMarker().some((p) => p.pid === pid);
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 10_000;
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toBe(false);
  });
});

/** The git spawner processes on this machine, with their parents. */
function spawnersWithMarker(): { pid: number; ppid: number }[] {
  const out = spawnSync('ps', ['-eo', 'pid=,ppid=,args=']).stdout.toString('utf8');
  return out
    .split('\n')
    .filter((l) => l.includes('baton git spawner'))
    .map((l) => l.trim().split(/\s+/))
    .map(([pid, ppid]) => ({ pid: Number(pid), ppid: Number(ppid) }));
}

/** The git spawner started by `parent`. */
function spawnerOf(parent: number): number | undefined {
  return spawnersWithMarker().find((p) => p.ppid === parent)?.pid;
}
