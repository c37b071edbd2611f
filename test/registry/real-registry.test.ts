/**
 * Against a real CNCF registry (Debian's docker-registry) with images pushed by skopeo: the OCI client's
 * digest resolution and tag listing, resync, and the registry's own notifications through the parser.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImagePushed } from '../../src/core/event.js';
import { HttpOciClient } from '../../src/registry/client.js';
import { resync } from '../../src/registry/resync.js';
import { registrySources } from '../../src/sources/registry/index.js';
import type { Delivery } from '../../src/sources/types.js';
import { buildImage, pushImage, registryUnavailable, removeImage, startListener, startRegistry } from '../helpers/registry.js';
import type { BuiltImage, Listener, RunningRegistry } from '../helpers/registry.js';

const unavailable = registryUnavailable();
if (unavailable) console.warn(unavailable);

const TOKEN = 'notify-s3cret';

describe.skipIf(unavailable !== undefined)('a real registry (docker-registry + skopeo)', () => {
  let registry: RunningRegistry;
  let listener: Listener;
  let single: BuiltImage;
  let multi: BuiltImage;
  let singleDigest: string;
  let multiDigest: string;
  const client = new HttpOciClient();

  beforeAll(async () => {
    listener = await startListener();
    registry = await startRegistry({ notify: [{ url: listener.url, token: TOKEN }] });
    single = await buildImage('1.2.3');
    multi = await buildImage('2.0.0', { multiArch: true });
    singleDigest = await pushImage(single, registry.host);
    multiDigest = await pushImage(multi, registry.host);
  });

  afterAll(async () => {
    await registry?.stop();
    await listener?.close();
    if (single) await removeImage(single);
    if (multi) await removeImage(multi);
  });

  it('resolves a single-platform tag to its manifest digest', async () => {
    expect(singleDigest).toBe(single.digest);
    expect(await client.resolveDigest(`${registry.host}/team/web`, '1.2.3')).toBe(single.digest);
  });

  it('resolves a multi-arch tag to the index digest, not a platform manifest', async () => {
    const digest = await client.resolveDigest(`${registry.host}/team/web`, '2.0.0');
    expect(digest).toBe(multi.digest);
    expect(multiDigest).toBe(multi.digest);
    expect(multi.platforms).not.toContain(digest);
  });

  it('reports a missing tag as 404', async () => {
    await expect(client.resolveDigest(`${registry.host}/team/web`, '9.9.9')).rejects.toMatchObject({ status: 404 });
  });

  it('lists tags across pages', async () => {
    for (const tag of ['1.3.0', '1.10.0', '2.1.0-rc.1']) await pushImage(single, registry.host, 'team/web', tag);
    const paged = new HttpOciClient({ pageSize: 2 });
    expect((await paged.listTags(`${registry.host}/team/web`)).sort()).toEqual(['1.10.0', '1.2.3', '1.3.0', '2.0.0', '2.1.0-rc.1']);
  });

  it('resync picks the newest tag the policy allows, with the registry digest', async () => {
    const result = await resync(
      {
        web: { repository: `${registry.host}/team/web`, policy: 'semver', range: '>=1.0.0 <2.0.0', digest: 'pin' },
        next: { repository: `${registry.host}/team/web`, policy: 'semver' },
        gone: { repository: `${registry.host}/team/gone`, policy: 'semver' },
      },
      client,
      { now: '2026-11-22T12:00:00.000Z' },
    );
    expect(result.selections.map((s) => [s.tag, s.digest])).toEqual([
      ['1.10.0', single.digest],
      ['2.0.0', multi.digest],
    ]);
    expect(result.selections[0]).toMatchObject({ registry: registry.host, repository: 'team/web', source: 'registry/resync' });
    expect(result.notes).toEqual([{ image: 'gone', message: expect.stringContaining('not found') }]);
  });

  it('posts notifications that verify with the token and parse to one event per tagged push', async () => {
    const source = registrySources['distribution'];
    if (!source) throw new Error('no distribution source');
    await listener.waitFor((reqs) => reqs.some((r) => r.body.toString().includes('"tag": "2.0.0"')) && reqs.some((r) => r.body.toString().includes('"tag": "1.2.3"')));
    const pushed: ImagePushed[] = [];
    for (const req of listener.requests) {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]));
      const delivery: Delivery = { headers, query: {}, rawBody: req.body, receivedAt: '2026-11-22T12:00:00.000Z' };
      expect(await source.verify(delivery, [TOKEN])).toEqual({ ok: true });
      expect(await source.verify(delivery, ['another-token'])).toMatchObject({ ok: false });
      const parsed = source.parse(JSON.parse(req.body.toString('utf8')), delivery);
      if (parsed.kind === 'events') for (const e of parsed.events) if (e.type === 'image-pushed') pushed.push(e);
    }
    const byTag = new Map(pushed.map((e) => [e.tag, e]));
    expect(byTag.get('1.2.3')).toMatchObject({ registry: registry.host, repository: 'team/web', digest: single.digest });
    expect(byTag.get('2.0.0')).toMatchObject({ registry: registry.host, repository: 'team/web', digest: multi.digest });
    // The platform manifests of the multi-arch push arrive too, by digest only, and make no event.
    expect(pushed.filter((e) => e.tag === '2.0.0')).toHaveLength(1);
    expect(pushed.some((e) => multi.platforms.includes(e.digest ?? ''))).toBe(false);
  });
});
