/** CI success → the image tag for that commit: each forge's short-sha convention, and any length an image's pattern asks for. */

import { describe, expect, it } from 'vitest';
import { ConfigIndex } from '../../src/config/index.js';
import { parseConfig } from '../../src/config/load.js';
import type { CiCompleted } from '../../src/core/event.js';
import { route, shaTagCandidates } from '../../src/core/route.js';

const SHA = 'c0ffee1234567890abcdef1234567890abcdef12';

function table(source: string, pattern?: string): ConfigIndex {
  const r = parseConfig(`version: 1
environments:
  staging: {branch: main, write: commit}
images:
  web:
    repository: registry.example.com/team/web
    source: ${source}
    policy: sha
${pattern === undefined ? '' : `    pattern: '${pattern}'\n`}    targets:
      staging: [envs/staging/kustomization.yaml]
`);
  if (!r.ok) throw new Error(JSON.stringify(r.messages));
  return new ConfigIndex(r.config, 'main', new Set());
}

/** What each source emits for a successful default-branch run (GitLab adds its 8-character convention). */
function ci(forge: 'github' | 'gitlab'): CiCompleted {
  return {
    type: 'ci-completed',
    source: forge,
    deliveryId: 'd1',
    repo: { forge, path: 'acme/web' },
    branch: 'main',
    defaultBranch: 'main',
    sha: SHA,
    conclusion: 'success',
    ...(forge === 'gitlab' && { shortShaLength: 8 }),
  };
}

const tagFor = (forge: 'github' | 'gitlab', pattern?: string): string | undefined => {
  const first = route(ci(forge), table(`${forge}:acme/web`, pattern)).intents[0];
  return first?.type === 'set-image' ? first.tag : undefined;
};

describe('CI success → sha tag', () => {
  it("GitLab: CI_COMMIT_SHORT_SHA, the first 8 characters, and the trailer names the commit the same way", () => {
    expect(tagFor('gitlab')).toBe('c0ffee12');
    expect(route(ci('gitlab'), table('gitlab:acme/web')).intents[0]?.cause.sourceRef).toBe('gitlab:acme/web@c0ffee12');
  });

  it('GitHub has no short-sha convention: git\'s 7 characters, as before', () => {
    expect(tagFor('github')).toBe('c0ffee1');
    expect(route(ci('github'), table('github:acme/web')).intents[0]?.cause.sourceRef).toBe('github:acme/web@c0ffee1');
  });

  it("the image's pattern chooses the length, on either forge", () => {
    expect(tagFor('github', '^[0-9a-f]{8}$')).toBe('c0ffee12');
    expect(tagFor('gitlab', '^[0-9a-f]{7}$')).toBe('c0ffee1');
    expect(tagFor('gitlab', '^[0-9a-f]{12}$')).toBe('c0ffee123456');
    expect(tagFor('github', '^[0-9a-f]{40}$')).toBe(SHA);
    // A pattern that allows several lengths gets the forge's convention.
    expect(tagFor('gitlab', '^[0-9a-f]{7,40}$')).toBe('c0ffee12');
    expect(tagFor('github', '^[0-9a-f]{7,40}$')).toBe('c0ffee1');
  });

  it('a pattern no prefix of the sha satisfies moves nothing, and says why', () => {
    const r = route(ci('gitlab'), table('gitlab:acme/web', '^main-[0-9a-f]{8}-\\d+$'));
    expect(r.intents).toEqual([]);
    expect(r.notes).toEqual(['web: its pattern needs more than the commit sha; send registry events instead']);
  });

  it('candidates: the convention first, then 7 to 40 shortest first, each once', () => {
    const c = shaTagCandidates(SHA, 8);
    expect(c.slice(0, 3)).toEqual(['c0ffee12', 'c0ffee1', 'c0ffee123']);
    expect(c).toHaveLength(34);
    expect(new Set(c.map((t) => t.length)).size).toBe(34);
    expect(shaTagCandidates(SHA)[0]).toBe('c0ffee1');
  });
});
