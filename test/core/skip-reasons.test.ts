/** Every bump not made has a reason a person reads and a code from a fixed set; registry hosts can be aliased. */

import { describe, expect, it } from 'vitest';
import { ConfigIndex } from '../../src/config/index.js';
import { parseConfig } from '../../src/config/load.js';
import { SKIP_REASONS } from '../../src/core/changeset.js';
import type { ImagePushed } from '../../src/core/event.js';
import { isSetImage } from '../../src/core/intent.js';
import { plan } from '../../src/core/plan.js';
import { route } from '../../src/core/route.js';

function index(yaml: string): ConfigIndex {
  const parsed = parseConfig(yaml);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.messages));
  return new ConfigIndex(parsed.config, 'main', new Set(['production']));
}

const CONFIG = (extra = '') => `version: 1
${extra}environments:
  staging: {}
  production: {}
images:
  web:
    repository: localhost:5000/team/web
    range: ">=1.0.0 <2.0.0"
    ignore: ["1.3.0"]
    targets:
      staging: [envs/staging/kustomization.yaml]
      production: [envs/production/kustomization.yaml]
  nginx:
    repository: nginx
    policy: semver
    targets:
      staging: [envs/staging/nginx.yaml]
`;

function pushed(registry: string, repository: string, tag: string): ImagePushed {
  return { type: 'image-pushed', source: 'registry/distribution', deliveryId: `d-${tag}`, registry, repository, tag };
}

describe('route: skip reasons', () => {
  const table = index(CONFIG());

  it.each([
    ['outside the range', '2.0.0', 'out-of-range', /outside the range >=1\.0\.0 <2\.0\.0/],
    ['a prerelease', '1.6.0-rc.1', 'out-of-range', /prerelease/],
    ['on the ignore list', '1.3.0', 'ignored-tag', /ignore list/],
    ['not a semantic version', 'latest', 'not-matching', /not a semantic version/],
  ])('a tag %s is skipped in every environment of the image, with its reason', (_what, tag, code, reason) => {
    const r = route(pushed('localhost:5000', 'team/web', tag), table);
    expect(r.intents).toEqual([]);
    expect(r.skips?.map((s) => [s.image, s.env, s.code])).toEqual([
      ['web', 'staging', code],
      ['web', 'production', code],
    ]);
    for (const s of r.skips ?? []) expect(s.reason).toMatch(reason);
  });

  it('a paused environment is a paused skip; the other environment gets the bump', () => {
    const r = route(pushed('localhost:5000', 'team/web', '1.5.0'), table);
    expect(r.intents.filter(isSetImage).map((i) => i.env)).toEqual(['staging']);
    expect(r.skips).toEqual([{ image: 'web', env: 'production', tag: '1.5.0', reason: 'production is paused', code: 'paused' }]);
  });

  it('an invalid tag is an invalid-tag skip naming no image', () => {
    const r = route(pushed('localhost:5000', 'team/web', '-bad tag'), table);
    expect(r.skips?.map((s) => [s.image, s.env, s.code])).toEqual([['', '', 'invalid-tag']]);
  });

  it('plan: a downgrade, the version already there and a superseded tag each carry their code', () => {
    const file = 'images:\n  - name: localhost:5000/team/web\n    newTag: "1.5.0"\n';
    const intents = [...route(pushed('localhost:5000', 'team/web', '1.4.0'), table).intents, ...route(pushed('localhost:5000', 'team/web', '1.2.0'), table).intents].filter(isSetImage);
    const cs = plan(intents, { 'envs/staging/kustomization.yaml': file });
    expect(cs.skipped.map((s) => [s.tag, s.code])).toEqual([
      ['1.2.0', 'superseded'],
      ['1.4.0', 'downgrade'],
    ]);
    const same = plan(route(pushed('localhost:5000', 'team/web', '1.5.0'), table).intents.filter(isSetImage), { 'envs/staging/kustomization.yaml': file });
    expect(same.skipped.map((s) => [s.reason, s.code])).toEqual([['staging already runs 1.5.0', 'current']]);
  });

  it('every code used is one of the fixed set (the metric label stays bounded)', () => {
    expect(SKIP_REASONS).toEqual(expect.arrayContaining(['no-image', 'out-of-range', 'downgrade', 'current', 'paused', 'superseded', 'stale', 'ignored-tag', 'not-allowed', 'not-matching', 'invalid-tag']));
  });
});

describe('registry host aliases', () => {
  it('without an alias, an event from 127.0.0.1:5000 matches nothing and the note names the configured near miss', () => {
    const r = route(pushed('127.0.0.1:5000', 'team/web', '1.5.0'), index(CONFIG()));
    expect(r.intents).toEqual([]);
    expect(r.notes).toEqual(['no image in .baton.yml uses 127.0.0.1:5000/team/web; localhost:5000/team/web is configured (registries.aliases in .baton.yml makes one host stand for another)']);
    expect(r.skips?.map((s) => s.code)).toEqual(['no-image']);
  });

  it('a repository nobody configured under any host gets the plain note', () => {
    const r = route(pushed('127.0.0.1:5000', 'team/other', '1.5.0'), index(CONFIG()));
    expect(r.notes).toEqual(['no image in .baton.yml uses 127.0.0.1:5000/team/other']);
  });

  it('registries.aliases makes 127.0.0.1:5000 stand for localhost:5000, and the file keeps the configured name', () => {
    const table = index(CONFIG('registries:\n  aliases:\n    "127.0.0.1:5000": localhost:5000\n'));
    const r = route(pushed('127.0.0.1:5000', 'team/web', '1.5.0'), table);
    const [intent] = r.intents.filter(isSetImage);
    expect(intent?.env).toBe('staging');
    expect(intent?.repository).toBe('localhost:5000/team/web');
    const cs = plan(r.intents, { 'envs/staging/kustomization.yaml': 'images:\n  - name: localhost:5000/team/web\n    newTag: "1.0.0"\n' });
    expect(cs.changes).toEqual([{ type: 'write', path: 'envs/staging/kustomization.yaml', contents: 'images:\n  - name: localhost:5000/team/web\n    newTag: "1.5.0"\n' }]);
    // The configured host still matches, and an alias is exact: another port is not the same registry.
    expect(route(pushed('localhost:5000', 'team/web', '1.5.0'), table).intents).toHaveLength(1);
    expect(route(pushed('127.0.0.1:5001', 'team/web', '1.5.0'), table).intents).toHaveLength(0);
  });

  it('alias hosts compare case-insensitively', () => {
    const table = index(CONFIG('registries:\n  aliases:\n    "Registry.Internal:5000": LOCALHOST:5000\n'));
    expect(route(pushed('registry.internal:5000', 'team/web', '1.5.0'), table).intents).toHaveLength(1);
  });

  it.each(['docker.io', 'index.docker.io', 'registry-1.docker.io'])('Docker Hub as %s is one registry without any alias', (host) => {
    expect(route(pushed(host, 'library/nginx', '1.27.0'), index(CONFIG())).intents.filter(isSetImage).map((i) => i.image)).toEqual(['nginx']);
  });

  it('a malformed alias host is refused by the schema with its path', () => {
    const parsed = parseConfig(CONFIG('registries:\n  aliases:\n    "127.0.0.1:5000": "localhost:5000/team"\n'));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.messages.map((m) => m.path)).toContain('registries.aliases.127.0.0.1:5000');
  });
});
