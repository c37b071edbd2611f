/** Helpers for tests with several Baton replicas: many images (one bump per event), and reading what landed. */

import { git } from '../../src/forges/git/run-git.js';

export const HOST = 'registry.example.com';

/** A `.baton.yml` with `n` images `app0…`, each in its own file of the staging environment (one destination). */
export function manyImagesConfig(n: number): string {
  const images = Array.from({ length: n }, (_, i) => `  app${i}:\n    repository: ${HOST}/team/app${i}\n    policy: semver\n    targets:\n      staging:\n        - envs/staging/app${i}.yaml\n`).join('');
  return `version: 1\nenvironments:\n  staging:\n    branch: main\n    write: commit\nimages:\n${images}`;
}

export function appFile(i: number, tag: string): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n  - name: ${HOST}/team/app${i}\n    newTag: "${tag}"\n`;
}

export function manyImagesSeed(n: number): Record<string, string> {
  const seed: Record<string, string> = { '.baton.yml': manyImagesConfig(n) };
  for (let i = 0; i < n; i++) seed[`envs/staging/app${i}.yaml`] = appFile(i, '1.0.0');
  return seed;
}

/** What the history of `main` says: how often each file changed, which delivery ids each commit names, its shape. */
export async function history(run: (args: string[]) => Promise<string>): Promise<{ changes: Map<string, number>; events: Map<string, number>; parents: number[]; commits: number }> {
  const log = await run(['log', '--format=%x00%H %P%n%B%x01', '--name-only', 'main']);
  const changes = new Map<string, number>();
  const events = new Map<string, number>();
  const parents: number[] = [];
  let commits = 0;
  for (const chunk of log.split('\u0000').slice(1)) {
    const [head = '', rest = ''] = chunk.split('\u0001');
    const first = head.split('\n')[0] ?? '';
    parents.push(first.trim().split(' ').length - 1);
    commits++;
    for (const m of head.matchAll(/^Baton-Event: registry\/distribution (\S+)$/gm)) events.set(m[1] ?? '', (events.get(m[1] ?? '') ?? 0) + 1);
    for (const f of rest.split('\n').map((l) => l.trim()).filter(Boolean)) changes.set(f, (changes.get(f) ?? 0) + 1);
  }
  return { changes, events, parents, commits };
}

export function gitOf(gitDir: string): (args: string[]) => Promise<string> {
  return (args) => git(['--git-dir', gitDir, ...args]);
}
