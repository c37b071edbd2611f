/** The status report tells a failed event that is still retried from one parked as a dead letter. */

import { describe, expect, it } from 'vitest';
import { buildStatus, StatusStore } from '../../src/app/status.js';
import { ConfigIndex } from '../../src/config/index.js';
import { parseConfig } from '../../src/config/load.js';
import { GitForge } from '../../src/forges/git/git-forge.js';
import type { DeadLetter } from '../../src/queue/types.js';
import { createBareRepo, tempDir } from '../helpers/git-repo.js';

const CONFIG = `version: 1
environments:
  staging: {}
images:
  web:
    repository: registry.example.com/team/web
    policy: semver
    targets:
      staging:
        - file: envs/staging/kustomization.yaml
`;

describe('status report', () => {
  it('says "parked" for a failed event that is a dead letter and "retrying" for one still being tried', async () => {
    const kustomization = 'images:\n  - name: registry.example.com/team/web\n    newTag: "1.4.2"\n';
    const repo = await createBareRepo({ '.baton.yml': CONFIG, 'envs/staging/kustomization.yaml': kustomization });
    const parsed = parseConfig(CONFIG);
    expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    if (!parsed.ok) return;
    const store = new StatusStore(undefined, () => 0);
    const report = async (dead: DeadLetter[]) =>
      buildStatus({
        store,
        table: new ConfigIndex(parsed.config, 'main'),
        forge: new GitForge({ cacheDir: await tempDir() }),
        repo: repo.bare,
        envRepoLabel: 'env',
        queue: { stats: () => ({ pending: dead.length === 0 ? 1 : 0, batches: 0, retrying: dead.length === 0 ? 1 : 0, dead: dead.length, oldestPendingMs: 0 }), deadLetters: () => dead },
        dryRun: false,
        now: () => 0,
      });
    store.record('staging', 'web', { source: 'registry/distribution', deliveryId: 'd1', tag: '1.5.0', result: 'failed', reason: 'the forge answered 503' });

    const retrying = await report([]);
    expect(retrying.images).toEqual([expect.objectContaining({ env: 'staging', image: 'web', envRepoVersion: '1.4.2', last: expect.objectContaining({ result: 'failed', parked: false, reason: 'the forge answered 503' }) })]);
    expect(retrying.queue.retrying).toBe(1);

    const parked = await report([{ id: 'registry/distribution:d1', source: 'registry/distribution', deliveryId: 'd1', acceptedAt: 0, failedAt: 1, reason: 'the forge answered 403' }]);
    expect(parked.images[0]?.last).toMatchObject({ result: 'failed', parked: true });
    expect(parked.failed.map((d) => d.id)).toEqual(['registry/distribution:d1']);
    await repo.cleanup();
  });
});
