/** The command line's contract: --help and --version everywhere, exit 2 for a usage mistake, 1 for a failure. */

import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPERATOR_COMMANDS } from '../../src/cli/commands.js';
import { kustomization, oneImageConfig } from '../helpers/baton.js';
import { tempDir } from '../helpers/git-repo.js';
import { ROOT, runBaton } from './helpers.js';

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('baton --version and --help', () => {
  it('--version prints package.json\'s version, from the top and after a command', async () => {
    const argss = [['--version'], ['-V'], ['validate', '--version']];
    const runs = await Promise.all(argss.map((args) => runBaton(args)));
    for (const [i, run] of runs.entries()) {
      expect(run.code, argss[i]?.join(' ')).toBe(0);
      expect(run.stdout.trim()).toBe(version);
    }
  }, 60_000);

  it('`baton serve --help` prints the help of serve and exits without starting a server', async () => {
    const dir = await tempDir();
    const run = await runBaton(['serve', '--help'], { env: { BATON_DATA_DIR: join(dir, 'data'), PORT: '0' }, timeoutMs: 30_000 });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('usage: baton [serve]');
    expect(run.stdout).not.toContain('DEMO');
    expect(run.stdout + run.stderr).not.toContain('listening');
  });

  it('each command has its own help; `baton --help` lists them all', async () => {
    const [top, replay, promote] = await Promise.all([runBaton(['--help']), runBaton(['replay', '-h']), runBaton(['help', 'promote'])]);
    expect(top.code).toBe(0);
    for (const name of ['serve', 'validate', 'replay', 'resync', 'sweep', 'schema', 'failed', 'retry', ...OPERATOR_COMMANDS]) expect(top.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('usage: baton replay --source NAME --event FILE');
    expect(replay.stdout).toContain('registry:distribution');
    expect(promote.stdout).toContain('usage: baton promote <env> [image…] --as NAME');
  }, 60_000);
});

describe('usage mistakes exit 2, with the usage', () => {
  it('an unknown command, an unknown option, a missing argument, an unknown replay source', async () => {
    const [unknown, option, missing, value, source, retry] = await Promise.all([
      runBaton(['deplyo']),
      runBaton(['validate', '--strict']),
      runBaton(['replay', '--source', 'github']),
      runBaton(['schema', '--out']),
      runBaton(['replay', '--source', 'registry:nexus', '--event', 'x.json']),
      runBaton(['retry']),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "deplyo"');

    expect(option.code).toBe(2);
    expect(option.stderr).toContain("Unknown option '--strict'");
    expect(option.stderr).toContain('usage: baton validate [FILE]');

    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--event is required');

    expect(value.code).toBe(2);

    expect(source.code).toBe(2);
    expect(source.stderr).toContain('unknown source "registry:nexus"; the sources are github, gitlab, argocd, flux, registry:distribution');

    expect(retry.code).toBe(2);
  }, 90_000);

  it('a failure is exit 1: a file that is not there, a checkout whose target does not mention its image', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'envs/staging'), { recursive: true });
    await writeFile(join(dir, '.baton.yml'), oneImageConfig('registry.example.com/team/web'));
    await writeFile(join(dir, 'envs/staging/kustomization.yaml'), kustomization('registry.example.com/team/api', '1.0.0'));
    const [missing, checkout, example] = await Promise.all([
      runBaton(['validate', join(dir, 'missing.yml')]),
      runBaton(['validate', '--repo', dir]),
      runBaton(['validate', '--repo', 'examples/env-repo']),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read: ENOENT');
    expect(checkout.code).toBe(1);
    expect(checkout.stderr).toContain('images.web.targets.staging: envs/staging/kustomization.yaml: does not mention registry.example.com/team/web');
    expect(example.code).toBe(0);
    expect(example.stdout).toContain('images.web.targets.production: envs/production/kustomization.yaml: localhost:5000/team/web at ');
  }, 60_000);
});
