/**
 * The GitHub source on GitHub's own example payloads (@octokit/webhooks-examples), adapted to the
 * test repos (acme/web as the app repo) the way a real installation would send them.
 */

import { githubSignature } from '../../helpers/github.js';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { Event } from '../../../src/core/event.js';
import { handleDelivery } from '../../../src/http/webhook.js';
import type { Queue } from '../../../src/queue/types.js';
import { githubSelfLogins, githubSource, githubWebhookRoute } from '../../../src/sources/github/index.js';
import type { Delivery } from '../../../src/sources/types.js';
import { MalformedPayload } from '../../../src/sources/types.js';

type Payload = Record<string, unknown> & { action?: string };
const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: Payload[] }[];

function example(name: string, pick: (p: Payload) => boolean = () => true): Payload {
  const found = examples.find((e) => e.name === name)?.examples.find(pick);
  if (!found) throw new Error(`no ${name} example`);
  return adapt(structuredClone(found));
}

/** Point an example at acme/web (default branch main), keeping everything else GitHub sent. */
function adapt(p: Payload): Payload {
  const json = JSON.stringify(p)
    .replaceAll('Codertocat/Hello-World', 'acme/web')
    .replaceAll('Codertocat/hello-world', 'acme/web')
    .replaceAll('octo-org/octo-repo', 'acme/web');
  const out = JSON.parse(json) as Payload;
  const repo = out['repository'] as Record<string, unknown> | undefined;
  if (repo) {
    repo['full_name'] = 'acme/web';
    repo['default_branch'] = 'main';
  }
  return out;
}

const SECRET = 'webhook-secret-for-tests';
const source = githubSource({ selfLogins: githubSelfLogins({ BATON_BOT_LOGIN: 'baton-bot', GITHUB_APP_SLUG: 'baton' }) });

function delivery(event: string, body: unknown, options: { secret?: string | null; id?: string } = {}): Delivery {
  const rawBody = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | undefined> = {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': options.id ?? '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  };
  if (options.secret !== null) headers['x-hub-signature-256'] = githubSignature(rawBody, options.secret ?? SECRET);
  return { headers, query: {}, rawBody, receivedAt: '2026-01-01T00:00:00.000Z' };
}

function events(event: string, body: unknown): Event[] {
  const d = delivery(event, body);
  expect(source.verify(d, [SECRET])).toEqual({ ok: true });
  const parsed = source.parse(JSON.parse(d.rawBody.toString('utf8')), d);
  if (parsed.kind !== 'events') throw new Error(`ignored: ${parsed.reason}`);
  return parsed.events;
}

function ignored(event: string, body: unknown): string {
  const parsed = source.parse(body, delivery(event, body));
  if (parsed.kind !== 'ignored') throw new Error(`expected ignored, got ${JSON.stringify(parsed.events)}`);
  return parsed.reason;
}

function fakeQueue(): Queue & { events: Event[] } {
  const seen = new Set<string>();
  const q = {
    events: [] as Event[],
    async enqueue(e: Event) {
      if (seen.has(e.deliveryId)) return 'duplicate' as const;
      seen.add(e.deliveryId);
      q.events.push(e);
      return 'queued' as const;
    },
    start: async () => undefined,
    drain: async () => undefined,
    stats: () => ({ pending: 0, batches: 0, retrying: 0, dead: 0, oldestPendingMs: 0 }),
    deadLetters: () => [],
    retry: async () => [],
  };
  return q;
}

describe('GitHub source: authenticity', () => {
  const body = example('pull_request', (p) => p.action === 'opened');

  it('accepts the signature over the raw bytes, with either secret during rotation', () => {
    expect(source.verify(delivery('pull_request', body), [SECRET])).toEqual({ ok: true });
    expect(source.verify(delivery('pull_request', body, { secret: 'old' }), [SECRET, 'old'])).toEqual({ ok: true });
  });

  it('rejects unsigned, wrongly signed and re-serialized bodies', async () => {
    expect((await source.verify(delivery('pull_request', body, { secret: null }), [SECRET])).ok).toBe(false);
    expect((await source.verify(delivery('pull_request', body, { secret: 'wrong' }), [SECRET])).ok).toBe(false);
    const d = delivery('pull_request', body);
    // Same JSON, different bytes: the signature covers bytes, not meaning.
    const respaced = { ...d, rawBody: Buffer.from(JSON.stringify(body, null, 2)) };
    expect((await source.verify(respaced, [SECRET])).ok).toBe(false);
    expect((await source.verify(d, [])).ok).toBe(false);
  });

  it('answers through the shared handler with SPEC §3 codes: 401, 415, 400, 200, 202, duplicate', async () => {
    const q = fakeQueue();
    const secrets = githubWebhookRoute({ WEBHOOK_SECRET: SECRET }).secrets();
    expect((await handleDelivery(source, secrets, delivery('pull_request', body, { secret: 'nope' }), q)).status).toBe(401);
    const notJson = delivery('pull_request', body);
    notJson.headers['content-type'] = 'application/x-www-form-urlencoded';
    expect((await handleDelivery(source, secrets, notJson, q)).status).toBe(415);
    expect((await handleDelivery(source, secrets, delivery('pull_request', { action: 'opened' }), q)).status).toBe(400);
    expect((await handleDelivery(source, secrets, delivery('star', { action: 'created' }), q)).status).toBe(200);
    const accepted = await handleDelivery(source, secrets, delivery('pull_request', body, { id: 'd-1' }), q);
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ deliveries: [{ id: 'd-1' }] });
    const again = await handleDelivery(source, secrets, delivery('pull_request', body, { id: 'd-1' }), q);
    expect(again).toMatchObject({ status: 202, result: 'duplicate' });
    expect(q.events).toHaveLength(1);
  });
});

describe('GitHub source: normalization of real payloads', () => {
  it('pull_request opened / synchronize / reopened / closed / merged / labeled / unlabeled / edited', () => {
    const opened = events('pull_request', example('pull_request', (p) => p.action === 'opened'))[0];
    expect(opened).toMatchObject({
      type: 'pull-request',
      source: 'github',
      action: 'opened',
      repo: { forge: 'github', path: 'acme/web' },
      number: 2,
      title: 'Update the README with new information.',
      author: 'Codertocat',
      headBranch: 'changes',
      baseBranch: 'master',
      fromFork: false,
      deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    });
    expect(opened?.type === 'pull-request' && opened.headSha).toMatch(/^[0-9a-f]{40}$/);
    expect(events('pull_request', example('pull_request', (p) => p.action === 'synchronize'))[0]).toMatchObject({ action: 'updated' });
    expect(events('pull_request', example('pull_request', (p) => p.action === 'reopened'))[0]).toMatchObject({ action: 'reopened' });
    const closed = example('pull_request', (p) => p.action === 'closed');
    (closed['pull_request'] as Record<string, unknown>)['merged'] = false;
    expect(events('pull_request', closed)[0]).toMatchObject({ action: 'closed' });
    (closed['pull_request'] as Record<string, unknown>)['merged'] = true;
    expect(events('pull_request', closed)[0]).toMatchObject({ action: 'merged' });
    const labeled = events('pull_request', example('pull_request', (p) => p.action === 'labeled'))[0];
    expect(labeled).toMatchObject({ action: 'labeled', label: expect.any(String) });
    expect(labeled?.type === 'pull-request' && labeled.labels).toContain(labeled?.type === 'pull-request' ? labeled.label : '');
    expect(events('pull_request', example('pull_request', (p) => p.action === 'unlabeled'))[0]).toMatchObject({ action: 'unlabeled', label: expect.any(String) });
    const edited = example('pull_request', (p) => p.action === 'opened');
    edited.action = 'edited';
    expect(events('pull_request', edited)[0]).toMatchObject({ action: 'edited' });
    expect(ignored('pull_request', example('pull_request', (p) => p.action === 'assigned'))).toBe('pull_request assigned');
  });

  it('marks a pull request from a fork (or a deleted fork) as fromFork', () => {
    const pr = example('pull_request', (p) => p.action === 'opened');
    const head = (pr['pull_request'] as { head: { repo: unknown } }).head;
    head.repo = { full_name: 'mallory/web' };
    expect(events('pull_request', pr)[0]).toMatchObject({ fromFork: true });
    head.repo = null;
    expect(events('pull_request', pr)[0]).toMatchObject({ fromFork: true });
  });

  it('issue_comment created and edited on a pull request, with the previous body; issues are ignored', () => {
    const onPr = (p: Payload): boolean => Boolean((p['issue'] as { pull_request?: unknown }).pull_request);
    const createdExample = examples.find((e) => e.name === 'issue_comment')?.examples.find((p) => p.action === 'created') as Payload;
    const created = adapt(structuredClone(createdExample));
    (created['issue'] as Record<string, unknown>)['pull_request'] = { url: 'https://api.github.com/repos/acme/web/pulls/1' };
    expect(events('issue_comment', created)[0]).toMatchObject({
      type: 'comment',
      action: 'created',
      repo: { forge: 'github', path: 'acme/web' },
      number: (created['issue'] as { number: number }).number,
      commentId: String((created['comment'] as { id: number }).id),
      author: 'Codertocat',
      body: (created['comment'] as { body: string }).body,
    });
    const edited = example('issue_comment', (p) => p.action === 'edited');
    if (!onPr(edited)) (edited['issue'] as Record<string, unknown>)['pull_request'] = { url: 'x' };
    expect(events('issue_comment', edited)[0]).toMatchObject({ action: 'edited', previousBody: "You are totally right! I'll get this fixed right away." });
    const onIssue = structuredClone(created);
    delete (onIssue['issue'] as Record<string, unknown>)['pull_request'];
    expect(ignored('issue_comment', onIssue)).toMatch(/not a pull request/);
    const deleted = example('issue_comment', (p) => p.action === 'deleted');
    (deleted['issue'] as Record<string, unknown>)['pull_request'] = { url: 'x' };
    expect(ignored('issue_comment', deleted)).toBe('issue_comment deleted');
  });

  it('workflow_run and check_suite completed → ci-completed with the conclusion', () => {
    const run = example('workflow_run', (p) => p.action === 'completed' && (p['workflow_run'] as { conclusion: unknown }).conclusion === 'success');
    const wr = run['workflow_run'] as Record<string, unknown>;
    wr['head_branch'] = 'main';
    expect(events('workflow_run', run)[0]).toMatchObject({
      type: 'ci-completed',
      repo: { forge: 'github', path: 'acme/web' },
      branch: 'main',
      defaultBranch: 'main',
      sha: wr['head_sha'],
      conclusion: 'success',
    });
    wr['conclusion'] = 'failure';
    expect(events('workflow_run', run)[0]).toMatchObject({ conclusion: 'failure' });
    wr['conclusion'] = 'cancelled';
    expect(events('workflow_run', run)[0]).toMatchObject({ conclusion: 'cancelled' });
    wr['conclusion'] = 'skipped';
    expect(events('workflow_run', run)[0]).toMatchObject({ conclusion: 'other' });
    expect(ignored('workflow_run', example('workflow_run', (p) => p.action === 'requested'))).toBe('workflow_run requested');

    const suite = example('check_suite', (p) => p.action === 'completed' && (p['check_suite'] as { head_branch: unknown }).head_branch === 'main');
    const cs = suite['check_suite'] as Record<string, unknown>;
    expect(events('check_suite', suite)[0]).toMatchObject({ type: 'ci-completed', branch: 'main', sha: cs['head_sha'], conclusion: 'success' });
    cs['conclusion'] = 'timed_out';
    expect(events('check_suite', suite)[0]).toMatchObject({ conclusion: 'failure' });
    cs['head_branch'] = null;
    expect(ignored('check_suite', suite)).toMatch(/without a branch/);
  });

  it('push to a branch lists the touched paths; tag pushes and deletions are ignored', () => {
    const push = example('push', (p) => p['ref'] === 'refs/heads/master');
    const [e] = events('push', push);
    expect(e).toMatchObject({ type: 'push', branch: 'master', defaultBranch: 'main', repo: { forge: 'github', path: 'acme/web' } });
    expect(e?.type === 'push' && Array.isArray(e.paths)).toBe(true);
    expect(ignored('push', example('push', (p) => p['ref'] === 'refs/tags/simple-tag' && p['deleted'] === false))).toBe('tag push');
    const deleted = example('push', (p) => p['ref'] === 'refs/heads/master');
    deleted['deleted'] = true;
    expect(ignored('push', deleted)).toBe('branch deleted');
  });

  it('package events go through the GHCR parser (container versions only)', () => {
    const pkg = example('package', (p) => JSON.stringify(p).includes('container_metadata'));
    const inner = pkg['package'] as { package_type: string; package_version: { container_metadata: { tag: { name: string; digest: string } }; package_url?: string } };
    inner.package_type = 'CONTAINER';
    inner.package_version.container_metadata.tag.name = '1.5.0';
    // The example's digest is 40 hex digits, not a real sha256; a real push carries 64.
    inner.package_version.container_metadata.tag.digest = `sha256:${'ab'.repeat(32)}`;
    inner.package_version.package_url = 'ghcr.io/acme/web:1.5.0';
    expect(events('package', pkg)[0]).toMatchObject({ type: 'image-pushed', registry: 'ghcr.io', repository: 'acme/web', tag: '1.5.0', digest: `sha256:${'ab'.repeat(32)}` });
    expect(ignored('package', example('package', (p) => !JSON.stringify(p).includes('container_metadata')))).toMatch(/not a container image/);
  });
});

describe('GitHub source: loop safety and hostile input', () => {
  it("ignores Baton's own pushes, comments, pull requests and CI runs (machine user and App bot)", () => {
    const push = example('push', (p) => p['ref'] === 'refs/heads/master');
    push['sender'] = { login: 'baton[bot]', type: 'Bot' };
    expect(ignored('push', push)).toMatch(/caused by Baton itself/);
    const comment = example('issue_comment', (p) => p.action === 'created');
    (comment['issue'] as Record<string, unknown>)['pull_request'] = { url: 'x' };
    comment['sender'] = { login: 'Baton-Bot' };
    expect(ignored('issue_comment', comment)).toMatch(/caused by Baton itself/);
    const run = example('workflow_run', (p) => p.action === 'completed');
    (run['workflow_run'] as Record<string, unknown>)['actor'] = { login: 'baton[bot]' };
    expect(ignored('workflow_run', run)).toMatch(/caused by Baton itself/);
    // The login the forge discovered for itself (GET /app → <slug>[bot]) counts too.
    const discovered = githubWebhookRoute({ WEBHOOK_SECRET: SECRET }, ['baton-app[bot]', undefined]).source;
    push['sender'] = { login: 'baton-app[bot]', type: 'Bot' };
    const fromApp = discovered.parse(push, delivery('push', push));
    expect(fromApp.kind === 'ignored' && fromApp.reason).toMatch(/caused by Baton itself/);
    // Someone else's login that merely contains Baton's is not Baton.
    comment['sender'] = { login: 'not-baton-bot' };
    expect(events('issue_comment', comment)).toHaveLength(1);
  });

  it('keeps hostile strings as data and refuses malformed bodies with MalformedPayload', () => {
    const pr = example('pull_request', (p) => p.action === 'opened');
    const inner = pr['pull_request'] as { title: string; head: { ref: string } };
    inner.title = '"; rm -rf / #<script>alert(1)</script>';
    inner.head.ref = '../../etc/passwd';
    expect(events('pull_request', pr)[0]).toMatchObject({ title: '"; rm -rf / #<script>alert(1)</script>', headBranch: '../../etc/passwd' });
    expect(() => source.parse({ action: 'opened', pull_request: 'nope' }, delivery('pull_request', {}))).toThrow(MalformedPayload);
    expect(() => source.parse(null, delivery('workflow_run', null))).toThrow(MalformedPayload);
    expect(() => source.parse([], delivery('push', []))).toThrow(MalformedPayload);
    expect(ignored('ping', { zen: 'Design for failure.' })).toBe('ping');
  });

  it('falls back to a body hash when the delivery id header is missing or hostile', () => {
    const body = example('pull_request', (p) => p.action === 'opened');
    const d = delivery('pull_request', body);
    d.headers['x-github-delivery'] = 'x\nInjected: header';
    const parsed = source.parse(body, d);
    expect(parsed.kind === 'events' && parsed.events[0]?.deliveryId).toMatch(/^github:sha256:[0-9a-f]{32}$/);
  });
});

describe('GitHub source under probot', () => {
  it('normalizes what probot receives, and mounts probot middleware that refuses bad signatures', async () => {
    const { Probot } = await import('probot');
    const express = (await import('express')).default;
    const { githubProbotApp, mountGitHubProbot } = await import('../../../src/sources/github/index.js');
    const { pino } = await import('pino');
    const log = pino({ level: 'silent' });
    const queued: Event[] = [];
    const deps = { selfLogins: ['baton[bot]'], enqueue: async (e: Event) => queued.push(e) };

    const probot = new Probot({ githubToken: 'unused', secret: SECRET, log });
    await probot.load(githubProbotApp(deps));
    const pr = example('pull_request', (p) => p.action === 'opened');
    await probot.receive({ id: 'probot-1', name: 'pull_request', payload: pr } as Parameters<typeof probot.receive>[0]);
    expect(queued).toMatchObject([{ type: 'pull-request', action: 'opened', deliveryId: 'probot-1' }]);

    const app = express();
    const mounted = new Probot({ githubToken: 'unused', secret: SECRET, log });
    await mountGitHubProbot(app, mounted, deps);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/webhooks/github`;
    const d = delivery('pull_request', pr, { id: 'probot-2' });
    const post = (headers: Record<string, string | undefined>) =>
      fetch(url, { method: 'POST', headers: Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined)), body: d.rawBody });
    expect((await post({ ...d.headers, 'x-hub-signature-256': 'sha256=00' })).status).toBeGreaterThanOrEqual(400);
    expect(queued).toHaveLength(1);
    expect((await post(d.headers)).status).toBe(200);
    expect(queued.map((e) => e.deliveryId)).toEqual(['probot-1', 'probot-2']);
    server.close();
  });
});
