import { describe, expect, it } from 'vitest';
import type { OciClient } from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/client.js';
import { pickTag, resync } from '../../src/registry/resync.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;

/** A registry double: tags per repository, a digest per tag; records what was asked. */
function fakeClient(repos: Record<string, string[]>, failing = new Set<string>()): OciClient & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    listTags: async (image) => {
      asked.push(`tags ${image}`);
      if (failing.has(image)) throw new RegistryError(`${image}: HTTP 503`, 503, true);
      const tags = repos[image];
      if (!tags) throw new RegistryError(`${image} not found`, 404, false);
      return tags;
    },
    resolveDigest: async (image, tag) => {
      asked.push(`digest ${image}:${tag}`);
      return D(String((tag.length % 9) + 1));
    },
  };
}

describe('pickTag', () => {
  it('picks the highest accepted semver, skipping prereleases and out-of-range tags', () => {
    expect(pickTag({ policy: 'semver' }, ['1.2.0', '1.10.0', '1.9.9', '2.0.0-rc.1', 'latest'])).toEqual({ tag: '1.10.0' });
    expect(pickTag({ policy: 'semver', range: '<1.5.0' }, ['1.2.0', '1.10.0', '1.4.2'])).toEqual({ tag: '1.4.2' });
  });

  it('orders numerical and alphabetical policies by the extracted value', () => {
    const numerical = { policy: 'numerical' as const, pattern: '^main-[0-9a-f]{7}-(?<ts>\\d+)$', extract: '$ts' };
    expect(pickTag(numerical, ['main-aaaaaaa-99', 'main-bbbbbbb-1000', 'feature-ccccccc-5000'])).toEqual({ tag: 'main-bbbbbbb-1000' });
    expect(pickTag({ policy: 'alphabetical', pattern: '^rel-(?<d>.+)$', extract: '$d' }, ['rel-2026-01', 'rel-2026-03', 'rel-2025-12'])).toEqual({ tag: 'rel-2026-03' });
  });

  it('declines policies without an order and says why', () => {
    expect(pickTag({ policy: 'sha' }, ['3f2c1d0'])).toEqual({ reason: 'policy sha has no order, so there is no newest tag to pick' });
    expect(pickTag({ policy: 'semver' }, ['latest'])).toEqual({ reason: 'no tag is accepted by the policy' });
  });
});

describe('resync', () => {
  it('returns one ImagePushed per image with the picked tag and resolved digest, and notes for the rest', async () => {
    const client = fakeClient(
      { 'registry.example.com/team/web': ['1.0.0', '1.2.0', '1.10.0'], 'registry.example.com/team/api': ['3f2c1d0'] },
      new Set(['registry.example.com/team/flaky']),
    );
    const result = await resync(
      {
        web: { repository: 'registry.example.com/team/web', policy: 'semver', digest: 'pin' },
        api: { repository: 'registry.example.com/team/api', policy: 'sha' },
        flaky: { repository: 'registry.example.com/team/flaky', policy: 'semver' },
        gone: { repository: 'registry.example.com/team/gone', policy: 'semver' },
      },
      client,
      { now: '2026-11-22T12:00:00.000Z', concurrency: 2 },
    );
    expect(result.selections).toEqual([
      {
        type: 'image-pushed',
        source: 'registry/resync',
        deliveryId: `resync:registry.example.com/team/web:1.10.0@${D('7')}`,
        registry: 'registry.example.com',
        repository: 'team/web',
        tag: '1.10.0',
        digest: D('7'),
        pushedAt: '2026-11-22T12:00:00.000Z',
      },
    ]);
    expect(result.notes).toEqual([
      { image: 'api', message: 'policy sha has no order, so there is no newest tag to pick (1 tags)' },
      { image: 'flaky', message: 'registry error: registry.example.com/team/flaky: HTTP 503' },
      { image: 'gone', message: 'registry error: registry.example.com/team/gone not found' },
    ]);
    expect(client.asked.filter((a) => a.startsWith('digest'))).toEqual(['digest registry.example.com/team/web:1.10.0']);
  });

  it('normalizes Docker Hub names and merges two images on one repository into one selection', async () => {
    const client = fakeClient({ nginx: ['1.27.0', '1.26.3'], 'docker.io/library/nginx': ['1.27.0', '1.26.3'] });
    const result = await resync(
      { a: { repository: 'nginx', policy: 'semver' }, b: { repository: 'docker.io/library/nginx', policy: 'semver' } },
      client,
      { now: '2026-11-22T12:00:00.000Z' },
    );
    expect(result.selections).toHaveLength(1);
    expect(result.selections[0]).toMatchObject({ registry: 'docker.io', repository: 'library/nginx', tag: '1.27.0' });
  });

  it('gives the same delivery ids on a second run, so the queue drops a repeated resync', async () => {
    const client = fakeClient({ 'r.example.com/x': ['1.0.0', '2.0.0'] });
    const images = { x: { repository: 'r.example.com/x', policy: 'semver' as const } };
    const a = await resync(images, client, { now: '2026-11-22T12:00:00.000Z' });
    const b = await resync(images, client, { now: '2026-11-22T13:00:00.000Z' });
    expect(a.selections.map((s) => s.deliveryId)).toEqual(b.selections.map((s) => s.deliveryId));
  });
});
