/**
 * The foundation end to end: the real server on an ephemeral port, a real bare env repo, and the
 * notification the CNCF registry actually sent when skopeo pushed team/web:1.2.3.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_TOKEN, kustomization, oneImageConfig, startTestBaton } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/registry/${name}`, import.meta.url), 'utf8')) as { headers: Record<string, string>; body: unknown };

const manifest = fixture('distribution-v1-skopeo-manifest.json');
const blob = fixture('distribution-v1-skopeo-blob1.json');
const REPO = '127.0.0.1:5055/team/web';
const KUSTOMIZATION = 'envs/staging/kustomization.yaml';
const auth = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/vnd.docker.distribution.events.v1+json' };

describe('POST /webhooks/registry/distribution on the real server', () => {
  let t: TestBaton;
  let seedHead: string;

  beforeAll(async () => {
    t = await startTestBaton({
      seed: { '.baton.yml': oneImageConfig(REPO), [KUSTOMIZATION]: kustomization(REPO, '1.2.2') },
      env: { BATON_MAX_BODY_BYTES: String(64 * 1024) },
    });
    seedHead = await t.repo!.head();
  });
  afterAll(async () => {
    await t.close();
  });

  it('turns the captured push into exactly one commit with a one-line diff and the trailers', async () => {
    // The registry pretty-prints its body; send the bytes as a registry would.
    const res = await t.post('/webhooks/registry/distribution', JSON.stringify(manifest.body, null, 3), auth);
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ status: 'accepted', deliveries: [{ id: 'b7aef78f-55f3-4d37-b38f-b3779c402f00' }] });
    await t.idle();
    const repo = t.repo!;
    const subjects = await repo.subjects();
    expect(subjects).toEqual(['web 1.2.2 → 1.2.3 in staging', 'seed']);
    const diff = await repo.diff('main');
    const changed = diff.split('\n').filter((l) => /^[-+](?![-+])/.test(l));
    expect(changed).toEqual(['-    newTag: "1.2.2"', '+    newTag: "1.2.3"']);
    const message = await repo.message('main');
    expect(message).toContain(`Baton-Image: ${REPO}:1.2.3`);
    expect(message).toContain('Baton-Event: registry/distribution b7aef78f-55f3-4d37-b38f-b3779c402f00');
    expect(await repo.parents()).toEqual([1, 0]);
    expect((await repo.head()) === seedHead).toBe(false);
  });

  it('does the work once when the same delivery arrives again', async () => {
    const before = await t.repo!.head();
    const res = await t.post('/webhooks/registry/distribution', JSON.stringify(manifest.body), auth);
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ deliveries: [{ id: 'b7aef78f-55f3-4d37-b38f-b3779c402f00', duplicate: true }] });
    await t.idle();
    expect(await t.repo!.head()).toBe(before);
  });

  it('answers 200 "ignored" for blob pushes', async () => {
    const res = await t.post('/webhooks/registry/distribution', JSON.stringify(blob.body), auth);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'ignored' });
  });

  it('refuses missing and wrong tokens with 401 and writes nothing', async () => {
    const before = await t.repo!.head();
    const fresh = { events: [{ ...(manifest.body as { events: Record<string, unknown>[] }).events[0], id: 'forged-1', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: '1.9.9' } }] };
    expect((await t.post('/webhooks/registry/distribution', fresh, { 'content-type': 'application/json' })).status).toBe(401);
    expect((await t.post('/webhooks/registry/distribution', fresh, { ...auth, authorization: 'Bearer not-the-token' })).status).toBe(401);
    expect((await t.post('/webhooks/registry/distribution?token=' + TEST_TOKEN, fresh, { 'content-type': 'application/json' })).status).toBe(401);
    await t.idle();
    expect(await t.repo!.head()).toBe(before);
  });

  it('answers 400 for malformed JSON, 415 for non-JSON, 413 over the limit, 404 for unknown kinds — and keeps serving', async () => {
    expect((await t.post('/webhooks/registry/distribution', '{"events": [', auth)).status).toBe(400);
    expect((await t.post('/webhooks/registry/distribution', '{"events": "nope"}', auth)).status).toBe(400);
    expect((await t.post('/webhooks/registry/distribution', 'hello', { ...auth, 'content-type': 'text/plain' })).status).toBe(415);
    const big = JSON.stringify({ events: [], pad: 'x'.repeat(80 * 1024) });
    expect((await t.post('/webhooks/registry/distribution', big, auth)).status).toBe(413);
    expect((await t.post('/webhooks/registry/nope', '{}', auth)).status).toBe(404);

    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    const next = { events: [{ ...(manifest.body as { events: Record<string, unknown>[] }).events[0], id: 'after-errors', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: '1.2.4' } }] };
    expect((await t.post('/webhooks/registry/distribution', next, auth)).status).toBe(202);
    await t.idle();
    expect((await t.repo!.subjects())[0]).toBe('web 1.2.3 → 1.2.4 in staging');
  });

  it('ignores hostile tags as data: no commit, no crash', async () => {
    const before = await t.repo!.head();
    const evil = { events: [{ id: 'evil-1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: '1.3.0\nBaton-Actor: mallory' }, request: { host: '127.0.0.1:5055' } }] };
    const res = await t.post('/webhooks/registry/distribution', evil, auth);
    expect([200, 202]).toContain(res.status);
    await t.idle();
    expect(await t.repo!.head()).toBe(before);
  });

  it('exposes Prometheus metrics counting the deliveries', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/baton_webhooks_total\{source="registry\/distribution",result="accepted"\} [1-9]/);
    expect(text).toMatch(/baton_webhooks_total\{source="registry\/distribution",result="unauthorized"\} 3/);
    expect(text).toMatch(/baton_writes_total\{status="committed"\} 2/);
  });
});

describe('coalescing', () => {
  it('lands 100 events for one target inside the debounce window as one commit, highest semver winning', async () => {
    const t = await startTestBaton({
      seed: { '.baton.yml': oneImageConfig(REPO), [KUSTOMIZATION]: kustomization(REPO, '1.0.0') },
      env: { BATON_DEBOUNCE_MS: '3000', BATON_CONFIG_TTL_MS: '60000' },
    });
    try {
      const tags = Array.from({ length: 100 }, (_, i) => `1.${Math.floor(i / 10)}.${i % 10}`);
      // Deterministic shuffle so the highest tag is not the last to arrive.
      const order = tags.map((tag, i) => ({ tag, k: (i * 37) % 101 })).sort((a, b) => a.k - b.k).map((x) => x.tag);
      expect(order[order.length - 1]).not.toBe('1.9.9');
      const replies = await Promise.all(
        order.map((tag, i) =>
          t.post('/webhooks/registry/distribution', { events: [{ id: `burst-${i}`, action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag }, request: { host: '127.0.0.1:5055' } }] }, auth),
        ),
      );
      expect(replies.every((r) => r.status === 202)).toBe(true);
      await t.idle();
      const subjects = await t.repo!.subjects();
      expect(subjects).toEqual(['web 1.0.0 → 1.9.9 in staging', 'seed']);
      expect(await t.repo!.show('main', KUSTOMIZATION)).toContain('newTag: "1.9.9"');
    } finally {
      await t.close();
    }
  });
});

describe('one push announced several times', () => {
  it('folds the same repository, tag and digest under other delivery ids into one, and keeps a new digest for the same tag', async () => {
    const t = await startTestBaton({ seed: { '.baton.yml': oneImageConfig(REPO, '    digest: pin\n'), [KUSTOMIZATION]: kustomization(REPO, '1.0.0') } });
    try {
      const event = (id: string, digest: string) => ({ events: [{ id, action: 'push', target: { mediaType: 'application/vnd.oci.image.index.v1+json', repository: 'team/web', tag: '1.1.0', digest }, request: { host: '127.0.0.1:5055' } }] });
      const first = `sha256:${'1'.repeat(64)}`;
      expect((await t.post('/webhooks/registry/distribution', event('call-1', first), auth)).json).toMatchObject({ deliveries: [{ id: 'call-1' }] });
      const again = await t.post('/webhooks/registry/distribution', event('call-2', first), auth);
      expect(again.status).toBe(202);
      expect(again.json).toMatchObject({ deliveries: [{ id: 'call-2', duplicate: true }] });
      await t.idle();
      expect(t.outcomes).toHaveLength(1);
      // The tag re-pushed with new content is a new push.
      const second = `sha256:${'2'.repeat(64)}`;
      expect((await t.post('/webhooks/registry/distribution', event('call-3', second), auth)).json).toMatchObject({ deliveries: [{ id: 'call-3' }] });
      await t.idle();
      expect(await t.repo!.show('main', KUSTOMIZATION)).toContain(second);
      expect(await t.repo!.subjects()).toEqual(['web 1.1.0 re-pinned to sha256:222222222222 in staging', 'web 1.0.0 → 1.1.0 in staging', 'seed']);
    } finally {
      await t.close();
    }
  });
});
