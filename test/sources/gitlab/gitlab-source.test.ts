import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CiCompleted, CommentPosted, Parsed, PullRequestChanged, Pushed } from '../../../src/core/event.js';
import { createGitlabSource, gitlabDeliveryId, gitlabSourceFromEnv, parseGitlabSecrets } from '../../../src/sources/gitlab/index.js';
import type { Delivery } from '../../../src/sources/types.js';
import { MalformedPayload } from '../../../src/sources/types.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/gitlab');
type Json = Record<string, unknown>;
function fixture(name: string): Json {
  return JSON.parse(readFileSync(join(fixtures, name), 'utf8')) as Json;
}
function attrs(body: Json): Json {
  return body['object_attributes'] as Json;
}

const KEY = '3a427872-00df-429c-9bc9-a9475de2efe4';
function delivery(event: string, body: unknown, headers: Record<string, string> = {}): Delivery {
  return {
    headers: {
      'content-type': 'application/json',
      'x-gitlab-event': event,
      'idempotency-key': KEY,
      'x-gitlab-webhook-uuid': 'c0ffee00-0000-4000-8000-000000000001',
      'x-gitlab-token': 'tok-new',
      ...headers,
    },
    query: {},
    rawBody: Buffer.from(JSON.stringify(body)),
    receivedAt: '2026-01-01T00:00:00.000Z',
  };
}

const source = createGitlabSource({ botUsername: 'baton-bot' });
function parse(event: string, body: unknown, headers?: Record<string, string>): Parsed {
  return source.parse(body, delivery(event, body, headers));
}
function events<T>(p: Parsed): T[] {
  expect(p.kind).toBe('events');
  return p.kind === 'events' ? (p.events as T[]) : [];
}

describe('GitLab source: authenticity', () => {
  const body = fixture('push.json');
  it('accepts any of the configured tokens (rotation) and rejects a wrong or missing one', async () => {
    const secrets = parseGitlabSecrets(' tok-old , tok-new ,');
    expect(secrets).toEqual(['tok-old', 'tok-new']);
    expect(await source.verify(delivery('Push Hook', body), secrets)).toEqual({ ok: true });
    expect(await source.verify(delivery('Push Hook', body, { 'x-gitlab-token': 'tok-old' }), secrets)).toEqual({ ok: true });
    expect((await source.verify(delivery('Push Hook', body, { 'x-gitlab-token': 'tok-ne' }), secrets)).ok).toBe(false);
    expect((await source.verify(delivery('Push Hook', body, { 'x-gitlab-token': 'tok-new ' }), secrets)).ok).toBe(false);
    expect((await source.verify(delivery('Push Hook', body, { 'x-gitlab-token': '' }), secrets)).ok).toBe(false);
  });
  it('rejects everything while no secret is configured', async () => {
    expect((await source.verify(delivery('Push Hook', body), [])).ok).toBe(false);
    expect((await source.verify(delivery('Push Hook', body), parseGitlabSecrets(''))).ok).toBe(false);
  });
  it('reads settings from the environment', () => {
    const s = gitlabSourceFromEnv({ GITLAB_WEBHOOK_SECRET: 'a,b', BATON_GITLAB_BOT_USERNAME: 'baton-bot' });
    expect(s.secrets()).toEqual(['a', 'b']);
    expect(s.source.id).toBe('gitlab');
  });
});

describe('GitLab source: delivery ids', () => {
  const body = fixture('push.json');
  it('uses Idempotency-Key, which survives retries, not the per-attempt webhook UUID', () => {
    const first = delivery('Push Hook', body, { 'x-gitlab-webhook-uuid': 'aaaaaaaa-0000-4000-8000-000000000001' });
    const retry = delivery('Push Hook', body, { 'x-gitlab-webhook-uuid': 'bbbbbbbb-0000-4000-8000-000000000002' });
    expect(gitlabDeliveryId(first)).toBe(KEY);
    expect(gitlabDeliveryId(retry)).toBe(gitlabDeliveryId(first));
    expect(events<Pushed>(source.parse(body, retry))[0]?.deliveryId).toBe(KEY);
  });
  it('falls back to a body hash without a usable key', () => {
    const a = delivery('Push Hook', body, { 'idempotency-key': '' });
    const b = delivery('Push Hook', body, { 'idempotency-key': 'not a key\nInjected: header' });
    expect(gitlabDeliveryId(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(gitlabDeliveryId(b)).toBe(gitlabDeliveryId(a));
    const other = delivery('Push Hook', { ...body, after: 'f'.repeat(40) }, { 'idempotency-key': '' });
    expect(gitlabDeliveryId(other)).not.toBe(gitlabDeliveryId(a));
  });
});

describe('GitLab source: push hooks', () => {
  it('normalizes the documented Push Hook', () => {
    // The example lists 2 of `total_commits_count: 4` commits: paths would be incomplete, so none are given.
    const [partial] = events<Pushed>(parse('Push Hook', fixture('push.json')));
    expect(partial?.paths).toBeUndefined();
    const [e] = events<Pushed>(parse('Push Hook', { ...fixture('push.json'), total_commits_count: 2 }));
    expect(e).toEqual({
      type: 'push',
      source: 'gitlab',
      deliveryId: KEY,
      actor: 'jsmith',
      repo: { forge: 'gitlab', path: 'mike/diaspora' },
      branch: 'master',
      defaultBranch: 'master',
      before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
      after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      paths: ['CHANGELOG', 'app/controller/application.rb'],
    });
  });
  it("ignores Baton's own push, branch deletion and tag pushes", () => {
    const own = { ...fixture('push.json'), user_username: 'Baton-Bot' };
    expect(parse('Push Hook', own)).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/own push/) });
    expect(parse('Push Hook', { ...fixture('push.json'), after: '0'.repeat(40) }).kind).toBe('ignored');
    expect(parse('Tag Push Hook', fixture('tag_push.json'))).toMatchObject({ kind: 'ignored', reason: 'tag push' });
  });
  it('rejects a push body that does not match the schema as malformed', () => {
    expect(() => parse('Push Hook', { ...fixture('push.json'), after: 'nope' })).toThrow(MalformedPayload);
    expect(() => parse('Push Hook', [1, 2])).toThrow(MalformedPayload);
  });
});

describe('GitLab source: merge request hooks', () => {
  const open = fixture('merge_request.open.json');
  function mr(changes: (a: Json, body: Json) => void): Json {
    const body = structuredClone(open);
    changes(attrs(body), body);
    return body;
  }

  it('normalizes the documented open event', () => {
    const [e] = events<PullRequestChanged>(parse('Merge Request Hook', open));
    expect(e).toEqual({
      type: 'pull-request',
      source: 'gitlab',
      deliveryId: KEY,
      actor: 'root',
      action: 'opened',
      repo: { forge: 'gitlab', path: 'gitlabhq/gitlab-test' },
      number: 1,
      title: 'MS-Viewport',
      author: 'root',
      headSha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      headBranch: 'ms-viewport',
      baseBranch: 'master',
      fromFork: false,
      labels: ['API'],
    });
  });

  it.each([
    ['reopen', 'reopened'],
    ['close', 'closed'],
    ['merge', 'merged'],
  ])('maps action %s to %s', (action, expected) => {
    const body = mr((a, b) => {
      a['action'] = action;
      delete b['changes'];
    });
    expect(events<PullRequestChanged>(parse('Merge Request Hook', body)).map((e) => e.action)).toEqual([expected]);
  });

  it('update with oldrev is new commits; without it, a metadata edit', () => {
    // Adapted: GitLab sends `oldrev` on update only when the source branch got new commits.
    const pushed = mr((a, b) => {
      a['action'] = 'update';
      a['oldrev'] = '95790bf891e76fee5e1747ab589903a6a1f80f22';
      b['changes'] = { updated_at: { previous: 'x', current: 'y' } };
    });
    expect(events<PullRequestChanged>(parse('Merge Request Hook', pushed)).map((e) => e.action)).toEqual(['updated']);
    const retitled = mr((a, b) => {
      a['action'] = 'update';
      a['title'] = 'New title';
      b['changes'] = { title: { previous: 'MS-Viewport', current: 'New title' } };
    });
    const [edited] = events<PullRequestChanged>(parse('Merge Request Hook', retitled));
    expect(edited?.action).toBe('edited');
    expect(edited?.title).toBe('New title');
  });

  it('label changes become labeled/unlabeled events with distinct delivery ids', () => {
    // The documented example's `changes.labels` goes from [API] to [Platform].
    const body = mr((a) => {
      a['action'] = 'update';
    });
    const evs = events<PullRequestChanged>(parse('Merge Request Hook', body));
    expect(evs.map((e) => [e.action, e.label, e.deliveryId])).toEqual([
      ['labeled', 'Platform', `${KEY}#labeled:Platform`],
      ['unlabeled', 'API', `${KEY}#unlabeled:API`],
    ]);
  });

  it('marks merge requests from another project as forks', () => {
    const body = mr((a) => {
      a['source_project_id'] = 99;
    });
    expect(events<PullRequestChanged>(parse('Merge Request Hook', body))[0]?.fromFork).toBe(true);
  });

  it("ignores approvals and Baton's own merge request changes", () => {
    expect(parse('Merge Request Hook', mr((a) => (a['action'] = 'approved'))).kind).toBe('ignored');
    const own = mr((_a, b) => {
      b['user'] = { username: 'baton-bot' };
    });
    expect(parse('Merge Request Hook', own)).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/own/) });
  });
});

describe('GitLab source: note hooks', () => {
  const note = fixture('note.merge_request.json');
  it('normalizes the documented merge request note', () => {
    const [e] = events<CommentPosted>(parse('Note Hook', note));
    expect(e).toEqual({
      type: 'comment',
      source: 'gitlab',
      deliveryId: KEY,
      actor: 'root',
      action: 'created',
      repo: { forge: 'gitlab', path: 'gitlab-org/gitlab-test' },
      number: 1,
      commentId: '1244',
      author: 'root',
      body: 'This MR needs work.',
    });
  });
  it('an updated note is an edited comment; confidential notes are handled alike', () => {
    // Adapted: GitLab sends `action: update` when a note is edited.
    const body = structuredClone(note);
    attrs(body)['action'] = 'update';
    attrs(body)['note'] = '/baton deploy staging';
    const [e] = events<CommentPosted>(parse('Confidential Note Hook', body));
    expect(e?.action).toBe('edited');
    expect(e?.body).toBe('/baton deploy staging');
  });
  it("ignores notes on commits, issues and snippets, system notes, and Baton's own note", () => {
    expect(parse('Note Hook', fixture('note.commit.json')).kind).toBe('ignored');
    expect(parse('Note Hook', fixture('note.issue.json')).kind).toBe('ignored');
    const system = structuredClone(note);
    attrs(system)['system'] = true;
    expect(parse('Note Hook', system).kind).toBe('ignored');
    const own = { ...structuredClone(note), user: { username: 'baton-bot' } };
    attrs(own)['note'] = '<!-- baton:sticky -->\n| env | image |';
    expect(parse('Note Hook', own)).toMatchObject({ kind: 'ignored', reason: "Baton's own comment" });
  });
  it('refuses a note longer than GitLab allows', () => {
    const huge = structuredClone(note);
    attrs(huge)['note'] = 'x'.repeat(1_000_001);
    expect(() => parse('Note Hook', huge)).toThrow(MalformedPayload);
  });
});

describe('GitLab source: pipeline hooks', () => {
  /** Adapted: the documented example is an MR pipeline; a default-branch pipeline has `source: push` and no `merge_request`. */
  function branchPipeline(status: string, ref = 'master'): Json {
    const body = structuredClone(fixture('pipeline.json'));
    delete body['merge_request'];
    Object.assign(attrs(body), { source: 'push', status, ref });
    return body;
  }
  it('a successful pipeline on the default branch is ci-completed', () => {
    const [e] = events<CiCompleted>(parse('Pipeline Hook', branchPipeline('success')));
    expect(e).toEqual({
      type: 'ci-completed',
      source: 'gitlab',
      deliveryId: KEY,
      actor: 'root',
      repo: { forge: 'gitlab', path: 'gitlab-org/gitlab-test' },
      branch: 'master',
      defaultBranch: 'master',
      sha: 'bcbb5ec396a2c0f828686f14fac9b80b780504f2',
      conclusion: 'success',
      // GitLab's CI_COMMIT_SHORT_SHA length.
      shortShaLength: 8,
    });
  });
  it('passes a successful pipeline on another branch (it may release a preview), with that branch', () => {
    expect(parse('Pipeline Hook', branchPipeline('success', 'feature'))).toMatchObject({ kind: 'events', events: [{ type: 'ci-completed', branch: 'feature', defaultBranch: 'master' }] });
  });
  it('ignores failed, running, tag and merge request pipelines', () => {
    expect(parse('Pipeline Hook', branchPipeline('failed'))).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/failed/) });
    expect(parse('Pipeline Hook', branchPipeline('running')).kind).toBe('ignored');
    const tag = branchPipeline('success');
    attrs(tag)['tag'] = true;
    expect(parse('Pipeline Hook', tag).kind).toBe('ignored');
    expect(parse('Pipeline Hook', fixture('pipeline.json'))).toMatchObject({ kind: 'ignored', reason: 'merge request pipeline' });
  });
});

describe('GitLab source: hooks of no interest', () => {
  it('are ignored, never rejected', () => {
    expect(parse('Job Hook', fixture('job.json')).kind).toBe('ignored');
    expect(parse('Emoji Hook', fixture('emoji.award.json')).kind).toBe('ignored');
    expect(parse('Wiki Page Hook', { object_kind: 'wiki_page' }).kind).toBe('ignored');
  });
  it('uses object_kind when the event header is absent (replayed deliveries)', () => {
    const body = fixture('push.json');
    const d = delivery('Push Hook', body);
    delete d.headers['x-gitlab-event'];
    expect(source.parse(body, d).kind).toBe('events');
  });
});
