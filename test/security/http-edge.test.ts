/**
 * The HTTP edge under hostile clients: unauthenticated and oversized bodies are refused before they
 * are read, deep JSON is refused before it is parsed, slow clients are cut, connections are capped,
 * and header values named like Object.prototype members are ordinary strings.
 */

import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveEnvRepo } from '../../src/cli/serve.js';
import { loadSettings } from '../../src/cli/settings.js';
import { parseRepoRef } from '../../src/core/event.js';
import { GITHUB_SECRET, GITLAB_TOKEN, REGISTRY_TOKEN, startEdge } from './edge-harness.js';
import type { Edge } from './edge-harness.js';

const MiB = 1024 * 1024;
let edges: Edge[] = [];
afterEach(async () => {
  await Promise.all(edges.map((e) => e.close()));
  edges = [];
});
async function edge(options: Parameters<typeof startEdge>[0] = {}): Promise<Edge> {
  const e = await startEdge(options);
  edges.push(e);
  return e;
}

/** POST a body of `size` bytes (repeating `chunk`), and resolve with the status as soon as the response arrives. */
function postLarge(url: string, path: string, size: number, headers: Record<string, string>, chunk: Buffer): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(size), ...headers } });
    let sent = 0;
    let done = false;
    const finish = (r: number | 'closed'): void => {
      if (done) return;
      done = true;
      resolve(r);
      req.destroy();
    };
    req.on('response', (res) => {
      res.resume();
      finish(res.statusCode ?? 0);
    });
    req.on('error', () => finish('closed'));
    const pump = (): void => {
      while (!done && sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      if (!done && sent >= size) req.end();
    };
    pump();
  });
}

/** Sample RSS while `work` runs; the growth over the starting RSS. */
async function rssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  global.gc?.();
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - start };
  } finally {
    clearInterval(timer);
  }
}

describe('unauthenticated bodies are refused before they are read', () => {
  const chunk = Buffer.alloc(64 * 1024, 0x20);

  it('20 concurrent unsigned 24 MB POSTs to /webhooks/github: all 401, RSS stays bounded', async () => {
    const e = await edge();
    const { result, growth } = await rssGrowth(() => Promise.all(Array.from({ length: 20 }, () => postLarge(e.url, '/webhooks/github', 24 * MiB, { 'x-github-event': 'push' }, chunk))));
    expect(result).toEqual(Array(20).fill(401));
    expect(growth).toBeLessThan(100 * MiB);
    expect(e.queued).toEqual([]);
  });

  it('the same with no WEBHOOK_SECRET configured, and with a wrong registry token', async () => {
    const e = await edge({ githubSecret: '' });
    const { result, growth } = await rssGrowth(() =>
      Promise.all([
        ...Array.from({ length: 10 }, () => postLarge(e.url, '/webhooks/github', 24 * MiB, { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }, chunk)),
        ...Array.from({ length: 10 }, () => postLarge(e.url, '/webhooks/registry/distribution', 24 * MiB, { authorization: 'Bearer wrong' }, chunk)),
      ]),
    );
    expect(result).toEqual(Array(20).fill(401));
    expect(growth).toBeLessThan(100 * MiB);
  });

  it('a declared length over the limit is 413 before reading; an undeclared one is cut at the limit', async () => {
    const e = await edge({ maxBodyBytes: 64 * 1024 });
    expect(await postLarge(e.url, '/webhooks/registry/generic', 10 * MiB, { authorization: `Bearer ${REGISTRY_TOKEN}` }, chunk)).toBe(413);
    const res = await fetch(`${e.url}/webhooks/registry/generic`, {
      method: 'POST',
      headers: { authorization: `Bearer ${REGISTRY_TOKEN}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        pull(c) {
          c.enqueue(new Uint8Array(16 * 1024).fill(0x20));
        },
      }),
      duplex: 'half',
    } as RequestInit).catch(() => undefined);
    expect(res === undefined || res.status === 413).toBe(true);
  });

  it('bodies in flight share a budget: past it, 503 with Retry-After', async () => {
    const e = await edge({ maxBodyBytes: MiB, maxInflightBodyBytes: MiB });
    // The first authenticated request declares 900 KiB and sends it slowly; it holds the budget.
    const slow = request(`${e.url}/webhooks/registry/generic`, { method: 'POST', headers: { authorization: `Bearer ${REGISTRY_TOKEN}`, 'content-type': 'application/json', 'content-length': String(900 * 1024) } });
    slow.on('error', () => undefined);
    slow.write('{');
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`${e.url}/webhooks/registry/generic`, { method: 'POST', headers: { authorization: `Bearer ${REGISTRY_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ repository: 'r.example.com/a', tag: '1'.padEnd(200 * 1024, '1') }) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    slow.destroy();
  });
});

describe('the HMAC computed while the body streams', () => {
  it('accepts the right signature and refuses a well-formed wrong one', async () => {
    const e = await edge();
    const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    const post = (signature: string): Promise<Response> =>
      fetch(`${e.url}/webhooks/github`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'ping', 'x-hub-signature-256': signature }, body });
    expect((await post(`sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`)).status).toBe(200);
    expect((await post(`sha256=${createHmac('sha256', 'another secret').update(body).digest('hex')}`)).status).toBe(401);
    expect((await post(`sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex').toUpperCase()}`)).status).toBe(200);
  });
});

describe('JSON is bounded before it is parsed', () => {
  it('a signed 24 MB body of nested arrays is 400 and costs no more than its bytes', async () => {
    const e = await edge();
    const half = 12 * MiB;
    const body = Buffer.alloc(2 * half);
    body.fill(0x5b, 0, half);
    body.fill(0x5d, half);
    const signature = `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`;
    const { result, growth } = await rssGrowth(async () => {
      const res = await fetch(`${e.url}/webhooks/github`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signature }, body });
      return { status: res.status, json: (await res.json()) as { reason?: string } };
    });
    expect(result.status).toBe(400);
    expect(result.json.reason).toMatch(/nests deeper than 32/);
    expect(growth).toBeLessThan(200 * MiB);
  });
});

describe('slow clients are cut', () => {
  function dribble(url: string, head: string, bodyBytes: number, everyMs: number): Promise<{ sent: number; total: number; reply: string }> {
    const { port } = new URL(url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), '127.0.0.1');
      const payload = head + 'x'.repeat(bodyBytes);
      let sent = 0;
      let reply = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        reply += d;
      });
      const timer = setInterval(() => {
        if (sent >= payload.length || socket.destroyed) return;
        socket.write(payload[sent] ?? '');
        sent++;
      }, everyMs);
      const done = (): void => {
        clearInterval(timer);
        resolve({ sent, total: payload.length, reply });
      };
      socket.on('close', done);
      socket.on('error', () => undefined);
    });
  }

  it('a body dribbled byte by byte is cut by the request timeout, long before it is complete', async () => {
    const e = await edge({ limits: { requestTimeoutMs: 1_000, headersTimeoutMs: 500 } });
    const head = `POST /webhooks/registry/generic HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${REGISTRY_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n`;
    // Headers go out at once (the first interval writes them byte by byte too, so send them whole).
    const { port } = new URL(e.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    let reply = '';
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
    });
    socket.write(head);
    let sent = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (socket.destroyed || sent >= 200) {
          clearInterval(timer);
          resolve();
          return;
        }
        socket.write('x');
        sent++;
      }, 50);
      socket.on('close', () => {
        clearInterval(timer);
        resolve();
      });
    });
    expect(sent).toBeLessThan(200);
    expect(reply === '' || reply.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('headers dribbled byte by byte are cut by the headers timeout', async () => {
    const e = await edge({ limits: { requestTimeoutMs: 1_000, headersTimeoutMs: 500 } });
    const head = `POST /webhooks/registry/generic HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(200)}\r\n\r\n`;
    const r = await dribble(e.url, head, 0, 20);
    expect(r.sent).toBeLessThan(r.total);
  });

  it('connections beyond the cap are closed on accept; the server keeps answering', async () => {
    const e = await edge({ limits: { maxConnections: 5 } });
    const { port } = new URL(e.url);
    const sockets: Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 10; i++) {
      const s = connect(Number(port), '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => closed++);
      sockets.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(closed).toBe(5);
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(`${e.url}/healthz`)).status).toBe(200);
  });
});

describe('names of Object.prototype members are plain strings', () => {
  it.each(['toString', 'constructor', 'valueOf', '__proto__', 'hasOwnProperty', '__defineGetter__'])('X-Gitlab-Event: %s is a hook of no interest, not a 500', async (name) => {
    const e = await edge();
    const res = await fetch(`${e.url}/webhooks/gitlab?${name}=1`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-gitlab-token': GITLAB_TOKEN, 'x-gitlab-event': name }, body: JSON.stringify({ object_kind: name }) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('ignored');
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('POST /webhooks/registry/%s is 404', async (kind) => {
    const e = await edge();
    const res = await fetch(`${e.url}/webhooks/registry/${kind}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${REGISTRY_TOKEN}` }, body: '{}' });
    expect(res.status).toBe(404);
  });

  it('a GitHub pull_request action named constructor is ignored', async () => {
    const e = await edge();
    const body = JSON.stringify({ action: 'constructor', number: 1, repository: { full_name: 'a/b', default_branch: 'main' }, pull_request: { number: 1, title: 't', merged: false, user: { login: 'x' }, head: { sha: 'a'.repeat(40), ref: 'f', repo: { full_name: 'a/b' } }, base: { ref: 'main', repo: { full_name: 'a/b' } }, labels: [] }, sender: { login: 'x' } });
    const res = await fetch(`${e.url}/webhooks/github`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'pull_request', 'x-hub-signature-256': `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}` }, body });
    expect(res.status).toBeLessThan(500);
    expect(e.queued).toEqual([]);
  });
});

describe('BATON_ENV_REPO as a git:// URL', () => {
  it('is the URL, not the git: prefix with a path', async () => {
    expect(parseRepoRef('git://git.example.com/env.git')).toEqual({ forge: 'git', path: 'git://git.example.com/env.git' });
    expect(parseRepoRef('git:https://git.example.com/env.git')).toEqual({ forge: 'git', path: 'https://git.example.com/env.git' });
    expect(parseRepoRef('https://git.example.com/env.git')).toBeUndefined();
    const settings = loadSettings({ BATON_ENV_REPO: 'git://git.example.com/env.git', BATON_DATA_DIR: '/tmp/baton-git-url-test' });
    const envRepo = await resolveEnvRepo(settings, {});
    expect(envRepo.repo).toBe('git://git.example.com/env.git');
  });
});
