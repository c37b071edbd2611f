/** A 413 names the endpoint's own limit: 25 MiB on /webhooks/github (GitHub's cap), BATON_MAX_BODY_BYTES elsewhere. */

import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBaton } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';

const MiB = 1024 * 1024;

/** POST headers only, declaring `length` bytes: the answer comes before any body is sent. */
function declare(url: string, path: string, length: number, headers: Record<string, string>): Promise<{ status: number; body: { reason?: string } }> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(length), ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { reason?: string } }));
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

describe('the 413 reason', () => {
  let t: TestBaton;
  beforeAll(async () => {
    t = await startTestBaton({ env: { WEBHOOK_SECRET: 'a-webhook-secret' } });
  });
  afterAll(() => t?.close());

  it('names 25 MiB on the GitHub route and BATON_MAX_BODY_BYTES (1 MiB) on a registry route', async () => {
    const signed = { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` };
    const github = await declare(t.url, '/webhooks/github', 26 * MiB, signed);
    expect(github.status).toBe(413);
    expect(github.body.reason).toBe('the limit is 25 MiB (26214400 bytes) for this endpoint');
    const registry = await declare(t.url, '/webhooks/registry/distribution', 2 * MiB, { authorization: 'Bearer test-registry-token-0123456789' });
    expect(registry.status).toBe(413);
    expect(registry.body.reason).toBe('the limit is 1 MiB (1048576 bytes) for this endpoint');
  });
});
