/**
 * The Forge contract: every adapter (git, GitHub on its emulator, GitLab on its emulator) must
 * pass these, so the executor can rely on the same behaviour everywhere.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Forge } from '../../src/forges/types.js';

export interface ContractHarness {
  forge: Forge;
  /** The repo argument the forge takes for the env repository. */
  repo: string;
  /** Its default branch, seeded with `seed` below. */
  branch: string;
  /** Commit these files as someone else (outside the adapter), returning the new head. */
  externalCommit(files: Record<string, string | null>, branch?: string): Promise<string>;
  /** Full message of the branch head, read outside the adapter. */
  headMessage(branch?: string): Promise<string>;
  cleanup(): Promise<void>;
}

export const CONTRACT_SEED: Record<string, string> = {
  '.baton.yml': 'version: 1\nenvironments:\n  staging: {}\n',
  'envs/staging/kustomization.yaml': 'images:\n  - name: registry.example.com/team/web\n    newTag: "1.0.0"\n',
  'envs/production/values.yaml': 'web:\n  image:\n    tag: "1.0.0"\n',
  'README.md': '# env\n',
};

export function forgeContract(name: string, setup: (seed: Record<string, string>) => Promise<ContractHarness>): void {
  describe(`Forge contract: ${name}`, () => {
    let h: ContractHarness;
    beforeAll(async () => {
      h = await setup(CONTRACT_SEED);
    });
    afterAll(async () => {
      await h?.cleanup();
    });

    it('reads several files and the head in one call; a missing path is null', async () => {
      const snap = await h.forge.readFiles(h.repo, h.branch, ['.baton.yml', 'envs/staging/kustomization.yaml', 'nope.yaml']);
      expect(snap.head).toMatch(/^[0-9a-f]{40}$/);
      expect(snap.files['.baton.yml']).toBe(CONTRACT_SEED['.baton.yml']);
      expect(snap.files['envs/staging/kustomization.yaml']).toBe(CONTRACT_SEED['envs/staging/kustomization.yaml']);
      expect(snap.files['nope.yaml']).toBeNull();
      expect(await h.forge.headOf(h.repo, h.branch)).toBe(snap.head);
      expect(await h.forge.defaultBranch(h.repo)).toBe(h.branch);
    });

    it('writes updates, additions and deletions as exactly one commit on the planned head', async () => {
      const before = await h.forge.readFiles(h.repo, h.branch, ['envs/staging/kustomization.yaml']);
      const result = await h.forge.write(h.repo, {
        branch: h.branch,
        expectedHead: before.head,
        message: 'web 1.0.0 → 1.1.0 in staging\n\nBaton-Event: test 1\n',
        changes: [
          { type: 'write', path: 'envs/staging/kustomization.yaml', contents: 'images:\n  - name: registry.example.com/team/web\n    newTag: "1.1.0"\n' },
          { type: 'write', path: 'apps/new/app.yaml', contents: 'kind: Application\n' },
          { type: 'delete', path: 'README.md' },
        ],
      });
      expect(result.status).toBe('committed');
      const after = await h.forge.readFiles(h.repo, h.branch, ['envs/staging/kustomization.yaml', 'apps/new/app.yaml', 'README.md']);
      expect(result.status === 'committed' && result.commit).toBe(after.head);
      expect(after.files['envs/staging/kustomization.yaml']).toContain('"1.1.0"');
      expect(after.files['apps/new/app.yaml']).toBe('kind: Application\n');
      expect(after.files['README.md']).toBeNull();
      expect(await h.headMessage()).toContain('Baton-Event: test 1');
      const listed = await h.forge.listFiles(h.repo, h.branch, 'apps');
      expect(listed.paths).toEqual(['apps/new/app.yaml']);
    });

    it('refuses a write planned on a head that moved, and writes nothing', async () => {
      const planned = await h.forge.readFiles(h.repo, h.branch, ['envs/production/values.yaml']);
      const moved = await h.externalCommit({ 'envs/production/values.yaml': 'web:\n  image:\n    tag: "2.0.0"\n' });
      const result = await h.forge.write(h.repo, {
        branch: h.branch,
        expectedHead: planned.head,
        message: 'stale\n',
        changes: [{ type: 'write', path: 'envs/production/values.yaml', contents: 'web:\n  image:\n    tag: "1.5.0"\n' }],
      });
      expect(result.status).toBe('stale');
      const now = await h.forge.readFiles(h.repo, h.branch, ['envs/production/values.yaml']);
      expect(now.head).toBe(moved);
      expect(now.files['envs/production/values.yaml']).toContain('"2.0.0"');
    });

    it('creates a branch from a base once, and reports unknown branches as absent', async () => {
      expect(await h.forge.headOf(h.repo, 'baton/production')).toBeUndefined();
      const base = await h.forge.headOf(h.repo, h.branch);
      const created = await h.forge.ensureBranch(h.repo, 'baton/production', h.branch);
      expect(created).toBe(base);
      const again = await h.forge.ensureBranch(h.repo, 'baton/production', h.branch);
      expect(again).toBe(created);
    });

    it('rejects paths that escape the repository', async () => {
      const head = (await h.forge.headOf(h.repo, h.branch)) ?? '';
      await expect(
        h.forge.write(h.repo, { branch: h.branch, expectedHead: head, message: 'x\n', changes: [{ type: 'write', path: '../outside', contents: 'x' }] }),
      ).rejects.toThrow();
    });
  });
}
