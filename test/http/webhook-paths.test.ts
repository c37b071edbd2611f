/**
 * Webhook deliveries on their canonical paths are served straight off node:http; other spellings of
 * the same paths, and everything else, go through Express. Both must answer alike.
 */

import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/app/metrics.js';
import type { Event } from '../../src/core/event.js';
import { createHttpApp, DEFAULT_HTTP_LIMITS, listenHttp } from '../../src/http/server.js';
import type { Queue } from '../../src/queue/types.js';
import { githubWebhookRoute } from '../../src/sources/github/index.js';
import { GITHUB_SECRET, REGISTRY_TOKEN, recordingQueue, startEdge } from '../security/edge-harness.js';
import type { Edge } from '../security/edge-harness.js';
import { startTestBaton } from '../helpers/baton.js';

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: { ref?: string }[] }[];
const PUSH = JSON.stringify(examples.find((e) => e.name === 'push')?.examples.find((x) => x.ref?.startsWith('refs/heads/')));
const signed = (body: string, secret = GITHUB_SECRET): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function edge(): Promise<Edge> {
  const e = await startEdge();
  closers.push(() => e.close());
  return e;
}

function push(url: string, path: string, id: string): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': id, 'x-hub-signature-256': signed(PUSH), 'x-request-id': `req-${id}` }, body: PUSH });
}

describe('webhook paths', () => {
  it('answer alike however the path is spelt: canonical, trailing slash, other case, with a query', async () => {
    const e = await edge();
    const paths = ['/webhooks/github', '/webhooks/github/', '/Webhooks/GitHub', '/webhooks/github?from=hook'];
    const replies = [];
    for (const [i, path] of paths.entries()) {
      const res = await push(e.url, path, `path-${i}`);
      replies.push({ status: res.status, type: res.headers.get('content-type'), id: res.headers.get('x-request-id'), body: await res.json() });
    }
    expect(replies).toEqual(paths.map((_, i) => ({ status: 202, type: 'application/json; charset=utf-8', id: `req-path-${i}`, body: { status: 'accepted', deliveries: [{ id: `path-${i}` }] } })));
    expect(e.queued.map((q) => q.deliveryId)).toEqual(['path-0', 'path-1', 'path-2', 'path-3']);
    // The same delivery again is a duplicate on either path.
    expect(await (await push(e.url, '/webhooks/github/', 'path-0')).json()).toEqual({ status: 'accepted', deliveries: [{ id: 'path-0', duplicate: true }] });
  });

  it('refuse alike on either path: a wrong signature is 401, a missing one 401 before the body is read (connection closed)', async () => {
    const e = await edge();
    for (const path of ['/webhooks/github', '/webhooks/github/']) {
      const res = await fetch(`${e.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signed(PUSH, 'not-the-secret') }, body: PUSH });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'unauthorized', reason: 'signature does not match' });
      const unsigned = await fetch(`${e.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push' }, body: PUSH });
      expect(unsigned.status).toBe(401);
      expect(unsigned.headers.get('connection')).toBe('close');
      expect(await unsigned.json()).toEqual({ error: 'unauthorized', reason: 'missing signature' });
    }
    expect(e.queued).toEqual([]);
  });

  it('serve registry kinds on their own path, and name the kinds for an unknown one', async () => {
    const e = await edge();
    const body = JSON.stringify({ events: [{ id: 'reg-1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag: '1.2.3' }, request: { host: 'registry.example.com' } }] });
    const ok = await fetch(`${e.url}/webhooks/registry/distribution`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${REGISTRY_TOKEN}` }, body });
    expect(ok.status).toBe(202);
    const unknown = await fetch(`${e.url}/webhooks/registry/nexus`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${REGISTRY_TOKEN}` }, body });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { reason: string }).reason).toMatch(/use one of .*distribution/);
    expect((await fetch(`${e.url}/webhooks/github`)).status).toBe(404);
  });

  it('a delivery the queue cannot store is a 500 with the error logged under its request id, and the server goes on', async () => {
    const lines: { msg: string; req?: { id: string }; err?: { message: string } }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[number]);
        done();
      },
    });
    const queued: Event[] = [];
    const working = recordingQueue(queued);
    let full = true;
    const queue: Queue = { ...working, enqueue: async (ev) => (full ? Promise.reject(new Error('ENOSPC: no space left on device, write')) : working.enqueue(ev)) };
    const app = createHttpApp({ logger: pino({ level: 'info' }, sink), metrics: createMetrics(), queue, registrySecrets: () => [], sources: { github: githubWebhookRoute({ WEBHOOK_SECRET: GITHUB_SECRET }) }, isReady: () => true });
    const server = await listenHttp(app, 0, '127.0.0.1', DEFAULT_HTTP_LIMITS);
    closers.push(() => new Promise((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const [i, path] of ['/webhooks/github', '/webhooks/github/'].entries()) {
      const res = await push(url, path, `full-${i}`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'internal error' });
    }
    for (const id of ['req-full-0', 'req-full-1']) expect(lines.find((l) => l.msg === 'unhandled error' && l.req?.id === id)?.err?.message).toMatch(/ENOSPC/);
    full = false;
    expect((await push(url, '/webhooks/github', 'full-0')).status).toBe(202);
    expect(queued.map((q) => q.deliveryId)).toEqual(['full-0']);
  });
});

/** Send only the head of a POST that declares a large body; resolve with what the server answers, without sending a body byte. */
function headOnly(url: string, path: string, headers: Record<string, string>): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    socket.on('close', () => resolve(reply));
    socket.on('error', reject);
    // A server waiting for the body never answers: give up after 5 s with what came back (nothing).
    socket.setTimeout(5_000, () => socket.destroy());
    const lines = [`POST ${path} HTTP/1.1`, 'Host: baton', 'Content-Type: application/json', `Content-Length: ${10 * 1024 * 1024}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    socket.write(lines.join('\r\n') + '\r\n\r\n');
  });
}

describe('the running server', () => {
  it('refuses unsigned GitHub and GitLab deliveries before reading their bodies, and closes the connection', async () => {
    const t = await startTestBaton({ env: { WEBHOOK_SECRET: 'server-github-secret', GITLAB_WEBHOOK_SECRET: 'server-gitlab-token' } });
    closers.push(() => t.close());
    const github = await headOnly(t.url, '/webhooks/github', { 'X-GitHub-Event': 'push' });
    expect(github).toMatch(/^HTTP\/1\.1 401 /);
    expect(github).toMatch(/connection: close/i);
    expect(github).toContain('missing signature');
    const gitlab = await headOnly(t.url, '/webhooks/gitlab', { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': 'wrong-token' });
    expect(gitlab).toMatch(/^HTTP\/1\.1 401 /);
    expect(gitlab).toMatch(/connection: close/i);
  });
});
