/**
 * A push re-reads `.baton.yml` at once only when it can have changed it: a push to the env repo's
 * default branch. Pushes to app repositories (hundreds of them, on a busy GitHub App) must not cost
 * a fetch or an API call each; they wait for the config TTL like everything else.
 */

import { basename, dirname } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createPipeline, pushMayChangeConfig } from '../../src/app/pipeline.js';
import type { Pushed } from '../../src/core/event.js';
import { GitForge } from '../../src/forges/git/git-forge.js';
import { MemoryQueue, systemTimer } from '../../src/queue/memory.js';
import { oneImageConfig } from '../helpers/baton.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';

function push(forge: Pushed['repo']['forge'], path: string, branch = 'main', defaultBranch = 'main'): Pushed {
  return { type: 'push', source: forge === 'gitlab' ? 'gitlab' : 'github', deliveryId: `d-${Math.random()}`, repo: { forge, path }, branch, defaultBranch, before: '0'.repeat(40), after: '1'.repeat(40) };
}

describe('pushMayChangeConfig', () => {
  it.each([
    ['github env repo, its default branch', 'github', 'acme/env', push('github', 'acme/env'), true],
    ['github env repo, name differs only in case', 'github', 'Acme/Env', push('github', 'acme/env'), true],
    ['github env repo, another branch', 'github', 'acme/env', push('github', 'acme/env', 'feature'), false],
    ['github env repo, an app repo', 'github', 'acme/env', push('github', 'acme/web'), false],
    ['github env repo, a GitLab project of the same name', 'github', 'acme/env', push('gitlab', 'acme/env'), false],
    ['gitlab env repo in a subgroup', 'gitlab', 'platform/gitops/env', push('gitlab', 'platform/gitops/env'), true],
    ['git remote over https', 'git', 'https://github.com/acme/env.git', push('github', 'acme/env'), true],
    ['git remote over ssh (scp form)', 'git', 'git@github.com:acme/env.git', push('github', 'acme/env'), true],
    ['git remote, an app repo whose name ends the same', 'git', 'https://github.com/acme/env.git', push('github', 'other/env'), false],
    ['git remote, a repo named like a suffix of it', 'git', 'https://github.com/acme/my-env.git', push('github', 'acme/env'), false],
  ] as const)('%s', (_what, kind, envRepo, event, expected) => {
    expect(pushMayChangeConfig(event, kind, envRepo)).toBe(expected);
  });
});

describe('config re-reads on push, through the real pipeline', () => {
  it('an app-repo push does not read the env repo; an env-repo push does, and sees the new config', async () => {
    const repo = await createBareRepo({ '.baton.yml': oneImageConfig('registry.example.com/team/web'), 'envs/staging/kustomization.yaml': 'images: []\n' });
    const git = new GitForge({ cacheDir: await tempDir() });
    let configReads = 0;
    const forge = Object.assign(Object.create(git) as GitForge, {
      readFiles: (r: string, b: string, paths: string[]) => {
        if (paths.includes('.baton.yml')) configReads++;
        return git.readFiles(r, b, paths);
      },
    });
    const pipeline = createPipeline({
      forge,
      repo: repo.bare,
      queue: new MemoryQueue({ debounceMs: 0, now: () => Date.now(), setTimer: systemTimer }),
      logger: pino({ level: 'silent' }),
      now: () => Date.now(),
      random: () => 0.5,
      sleep: async () => undefined,
      // Long enough that only an explicit re-read can show up within the test.
      configTtlMs: 3_600_000,
    });
    expect(await pipeline.config.table()).toBeDefined();
    const first = pipeline.config.revision;
    const before = configReads;

    // The env repo, as GitHub would name it: the bare repo's last two path segments.
    const envPath = `${basename(dirname(repo.bare))}/${basename(repo.bare, '.git')}`;
    const head = await repo.commit({ '.baton.yml': oneImageConfig('registry.example.com/team/api') }, 'retarget');

    for (let i = 0; i < 20; i++) await pipeline.runNow(push('github', `acme/app-${i}`));
    await pipeline.runNow(push('github', envPath, 'feature'));
    expect(configReads - before).toBe(0);
    expect(pipeline.config.revision).toBe(first);

    await pipeline.runNow(push('github', envPath));
    expect(configReads - before).toBe(1);
    expect(pipeline.config.revision).toBe(head);
    await repo.cleanup();
  });
});
