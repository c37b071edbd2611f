import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TEST_TOKEN, kustomization, oneImageConfig, startTestBaton } from '../helpers/baton.js';

const REPO = 'registry.example.com/team/web';

describe('request logs', () => {
  it('are JSON lines with a request id, and never contain a token, however it was sent', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const logger = pino({ level: 'debug' }, sink);
    const t = await startTestBaton({ seed: { '.baton.yml': oneImageConfig(REPO), 'envs/staging/kustomization.yaml': kustomization(REPO, '1.0.0') }, logger });
    try {
      const event = { events: [{ id: 'log-1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: '1.1.0' }, request: { host: 'registry.example.com' } }] };
      await t.post('/webhooks/registry/distribution', event, { authorization: `Bearer ${TEST_TOKEN}`, 'x-request-id': 'req-42' });
      await t.post('/webhooks/registry/distribution?token=leaky-query-token', event, { authorization: 'Bearer wrong-but-secret-token' });
      await t.post('/webhooks/registry/distribution', event, { authorization: `Basic ${Buffer.from(`user:${TEST_TOKEN}`).toString('base64')}` });
      // The request id is echoed back (a sane given one as is, otherwise a fresh one); probes are not logged.
      const echoed = await fetch(`${t.url}/healthz`, { headers: { 'x-request-id': 'probe-1' } });
      expect(echoed.headers.get('x-request-id')).toBe('probe-1');
      const fresh = await fetch(`${t.url}/readyz`, { headers: { 'x-request-id': 'not a valid id!' } });
      expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      await t.idle();
    } finally {
      await t.close();
    }
    const all = lines.join('\n');
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect(() => JSON.parse(l) as unknown).not.toThrow();
    expect(all).not.toContain(TEST_TOKEN);
    expect(all).not.toContain('leaky-query-token');
    expect(all).not.toContain('wrong-but-secret-token');
    expect(all).not.toContain(Buffer.from(`user:${TEST_TOKEN}`).toString('base64'));
    type Line = { level: number; msg: string; req?: { id: string; method: string; path: string }; res?: { statusCode: number }; responseTime?: number; result?: string; reason?: string };
    const parsed = lines.map((l) => JSON.parse(l) as Line);
    // One line per delivery, when its reply is done: what was accepted or why it was refused, with the status and time.
    const perRequest = new Map<string, Line[]>();
    for (const l of parsed) if (l.req) perRequest.set(l.req.id, [...(perRequest.get(l.req.id) ?? []), l]);
    expect(perRequest.get('req-42')).toEqual([
      expect.objectContaining({ level: 30, msg: 'webhook', result: 'accepted', req: { id: 'req-42', method: 'POST', path: '/webhooks/registry/distribution' }, res: { statusCode: 202 }, responseTime: expect.any(Number) }),
    ]);
    const deliveries = parsed.filter((l) => l.req?.path === '/webhooks/registry/distribution');
    expect(deliveries).toHaveLength(3);
    expect(new Set(deliveries.map((l) => l.req?.id)).size).toBe(3);
    expect(deliveries.map((l) => `${l.res?.statusCode} ${l.msg}`).sort()).toEqual(['202 webhook', '202 webhook', '401 webhook refused']);
    expect(deliveries.find((l) => l.msg === 'webhook refused')).toMatchObject({ level: 40, reason: expect.any(String) });
    expect(all).toContain('"msg":"committed"');
    expect(all).not.toContain('/healthz');
  });
});
