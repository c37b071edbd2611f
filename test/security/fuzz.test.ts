/**
 * Seeded fuzz run over every webhook endpoint: mutations of the real fixtures (hostile leaves,
 * deleted and prototype-named keys, deep nesting, flipped, cut and inserted bytes) and random bytes,
 * with authentic credentials so the inputs reach the parsers. No input may answer 5xx or throw, RSS
 * stays bounded, and every event that reaches the queue is a valid one.
 */

import { argocdSource } from '../../src/sources/cd/argocd.js';
import { fluxSource } from '../../src/sources/cd/flux.js';
import { argoApp, argoFromDocs, fluxFromDocs } from '../helpers/cd.js';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Event } from '../../src/core/event.js';
import { isValidDigest, isValidRepository, isValidTag } from '../../src/core/image-ref.js';
import { handleDelivery } from '../../src/http/webhook.js';
import { githubSource } from '../../src/sources/github/index.js';
import { createGitlabSource } from '../../src/sources/gitlab/index.js';
import { createRegistrySources, REGISTRY_KINDS } from '../../src/sources/registry/index.js';
import { isValidRegistryHost } from '../../src/sources/registry/common.js';
import type { Delivery, Source } from '../../src/sources/types.js';
import { seededRandom } from '../emulators/seeded-random.js';
import { GITHUB_SECRET, GITLAB_TOKEN, recordingQueue, REGISTRY_TOKEN, startEdge } from './edge-harness.js';

const RUNS = 10_000;
const HTTP_RUNS = 300;
const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, '../fixtures');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function bodiesOf(file: string): Json[] {
  const data = JSON.parse(readFileSync(file, 'utf8')) as Json;
  const items = Array.isArray(data) ? data : [data];
  return items.map((i) => (i !== null && typeof i === 'object' && !Array.isArray(i) && 'body' in i && 'headers' in i ? (i['body'] ?? null) : i));
}

function registryFixtures(kind: string): Json[] {
  const dir = join(FIXTURES, 'registry');
  const prefix = kind === 'gitlab' ? 'gitlab-registry' : kind;
  const found = readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.json')).flatMap((f) => bodiesOf(join(dir, f)));
  if (kind === 'generic') return [{ repository: 'registry.example.com/team/web', tag: '1.4.0', digest: `sha256:${'a'.repeat(64)}` }, { repository: 'nginx', tag: 'latest' }];
  return found;
}

const require = createRequire(import.meta.url);
const githubExamples = (require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: Json[] }[]).filter((e) =>
  ['push', 'pull_request', 'issue_comment', 'check_suite', 'workflow_run', 'package', 'registry_package', 'ping'].includes(e.name),
);

const gitlabFixtures: { event: string; body: Json }[] = readdirSync(join(FIXTURES, 'gitlab'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => {
    const body = JSON.parse(readFileSync(join(FIXTURES, 'gitlab', f), 'utf8')) as Json;
    const kind = f.split('.')[0] ?? '';
    const event = ({ push: 'Push Hook', tag_push: 'Tag Push Hook', merge_request: 'Merge Request Hook', note: 'Note Hook', pipeline: 'Pipeline Hook', job: 'Job Hook', emoji: 'Emoji Hook' } as Record<string, string>)[kind] ?? 'Push Hook';
    return { event, body };
  });

const PROTO_NAMES = ['toString', 'constructor', 'valueOf', '__proto__', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__', 'prototype'];
function nested(depth: number): Json {
  let v: Json = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** A tiny generator over one seeded PRNG. */
class Gen {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  hostile(): Json {
    const strings = [
      '',
      ' ',
      'ci\nBaton-Image: evil.example.com/evil:6.6.6\nSigned-off-by: M <m@x>',
      'bot\n\nReviewed-by: Boss',
      '../../etc/passwd',
      '\u202eevil',
      '\u0000',
      'x'.repeat(5000),
      `sha256:${'b'.repeat(64)}`,
      'sha256:zz',
      '1.4.0',
      'latest',
      'registry.example.com/team/web',
      'localhost:5000/a',
      'refs/heads/main',
      'refs/tags/v1',
      '0000000000000000000000000000000000000000',
      'a'.repeat(40),
      'Push Hook',
      'opened',
      'closed',
      'success',
      'MergeRequest',
      '2026-01-01T00:00:00Z',
      'not a date',
      ...PROTO_NAMES,
    ];
    switch (this.int(8)) {
      case 0:
        return this.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 4294967296]);
      case 1:
        return this.pick([true, false, null]);
      case 2:
        return this.pick([[], {}, nested(10 + this.int(60)), { __proto__: { polluted: true } } as Json, { constructor: { prototype: { x: 1 } } }]);
      case 3:
        return this.bytes(this.int(40)).toString('latin1');
      default:
        return this.pick(strings);
    }
  }
}

/** Every container node of a JSON value, with its parent, so a mutation can reach any depth. */
function containers(v: Json, out: (Json[] | { [k: string]: Json })[] = []): (Json[] | { [k: string]: Json })[] {
  if (v !== null && typeof v === 'object') {
    out.push(v);
    for (const c of Array.isArray(v) ? v : Object.values(v)) containers(c, out);
  }
  return out;
}

function mutate(g: Gen, base: Json): Buffer {
  const roll = g.rnd();
  if (roll < 0.08) return g.bytes(g.int(2000));
  const v = structuredClone(base);
  const nodes = containers(v);
  const count = 1 + g.int(3);
  for (let i = 0; i < count && nodes.length > 0; i++) {
    const node = g.pick(nodes);
    if (Array.isArray(node)) {
      if (node.length > 0 && g.rnd() < 0.3) node.splice(g.int(node.length), 1);
      else if (node.length > 0) node[g.int(node.length)] = g.hostile();
      else node.push(g.hostile());
    } else {
      const keys = Object.keys(node);
      const r = g.rnd();
      if (r < 0.2 && keys.length > 0) delete node[g.pick(keys)];
      else if (r < 0.35) Object.defineProperty(node, g.pick(PROTO_NAMES), { value: g.hostile(), enumerable: true, configurable: true, writable: true });
      else if (keys.length > 0) node[g.pick(keys)] = g.hostile();
    }
  }
  let bytes = Buffer.from(JSON.stringify(v));
  if (roll > 0.85) {
    // Byte-level damage: flips, a cut, or inserted garbage.
    const kind = g.int(3);
    if (kind === 0) for (let i = 0; i < 1 + g.int(8); i++) bytes[g.int(bytes.length)] = g.int(256);
    else if (kind === 1) bytes = bytes.subarray(0, g.int(bytes.length));
    else {
      const at = g.int(bytes.length);
      bytes = Buffer.concat([bytes.subarray(0, at), g.bytes(1 + g.int(30)), bytes.subarray(at)]);
    }
  }
  return bytes;
}

const Printable = z.string().min(1).max(2000);
const Repo = z.object({ forge: z.enum(['github', 'gitlab', 'git']), path: z.string().min(1).max(500) });
const EventBase = { source: z.string().regex(/^(registry\/[a-z]+|github|gitlab|cd\/argocd|cd\/flux)$/), deliveryId: z.string().min(1).max(400), actor: z.string().max(500).optional() };
const ValidEvent = z.discriminatedUnion('type', [
  z.object({
    ...EventBase,
    type: z.literal('image-pushed'),
    registry: z.string().refine(isValidRegistryHost),
    repository: z.string().refine(isValidRepository),
    tag: z.string().refine(isValidTag),
    digest: z.string().refine(isValidDigest).optional(),
    pushedAt: z.iso.datetime().optional(),
  }),
  z.object({ ...EventBase, type: z.literal('ci-completed'), repo: Repo, branch: Printable, defaultBranch: z.string(), sha: z.string().min(1), conclusion: z.enum(['success', 'failure', 'cancelled', 'other']) }),
  z.object({ ...EventBase, type: z.literal('push'), repo: Repo, branch: Printable, defaultBranch: z.string(), before: z.string(), after: z.string(), paths: z.array(z.string()).optional() }),
  z.object({
    ...EventBase,
    type: z.literal('pull-request'),
    action: z.enum(['opened', 'updated', 'reopened', 'closed', 'merged', 'labeled', 'unlabeled', 'edited']),
    repo: Repo,
    number: z.number().int().positive().max(2 ** 53),
    title: z.string(),
    author: z.string(),
    headSha: z.string(),
    headBranch: z.string(),
    baseBranch: z.string(),
    fromFork: z.boolean(),
    labels: z.array(z.string()),
    label: z.string().optional(),
  }),
  z.object({
    ...EventBase,
    type: z.literal('cd-status'),
    application: z.string().min(1).max(2000),
    revision: z.string().max(2000).optional(),
    sync: z.enum(['synced', 'out-of-sync', 'unknown']),
    health: z.enum(['healthy', 'progressing', 'degraded', 'suspended', 'missing', 'unknown']),
    message: z.string().max(5000).optional(),
  }).loose(),
  z.object({ ...EventBase, type: z.literal('comment'), action: z.enum(['created', 'edited']), repo: Repo, number: z.number().int().positive(), commentId: z.string().min(1), author: z.string(), body: z.string(), previousBody: z.string().optional() }),
]);

interface Endpoint {
  name: string;
  source: Source;
  secrets: string[];
  bases: Json[];
  headers(g: Gen, body: Buffer): Record<string, string>;
}

const sig = (body: Buffer): string => `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`;
const contentType = (g: Gen): string => (g.rnd() < 0.95 ? g.pick(['application/json', 'application/vnd.docker.distribution.events.v1+json', 'application/cloudevents+json; charset=utf-8']) : g.pick(['text/plain', '', 'application/x-www-form-urlencoded']));

const registry = createRegistrySources();
const endpoints: Endpoint[] = [
  ...REGISTRY_KINDS.map((kind): Endpoint => {
    const real = registry[kind];
    // gar verifies a Google-signed JWT (tested in its own suite); here its parser is what is fuzzed.
    const source: Source = kind === 'gar' ? { ...real, verify: () => ({ ok: true }) } : real;
    return {
      name: `registry/${kind}`,
      source,
      secrets: kind === 'ghcr' ? [GITHUB_SECRET] : [REGISTRY_TOKEN],
      bases: kind === 'ghcr' ? [...registryFixtures('ghcr'), ...(githubExamples.filter((e) => e.name.includes('package')).flatMap((e) => e.examples))] : registryFixtures(kind),
      headers: (g, body) => ({
        'content-type': contentType(g),
        ...(kind === 'ghcr' ? { 'x-hub-signature-256': sig(body), 'x-github-event': g.pick(['package', 'registry_package', ...PROTO_NAMES]) } : { authorization: `Bearer ${REGISTRY_TOKEN}` }),
        ...(kind === 'harbor' && g.rnd() < 0.5 && { 'ce-type': g.pick(['harbor.artifact.pushed', ...PROTO_NAMES]) }),
      }),
    };
  }),
  {
    name: 'github',
    source: githubSource({ selfLogins: ['baton-bot'] }),
    secrets: [GITHUB_SECRET],
    bases: githubExamples.flatMap((e) => e.examples.map((x) => ({ event: e.name, x }) as unknown as Json)),
    headers: (g, body) => ({ 'content-type': contentType(g), 'x-hub-signature-256': sig(body), 'x-github-delivery': g.pick(['d-1', 'x\ny', ...PROTO_NAMES, '']) }),
  },
  {
    name: 'gitlab',
    source: createGitlabSource({ botUsername: 'baton-bot' }),
    secrets: [GITLAB_TOKEN],
    bases: gitlabFixtures.map((f) => f as unknown as Json),
    headers: (g) => ({ 'content-type': contentType(g), 'x-gitlab-token': GITLAB_TOKEN, ...(g.rnd() < 0.9 && { 'x-gitlab-event': g.pick(['Push Hook', 'Merge Request Hook', 'Note Hook', 'Pipeline Hook', 'Tag Push Hook', 'System Hook', ...PROTO_NAMES]) }), ...(g.rnd() < 0.3 && { 'idempotency-key': g.pick(['k1', 'a b', ...PROTO_NAMES]) }) }),
  },
  // The CD feedback endpoints, with what Argo CD and Flux send as the docs configure them.
  ...(() => {
    const argo = argoFromDocs();
    const flux = fluxFromDocs();
    const sha = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
    const argoBases = (['Healthy', 'Degraded', 'Progressing'] as const).map((health) => JSON.parse(argo.send(argoApp({ name: 'web-staging', environment: 'staging', revision: sha, sync: 'Synced', health, phase: 'Succeeded', message: 'ok' })).body) as Json);
    const fluxBases = (['ReconciliationSucceeded', 'ReconciliationFailed'] as const).map((reason) => JSON.parse(flux.send({ reason, severity: reason.endsWith('Failed') ? 'error' : 'info', message: 'Applied revision', revision: sha }).body) as Json);
    return [
      { name: 'cd/argocd', source: argocdSource, secrets: [argo.token], bases: argoBases, headers: (g: Gen) => ({ 'content-type': contentType(g), authorization: `Bearer ${argo.token}` }) },
      { name: 'cd/flux', source: fluxSource, secrets: [flux.token], bases: fluxBases, headers: (g: Gen, body: Buffer) => ({ 'content-type': contentType(g), 'x-signature': `sha256=${createHmac('sha256', flux.token).update(body).digest('hex')}` }) },
    ] satisfies Endpoint[];
  })(),
];

/** A base body and the header it implies (GitHub's and GitLab's bases carry their event name). */
function unwrap(ep: Endpoint, base: Json): { body: Json; eventHeader?: Record<string, string> } {
  if (ep.name === 'github') {
    const b = base as unknown as { event: string; x: Json };
    return { body: b.x, eventHeader: { 'x-github-event': b.event } };
  }
  if (ep.name === 'gitlab') {
    const b = base as unknown as { event: string; body: Json };
    return { body: b.body };
  }
  return { body: base };
}

describe('fuzz: every webhook endpoint, seeded', () => {
  for (const [index, ep] of endpoints.entries()) {
    it(`${ep.name}: ${RUNS} inputs, no 5xx, no throw, only valid events queued`, async () => {
      expect(ep.bases.length).toBeGreaterThan(0);
      const g = new Gen(seededRandom(0xba70 + index));
      const queued: Event[] = [];
      const queue = recordingQueue(queued);
      const statuses = new Map<number, number>();
      const failures: string[] = [];
      const rssStart = process.memoryUsage().rss;
      let rssPeak = rssStart;
      for (let i = 0; i < RUNS; i++) {
        const { body, eventHeader } = unwrap(ep, g.pick(ep.bases));
        const raw = mutate(g, body);
        const headers: Record<string, string> = { ...(eventHeader && g.rnd() < 0.9 ? eventHeader : { 'x-github-event': g.pick(['push', 'pull_request', ...PROTO_NAMES]) }), ...ep.headers(g, raw) };
        const delivery: Delivery = { headers, query: {}, rawBody: raw, receivedAt: '2026-12-01T12:00:00.000Z' };
        const before = queued.length;
        try {
          const reply = await handleDelivery(ep.source, ep.secrets, delivery, queue);
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          if (![200, 202, 400, 401, 415].includes(reply.status)) failures.push(`#${i}: ${reply.status}`);
        } catch (e) {
          failures.push(`#${i}: threw ${(e as Error).message.slice(0, 200)} on ${raw.toString('utf8').slice(0, 200)}`);
        }
        for (const e of queued.slice(before)) {
          const check = ValidEvent.safeParse(e);
          if (!check.success) failures.push(`#${i}: queued an invalid event ${JSON.stringify(e).slice(0, 300)}: ${check.error.issues[0]?.message ?? ''} at ${check.error.issues[0]?.path.join('.') ?? ''}`);
        }
        if (i % 500 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      }
      expect(failures.slice(0, 5)).toEqual([]);
      // Inputs reached the parsers: some were queued or ignored, not all refused as malformed.
      expect((statuses.get(202) ?? 0) + (statuses.get(200) ?? 0)).toBeGreaterThan(RUNS / 50);
      expect(rssPeak - rssStart).toBeLessThan(300 * 1024 * 1024);
    });
  }

  it(`through the HTTP edge: ${HTTP_RUNS} inputs per endpoint with hostile headers and queries, no 5xx`, async () => {
    const edge = await startEdge();
    try {
      const g = new Gen(seededRandom(0xed6e));
      const failures: string[] = [];
      for (const ep of endpoints) {
        if (ep.name === 'registry/gar') continue;
        const path = `/webhooks/${ep.name}`;
        for (let i = 0; i < HTTP_RUNS; i++) {
          const { body, eventHeader } = unwrap(ep, g.pick(ep.bases));
          const raw = mutate(g, body);
          const headers = { ...eventHeader, ...ep.headers(g, raw), ...(g.rnd() < 0.2 && { [g.pick(['x-constructor', 'x-gitlab-event', 'x-github-event', 'ce-type'])]: g.pick(PROTO_NAMES) }) };
          if (g.rnd() < 0.1) delete (headers as Record<string, string>)[g.pick(['authorization', 'x-hub-signature-256', 'x-gitlab-token'])];
          const query = g.rnd() < 0.2 ? `?${g.pick(PROTO_NAMES)}=1&token=${g.pick(['x', REGISTRY_TOKEN])}` : '';
          // HTTP itself cannot carry CR, LF or NUL in a header value.
          const sendable = Object.fromEntries(Object.entries(headers).filter(([, v]) => !/[\r\n\0]/.test(v)));
          const res = await fetch(`${edge.url}${path}${query}`, { method: 'POST', headers: sendable, body: raw });
          await res.arrayBuffer();
          if (res.status >= 500) failures.push(`${ep.name} #${i}: ${res.status}`);
        }
      }
      expect(failures.slice(0, 5)).toEqual([]);
      for (const e of edge.queued) expect(ValidEvent.safeParse(e).success).toBe(true);
      expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
    } finally {
      await edge.close();
    }
  }, 120_000);
});
