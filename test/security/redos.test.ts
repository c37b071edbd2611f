/**
 * A `.baton.yml` pattern with catastrophic backtracking on a backtracking engine, and a pushed tag
 * built to trigger it: Baton keeps answering probes and other webhooks, and still lands the tags
 * the pattern accepts.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accepts } from '../../src/core/policy.js';
import { parseConfig } from '../../src/config/load.js';
import { kustomization, startTestBaton, TEST_TOKEN } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';

const REPO = 'registry.example.com/team/web';
const HOSTILE = '^(a+)+$';
// 27 `a`s and a `-`: seconds of backtracking on a JavaScript RegExp, one pass on RE2.
const EVIL_TAG = `${'a'.repeat(27)}-`;

function config(pattern: string): string {
  return `version: 1
environments:
  staging:
    branch: main
    write: commit
images:
  web:
    repository: ${REPO}
    policy: regex
    pattern: '${pattern}'
    targets:
      staging:
        - envs/staging/kustomization.yaml
`;
}

describe('user patterns run in linear time', () => {
  it('evaluates the hostile pattern against a hostile tag and says no', () => {
    expect(accepts({ policy: 'regex', pattern: HOSTILE }, `${'a'.repeat(5000)}-`)).toEqual({ ok: false, reason: expect.stringContaining('does not match'), code: 'not-matching' });
    expect(accepts({ policy: 'regex', pattern: HOSTILE }, 'aaaa')).toEqual({ ok: true });
  });

  it('accepts Flux (?P<name>) groups and refuses what RE2 cannot run in linear time', () => {
    expect(parseConfig(config('^main-(?P<sha>[0-9a-f]{7})-(?P<ts>[0-9]+)$')).ok).toBe(true);
    for (const bad of ['^(a)\\1$', '^(?=a)a$', '^(?<!b)a$']) {
      const r = parseConfig(config(bad));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.messages[0]?.message).toMatch(/RE2/);
    }
  });
});

describe('a hostile tag against a hostile pattern, end to end', () => {
  let baton: TestBaton;

  beforeAll(async () => {
    baton = await startTestBaton({
      env: { BATON_DEBOUNCE_MS: '0' },
      seed: { '.baton.yml': config(HOSTILE), 'envs/staging/kustomization.yaml': kustomization(REPO, 'a') },
    });
  });
  afterAll(async () => {
    await baton?.close();
  });

  it('keeps /healthz answering while the hostile tag is routed, and lands an accepted tag after it', async () => {
    const auth = { authorization: `Bearer ${TEST_TOKEN}` };
    const pushes = await Promise.all(Array.from({ length: 2 }, (_, i) => baton.post('/webhooks/registry/generic', { repository: REPO, tag: `${EVIL_TAG}${i}` }, auth)));
    for (const r of pushes) expect(r.status).toBe(202);
    // The events are now being routed. Baton runs in this process, so a blocked event loop shows as
    // a probe that answers late; probes run until the queue is idle, and the bound is generous,
    // since this is about answering at all.
    const slowest = { ms: 0, probes: 0 };
    const idle = (): boolean => baton.baton.pipeline.queue.stats().pending === 0 && baton.baton.pipeline.queue.stats().batches === 0;
    while (slowest.probes < 5 || !idle()) {
      const started = performance.now();
      const res = await fetch(`${baton.url}/healthz`);
      expect(res.status).toBe(200);
      slowest.ms = Math.max(slowest.ms, performance.now() - started);
      slowest.probes++;
    }
    expect(slowest.ms).toBeLessThan(1000);
    const good = await baton.post('/webhooks/registry/generic', { repository: REPO, tag: 'aaaa' }, auth);
    expect(good.status).toBe(202);
    await baton.idle(10_000);
    const landed = baton.outcomes.flatMap((o) => o.bumps.map((b) => b.to));
    expect(landed).toEqual(['aaaa']);
    expect(await baton.repo?.show('main', 'envs/staging/kustomization.yaml')).toContain('newTag: "aaaa"');
  });
});
