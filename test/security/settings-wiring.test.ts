/** The limits reach the running server from settings alone: connection cap, header timeout, target-file cap. */

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kustomization, oneImageConfig, startTestBaton, TEST_TOKEN } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';

const REPO = 'registry.example.com/team/web';

describe('limits from settings', () => {
  let baton: TestBaton;

  beforeAll(async () => {
    baton = await startTestBaton({
      env: { BATON_DEBOUNCE_MS: '0', BATON_HTTP_HEADERS_TIMEOUT_MS: '400', BATON_HTTP_REQUEST_TIMEOUT_MS: '800', BATON_HTTP_MAX_CONNECTIONS: '4', BATON_MAX_TARGET_BYTES: '100' },
      seed: { '.baton.yml': oneImageConfig(REPO), 'envs/staging/kustomization.yaml': kustomization(REPO, '1.0.0') },
    });
  });
  afterAll(async () => {
    await baton?.close();
  });

  it('cuts a header dribbler and caps connections', async () => {
    const { port } = new URL(baton.url);
    const head = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(300)}\r\n\r\n`;
    const sent = await new Promise<number>((resolve) => {
      const s = connect(Number(port), '127.0.0.1');
      let n = 0;
      const t = setInterval(() => {
        if (n < head.length && !s.destroyed) s.write(head[n++] ?? '');
      }, 10);
      s.on('error', () => undefined);
      s.on('close', () => {
        clearInterval(t);
        resolve(n);
      });
    });
    expect(sent).toBeLessThan(head.length);

    let closed = 0;
    const sockets = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const s = connect(Number(port), '127.0.0.1');
        s.on('error', () => undefined);
        s.on('close', () => closed++);
        await new Promise((r) => s.once('connect', r));
        return s;
      }),
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(closed).toBe(4);
    for (const s of sockets) s.destroy();
    // The server frees the slots as it sees the sockets close.
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${baton.url}/healthz`)).status).toBe(200);
  });

  it('reports a target file over BATON_MAX_TARGET_BYTES instead of editing it', async () => {
    const res = await baton.post('/webhooks/registry/generic', { repository: REPO, tag: '1.1.0' }, { authorization: `Bearer ${TEST_TOKEN}` });
    expect(res.status).toBe(202);
    await baton.idle();
    expect(baton.outcomes.flatMap((o) => o.problems.map((p) => p.message))).toEqual([expect.stringMatching(/over the 100-byte limit for target files \(BATON_MAX_TARGET_BYTES\)/)]);
    expect(await baton.repo?.show('main', 'envs/staging/kustomization.yaml')).toContain('newTag: "1.0.0"');
  });
});
