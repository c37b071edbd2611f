/**
 * Large `.baton.yml` and target files: capped (a reported problem, not a parse), and below the cap
 * parsed and edited on a worker thread, so probes and webhooks stay answered meanwhile.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigOffThread, planOffThread } from '../../src/app/offthread.js';
import { ConfigStore, parseConfig } from '../../src/config/load.js';
import type { SetImage } from '../../src/core/intent.js';
import { plan } from '../../src/core/plan.js';
import { oneImageConfig, startTestBaton, TEST_TOKEN } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';

const REPO = 'registry.example.com/team/web';

/** A kustomization listing `n` other images before ours: real syntax, large size. */
function bigKustomization(n: number, tag: string): string {
  const others = Array.from({ length: n }, (_, i) => `  - name: registry.example.com/other/image-${i}\n    newTag: "1.0.${i}"\n`).join('');
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n${others}  - name: ${REPO}\n    newTag: "${tag}"\n`;
}

function intent(tag: string, file = 'envs/staging/kustomization.yaml'): SetImage {
  return {
    type: 'set-image',
    destination: { branch: 'main', write: 'commit' },
    env: 'staging',
    image: 'web',
    repository: REPO,
    tag,
    digestMode: 'ignore',
    mode: 'upgrade',
    policy: { policy: 'semver' },
    targets: [{ file }],
    cause: { source: 'registry/generic', deliveryId: 'd1' },
  };
}

describe('size caps', () => {
  it('a target file over the cap is a reported problem, not parsed', () => {
    const files = { 'envs/staging/kustomization.yaml': bigKustomization(200, '1.0.0') };
    const cs = plan([intent('1.1.0')], files, { maxFileBytes: 4096 });
    expect(cs.changes).toEqual([]);
    expect(cs.problems).toEqual([{ path: 'envs/staging/kustomization.yaml', message: expect.stringMatching(/over the 4096-byte limit for target files \(BATON_MAX_TARGET_BYTES\)/) }]);
    expect(plan([intent('1.1.0')], files).changes).toHaveLength(1);
  });

  it('a .baton.yml over the cap is refused with a message, unparsed', () => {
    const text = oneImageConfig(REPO) + `# ${'x'.repeat(2000)}\n`;
    const r = parseConfig(text, { maxBytes: 1024 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.messages[0]?.message).toMatch(/over the 1024-byte limit \(BATON_MAX_CONFIG_BYTES\)/);
    expect(parseConfig(text).ok).toBe(true);
  });
});

describe('.baton.yml is parsed once per text', () => {
  it('a new revision with the same text (every Baton commit) is not parsed again', async () => {
    const store = new ConfigStore();
    let parses = 0;
    const parse = async (t: string) => {
      parses++;
      return parseConfig(t);
    };
    const text = oneImageConfig(REPO);
    expect(await store.updateWith(text, 'c1', parse)).toEqual({ ok: true, changed: true });
    expect(await store.updateWith(text, 'c2', parse)).toEqual({ ok: true, changed: false });
    expect(store.revision).toBe('c2');
    expect(await store.updateWith(`${text}# edited\n`, 'c3', parse)).toEqual({ ok: true, changed: true });
    expect(parses).toBe(2);
  });
});

describe('off the event loop', () => {
  it('planning on a worker gives exactly the inline result', async () => {
    const files = { 'envs/staging/kustomization.yaml': bigKustomization(50, '1.0.0'), 'other.yaml': null };
    const intents = [intent('1.1.0'), { ...intent('1.2.0', 'other.yaml'), image: 'api' }];
    const inline = plan(intents, files, { skipCi: true });
    const worker = await planOffThread(intents, files, { skipCi: true, offThreadBytes: 1 });
    expect(worker).toEqual(inline);
    expect(worker.changes).toHaveLength(1);
  });

  it('parsing .baton.yml on a worker gives exactly the inline result, valid or not', async () => {
    for (const text of [oneImageConfig(REPO), 'version: 2\n', 'environments: [']) {
      expect(await parseConfigOffThread(text, { offThreadBytes: 1 })).toEqual(parseConfig(text));
    }
  });
});

describe('a large target file keeps webhooks answered', () => {
  let baton: TestBaton;
  const auth = { authorization: `Bearer ${TEST_TOKEN}` };

  beforeAll(async () => {
    baton = await startTestBaton({
      // The config does not change here. With the helper's TTL of 0 every probe's event would fetch the
      // env repo before it is routed: on a loaded machine the probes queue events faster than that.
      env: { BATON_DEBOUNCE_MS: '0', BATON_CONFIG_TTL_MS: '600000' },
      seed: { '.baton.yml': oneImageConfig(REPO), 'envs/staging/kustomization.yaml': bigKustomization(6_000, '1.0.0') },
    });
  });
  afterAll(async () => {
    await baton?.close();
  });

  it('answers probes and other webhooks while a 400 kB kustomization is edited, then lands the bump', async () => {
    expect((await baton.post('/webhooks/registry/generic', { repository: REPO, tag: '1.1.0' }, auth)).status).toBe(202);
    // Baton runs in this process: a blocked event loop shows as a late answer. Probe until the bump lands.
    let slowest = 0;
    let probes = 0;
    while (probes < 5 || baton.outcomes.length === 0) {
      const started = performance.now();
      expect((await fetch(`${baton.url}/healthz`)).status).toBe(200);
      const other = await baton.post('/webhooks/registry/generic', { repository: 'registry.example.com/team/unrelated', tag: `0.0.${probes}` }, auth);
      expect(other.status).toBe(202);
      slowest = Math.max(slowest, performance.now() - started);
      probes++;
      if (probes > 2000) throw new Error('the bump never landed');
    }
    expect(slowest).toBeLessThan(1000);
    await baton.idle(30_000);
    expect(baton.outcomes.flatMap((o) => o.bumps.map((b) => b.to))).toEqual(['1.1.0']);
    const text = await baton.repo?.show('main', 'envs/staging/kustomization.yaml');
    expect(text).toContain(`  - name: ${REPO}\n    newTag: "1.1.0"\n`);
  }, 60_000);
});
