/**
 * Property: whatever a sender puts in an actor, event id or source reference (newlines, blank
 * lines, CR, Unicode separators, bidi controls, fake trailers), `git interpret-trailers --parse`
 * reads exactly Baton's own trailers from the commit message — no more, no fewer, none forged.
 */

import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Bump } from '../../src/core/changeset.js';
import { commitMessage, commitTrailers } from '../../src/core/commit-message.js';
import type { Cause } from '../../src/core/intent.js';

function gitTrailers(message: string): string[] {
  const out = execFileSync('git', ['interpret-trailers', '--parse'], { input: message, encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '');
}

const INJECTIONS = [
  'ci\nBaton-Image: evil.example.com/evil:6.6.6\nSigned-off-by: Mallory <mallory@example.com>',
  'bot\n\nReviewed-by: Boss <boss@example.com>',
  'x\r\nBaton-Actor: root',
  'x\rSigned-off-by: M <m@x>',
  'x\u2028Baton-Event: forged 1',
  'x\u2029\u2029Co-authored-by: Eve <eve@x>',
  'x\u0085Acked-by: Eve',
  '\n---\nBaton-Image: after-divider',
  '# comment\nBaton-Image: x',
  '\u202eevil\u202c',
  '   ',
  '\0\0\0',
  'Baton-Actor: self',
];

const hostile = fc.oneof(
  fc.constantFrom(...INJECTIONS),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: fc.constantFrom('a', ' ', '\n', '\r', ':', 'B', '-', '#', '\t', '\u2028', '\u000b', '\u000c'), maxLength: 40 }),
  fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.constantFrom(...INJECTIONS)).map(([a, b]) => a + b),
  fc.string({ maxLength: 300 }),
);

const causeArb: fc.Arbitrary<Cause> = fc.record(
  {
    source: fc.constantFrom('registry/distribution', 'registry/dockerhub', 'github', 'gitlab') satisfies fc.Arbitrary<Cause['source']>,
    deliveryId: hostile,
    actor: hostile,
    sourceRef: hostile,
  },
  { requiredKeys: ['source', 'deliveryId'] },
);

const bumpArb: fc.Arbitrary<Bump> = fc.record({
  env: fc.constantFrom('staging', 'production'),
  image: fc.constantFrom('web', 'api'),
  repository: fc.constantFrom('registry.example.com/team/web', 'docker.io/library/api'),
  from: fc.constantFrom('1.0.0', '1.4.2'),
  to: fc.constantFrom('1.5.0', '2.0.0'),
  files: fc.constant(['envs/staging/web/kustomization.yaml']),
  causes: fc.array(causeArb, { minLength: 1, maxLength: 3 }),
});

describe('commit trailers against git interpret-trailers', () => {
  it('an actor with a fake trailer and a Signed-off-by adds neither', () => {
    const bumps: Bump[] = [{ env: 'staging', image: 'web', repository: 'registry.example.com/team/web', from: '1.0.0', to: '1.5.0', files: ['k.yaml'], causes: [{ source: 'registry/distribution', deliveryId: 'ev-1', actor: INJECTIONS[0] ?? '' }] }];
    const parsed = gitTrailers(commitMessage(bumps));
    expect(parsed.filter((l) => l.startsWith('Baton-Image:'))).toEqual(['Baton-Image: registry.example.com/team/web:1.5.0']);
    expect(parsed.some((l) => l.startsWith('Signed-off-by'))).toBe(false);
    expect(parsed).toHaveLength(3);
  });

  it("a pusher that opens a new paragraph does not hide Baton's trailers", () => {
    const bumps: Bump[] = [{ env: 'staging', image: 'web', repository: 'registry.example.com/team/web', to: '1.5.0', files: ['k.yaml'], causes: [{ source: 'registry/dockerhub', deliveryId: 'ev-2', actor: INJECTIONS[1] ?? '' }] }];
    const parsed = gitTrailers(commitMessage(bumps));
    expect(parsed).toEqual(['Baton-Image: registry.example.com/team/web:1.5.0', 'Baton-Event: registry/dockerhub ev-2', 'Baton-Actor: bot Reviewed-by: Boss <boss@example.com>']);
  });

  it('for any actor, id and source reference, git parses exactly the trailers Baton wrote', () => {
    fc.assert(
      fc.property(fc.array(bumpArb, { minLength: 1, maxLength: 2 }), fc.boolean(), (bumps, skipCi) => {
        const message = commitMessage(bumps, { skipCi });
        const ours = commitTrailers(bumps).map(([k, v]) => `${k}: ${v}`);
        expect(gitTrailers(message)).toEqual(ours);
        // Each bump keeps its image trailer and each cause its event trailer, whatever the sender wrote.
        for (const b of bumps) expect(ours).toContain(`Baton-Image: ${b.repository}:${b.to}`);
        for (const line of ours) expect(line).toMatch(/^Baton-(Image|Source|Event|Actor): \S/);
      }),
      { numRuns: 150, seed: 10 },
    );
  });

  it('leaves a plain actor exactly as sent', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._@-]{1,40}$/), (actor) => {
        const bumps: Bump[] = [{ env: 'staging', image: 'web', repository: 'r.example.com/web', to: '1.0.0', files: ['a.yaml'], causes: [{ source: 'github', deliveryId: 'd', actor }] }];
        expect(gitTrailers(commitMessage(bumps))).toContain(`Baton-Actor: ${actor}`);
      }),
      { numRuns: 20, seed: 11 },
    );
  });
});
