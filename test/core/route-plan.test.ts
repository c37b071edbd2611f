/** Routing and planning as a user sees them: which environments an image push changes, and the commit that results. */

import { describe, expect, it } from 'vitest';
import { ConfigIndex } from '../../src/config/index.js';
import { parseConfig } from '../../src/config/load.js';
import { commitMessage } from '../../src/core/commit-message.js';
import type { ImagePushed } from '../../src/core/event.js';
import { plan } from '../../src/core/plan.js';
import { route } from '../../src/core/route.js';
import { isSetImage } from '../../src/core/intent.js';
import type { SetImage } from '../../src/core/intent.js';

/** route(), keeping the image bumps only (preview intents are tested in test/core/preview/). */
const bumpsOf = (...args: Parameters<typeof route>) => {
  const r = route(...args);
  return { ...r, intents: r.intents.filter(isSetImage) };
};
const CONFIG = `version: 1
environments:
  staging: {branch: main, write: commit}
  dev: {branch: main, write: commit}
  production: {branch: main, write: merge-request}
images:
  web:
    repository: registry.example.com/team/web
    range: ">=1.0.0 <2.0.0"
    targets:
      staging: [envs/staging/kustomization.yaml]
      production: [envs/production/kustomization.yaml]
  api:
    repository: nginx
    targets:
      dev: [envs/dev/kustomization.yaml]
`;

function table(paused: string[] = []): ConfigIndex {
  const r = parseConfig(CONFIG);
  if (!r.ok) throw new Error(JSON.stringify(r.messages));
  return new ConfigIndex(r.config, 'main', new Set(paused));
}

function pushed(tag: string, over: Partial<ImagePushed> = {}): ImagePushed {
  return { type: 'image-pushed', source: 'registry/distribution', deliveryId: `d-${tag}`, registry: 'registry.example.com', repository: 'team/web', tag, ...over };
}

const k = (repo: string, tag: string) => `images:\n  - name: ${repo}\n    newTag: "${tag}"\n`;

describe('route', () => {
  it.each([
    ['an accepted tag reaches every environment of the image', pushed('1.5.0'), ['staging:commit:main', 'production:merge-request:main']],
    ['a tag outside the range reaches none', pushed('2.0.0'), []],
    ['a prerelease reaches none unless the range asks', pushed('1.6.0-rc.1'), []],
    ['another repository reaches none', pushed('1.5.0', { repository: 'team/other' }), []],
    ['Docker Hub short names match their canonical form', pushed('1.27.0', { registry: 'docker.io', repository: 'library/nginx' }), ['dev:commit:main']],
    ['a tag with a newline is data, not a header', pushed('1.5.0\nBaton-Actor: mallory'), []],
  ])('%s', (_name, event, expected) => {
    const { intents } = bumpsOf(event, table());
    expect(intents.map((i) => `${i.env}:${i.destination.write}:${i.destination.branch}`)).toEqual(expected);
  });

  it('skips paused environments and says why', () => {
    const r = bumpsOf(pushed('1.5.0'), table(['production']));
    expect(r.intents.map((i) => i.env)).toEqual(['staging']);
    expect(r.notes).toContain('web: production is paused');
  });

  it('explains a rejected tag', () => {
    expect(bumpsOf(pushed('2.0.0'), table()).notes).toEqual(['web: tag 2.0.0 is outside the range >=1.0.0 <2.0.0']);
  });
});

describe('plan', () => {
  const files = {
    'envs/staging/kustomization.yaml': k('registry.example.com/team/web', '1.4.2'),
    'envs/production/kustomization.yaml': k('registry.example.com/team/web', '1.4.2'),
  };

  it('makes one change per file, the highest version of the batch winning, with the SPEC commit message', () => {
    const intents = ['1.4.9', '1.10.0', '1.5.0'].flatMap((t) => bumpsOf(pushed(t, { actor: 'ci-bot' }), table()).intents.filter((i) => i.env === 'staging'));
    const cs = plan(intents, files);
    expect(cs.changes).toEqual([{ type: 'write', path: 'envs/staging/kustomization.yaml', contents: k('registry.example.com/team/web', '1.10.0') }]);
    expect(cs.skipped.map((s) => `${s.tag}: ${s.reason}`)).toEqual(['1.4.9: superseded by 1.10.0 in the same batch', '1.5.0: superseded by 1.10.0 in the same batch']);
    expect(cs.message).toBe(
      'web 1.4.2 → 1.10.0 in staging\n\nBaton-Image: registry.example.com/team/web:1.10.0\nBaton-Event: registry/distribution d-1.10.0\nBaton-Actor: ci-bot\n',
    );
  });

  it('never downgrades on an image push, and is empty when the environment already runs the version', () => {
    const older = bumpsOf(pushed('1.3.0'), table()).intents.filter((i) => i.env === 'staging');
    const cs = plan(older, files);
    expect(cs.changes).toEqual([]);
    expect(cs.skipped[0]?.reason).toBe('staging already runs 1.4.2, newer than 1.3.0');
    const same = plan(bumpsOf(pushed('1.4.2'), table()).intents.filter((i) => i.env === 'staging'), files);
    expect(same.changes).toEqual([]);
    expect(same.message).toBe('');
  });

  it('reports a missing target file or an image the file does not reference, and writes the rest', () => {
    const intents = bumpsOf(pushed('1.5.0'), table()).intents;
    const cs = plan(intents, { 'envs/staging/kustomization.yaml': k('registry.example.com/team/other', '1.0.0'), 'envs/production/kustomization.yaml': null });
    expect(cs.changes).toEqual([]);
    expect(cs.problems.map((p) => p.message)).toEqual([
      'no reference to registry.example.com/team/web found in envs/staging/kustomization.yaml',
      'target file envs/production/kustomization.yaml does not exist',
    ]);
  });

  it('adds [skip ci] when the env repo is also an app repo', () => {
    const cs = plan(bumpsOf(pushed('1.5.0'), table()).intents.filter((i) => i.env === 'staging'), files, { skipCi: true });
    expect(cs.message.split('\n')[0]).toBe('web 1.4.2 → 1.5.0 in staging [skip ci]');
  });
});

describe('commit message', () => {
  it('summarizes several images in one subject and lists each in the body', () => {
    const cause = { source: 'registry/distribution' as const, deliveryId: 'x' };
    const msg = commitMessage([
      { env: 'staging', image: 'web', repository: 'r/web', from: '1.0.0', to: '1.1.0', files: ['a.yaml'], causes: [cause] },
      { env: 'staging', image: 'api', repository: 'r/api', to: '2.0.0', files: ['b.yaml'], causes: [{ ...cause, deliveryId: 'y', sourceRef: 'github:acme/api@3f2c1d0 (#42)' }] },
    ]);
    expect(msg).toBe(
      'web 1.1.0, api 2.0.0 in staging\n\n- web 1.0.0 → 1.1.0 in staging (a.yaml)\n- api → 2.0.0 in staging (b.yaml)\n\n' +
        'Baton-Image: r/web:1.1.0\nBaton-Event: registry/distribution x\nBaton-Image: r/api:2.0.0\nBaton-Source: github:acme/api@3f2c1d0 (#42)\nBaton-Event: registry/distribution y\n',
    );
  });
});

describe('plan: unordered policies', () => {
  it('the event Baton accepted last wins, even when a retried batch carries an older one last', () => {
    const file = 'k.yaml';
    const files = { [file]: 'images:\n  - name: r.example.com/team/api\n    newTag: "0000000"\n' };
    const base: Omit<SetImage, 'tag' | 'cause'> = { type: 'set-image', destination: { branch: 'main', write: 'commit' }, env: 'staging', image: 'api', repository: 'r.example.com/team/api', digestMode: 'ignore', mode: 'upgrade', policy: { policy: 'sha' }, targets: [{ file }] };
    const newer: SetImage = { ...base, tag: 'bbbbbbb', cause: { source: 'github', deliveryId: 'new', acceptedAt: 2_000 } };
    const older: SetImage = { ...base, tag: 'aaaaaaa', cause: { source: 'github', deliveryId: 'old', acceptedAt: 1_000 } };
    const cs = plan([newer, older], files);
    expect(cs.bumps.map((b) => b.to)).toEqual(['bbbbbbb']);
    expect(cs.skipped.map((s) => s.tag)).toEqual(['aaaaaaa']);
  });
});
