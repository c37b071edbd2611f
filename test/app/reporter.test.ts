/**
 * The reporter against an in-memory forge: which rows a report settles, statuses for commits without a
 * merge request, replaced deployments left alone once settled, and the API previews and ChatOps use.
 */

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createReporter, repoFromSourceUrl } from '../../src/app/reporter.js';
import { ConfigIndex } from '../../src/config/index.js';
import { parseConfig } from '../../src/config/load.js';
import type { CdStatus } from '../../src/core/event.js';
import type { Outcome } from '../../src/core/outcome.js';
import type { CommitMergeRequest, CommitStatus, Forge, LoggedCommit, ReviewPort } from '../../src/forges/types.js';

const CONFIG = `version: 1
environments:
  staging:
    branch: main
    write: commit
images:
  web:
    repository: registry.example.com/acme/web
    source: github:acme/web
    policy: sha
    targets:
      staging:
        - envs/staging/web.yaml
`;

const sha = (c: string): string => c.repeat(40);

function fakeForge(mrs: Record<string, CommitMergeRequest[]>, log: LoggedCommit[]) {
  const comments = new Map<string, string>();
  const statuses: (CommitStatus & { repo: string })[] = [];
  const reviews: ReviewPort = {
    ensureMergeRequest: async () => ({ number: 1, url: 'https://example.com/1', created: true }),
    mergeRequestState: async () => 'open',
    upsertComment: async (repo, number, _marker, body) => {
      const changed = comments.get(`${repo}#${number}`) !== body;
      comments.set(`${repo}#${number}`, body);
      return { id: '1', changed };
    },
    findComment: async (repo, number) => {
      const body = comments.get(`${repo}#${number}`);
      return body === undefined ? undefined : { id: '1', body };
    },
    react: async () => undefined,
    setStatus: async (repo, s) => {
      statuses.push({ ...s, repo });
    },
    roleOf: async () => 'none',
    mergeRequestsForCommit: async (_repo, s) => mrs[s] ?? Object.entries(mrs).find(([k]) => k.startsWith(s))?.[1] ?? [],
  };
  const forge: Forge = {
    kind: 'github',
    reviews,
    readFiles: async () => ({ head: sha('0'), files: {} }),
    listFiles: async () => ({ head: sha('0'), paths: [] }),
    write: async () => ({ status: 'stale' }),
    ensureBranch: async () => sha('0'),
    headOf: async () => sha('0'),
    defaultBranch: async () => 'main',
    recentCommits: async (_repo, _branch, limit) => log.slice(0, limit),
  };
  return { forge, comments, statuses };
}

const config = (): ConfigIndex => {
  const parsed = parseConfig(CONFIG);
  if (!parsed.ok) throw new Error('bad config');
  return new ConfigIndex(parsed.config, 'main');
};

function outcome(envCommit: string, to: string, sourceRef: string, sourceSha: string): Outcome {
  return {
    status: 'committed',
    commit: envCommit,
    destination: { branch: 'main', write: 'commit' },
    branch: 'main',
    bumps: [{ env: 'staging', image: 'web', repository: 'registry.example.com/acme/web', to, files: ['envs/staging/web.yaml'], causes: [{ source: 'github', deliveryId: 'd', sourceRef, sourceSha }] }],
    skipped: [],
    problems: [],
    attempts: 1,
  };
}

const cd = (revision: string, health: CdStatus['health']): CdStatus => ({ type: 'cd-status', source: 'cd/flux', deliveryId: revision + health, application: 'Kustomization/flux-system/apps-staging', environment: 'staging', revision, sync: 'synced', health });

describe('the reporter', () => {
  it('posts statuses for an app commit that belongs to no merge request', async () => {
    const { forge, statuses, comments } = fakeForge({}, [{ sha: sha('e'), message: 'x' }]);
    const r = createReporter({ envForge: forge, envRepo: 'acme/env', reviewsFor: () => forge.reviews, config: async () => config(), logger: pino({ level: 'silent' }), now: () => Date.parse('2026-12-01T10:00:00Z') });
    const [traced] = await r.resolveSource([
      { type: 'set-image', destination: { branch: 'main', write: 'commit' }, env: 'staging', image: 'web', repository: 'registry.example.com/acme/web', tag: 'abcdef1', digestMode: 'ignore', mode: 'upgrade', policy: { policy: 'sha' }, targets: [], cause: { source: 'registry/generic', deliveryId: 'd' } },
    ]);
    expect(traced?.cause.sourceRef).toBe('github:acme/web@abcdef1');
    await r.onOutcome(outcome(sha('e'), 'aaaaaaa', 'github:acme/web@aaaaaaa', sha('a')));
    await r.onEvent(cd(sha('e'), 'healthy'));
    expect(statuses.map((s) => [s.sha, s.context, s.state])).toEqual([
      [sha('a'), 'baton/staging', 'pending'],
      [sha('a'), 'baton/staging', 'success'],
    ]);
    expect(comments.size).toBe(0);
  });

  it('settles a replaced deployment once, then leaves it as it was', async () => {
    const log = [
      { sha: sha('f'), message: 'x' },
      { sha: sha('e'), message: 'y' },
    ];
    const mrs = { [sha('a')]: [{ number: 1, url: 'u1', title: 't', state: 'merged' as const, shas: [sha('a')] }], [sha('b')]: [{ number: 2, url: 'u2', title: 't', state: 'merged' as const, shas: [sha('b')] }] };
    const { forge, comments } = fakeForge(mrs, log);
    const r = createReporter({ envForge: forge, envRepo: 'acme/env', reviewsFor: () => forge.reviews, config: async () => config(), logger: pino({ level: 'silent' }), now: () => Date.parse('2026-12-01T10:00:00Z') });
    await r.onOutcome(outcome(sha('e'), 'aaaaaaa', 'github:acme/web@aaaaaaa (#1)', sha('a')));
    await r.onOutcome(outcome(sha('f'), 'bbbbbbb', 'github:acme/web@bbbbbbb (#2)', sha('b')));
    // Both ship with the newer commit: both are told.
    await r.onEvent(cd(sha('f'), 'healthy'));
    expect(comments.get('acme/web#1')).toMatch(/✅ deployed/);
    expect(comments.get('acme/web#2')).toMatch(/✅ deployed/);
    // Later trouble concerns the newer deployment only.
    await r.onEvent(cd(sha('f'), 'degraded'));
    expect(comments.get('acme/web#1')).toMatch(/✅ deployed/);
    expect(comments.get('acme/web#2')).toMatch(/❌ failed/);
  });

  it('adds preview rows and command results to the same comment, keeping the deployments', async () => {
    const mrs = { [sha('a')]: [{ number: 7, url: 'u7', title: 't', state: 'merged' as const, shas: [sha('a')] }] };
    const { forge, comments } = fakeForge(mrs, []);
    const r = createReporter({ envForge: forge, envRepo: 'acme/env', reviewsFor: () => forge.reviews, config: async () => config(), logger: pino({ level: 'silent' }), now: () => Date.parse('2026-12-01T10:00:00Z') });
    await r.onOutcome(outcome(sha('e'), 'aaaaaaa', 'github:acme/web@aaaaaaa (#7)', sha('a')));
    await r.recordPreview({ forge: 'github', path: 'acme/web' }, 7, { name: 'web-pr-7', state: 'ready', url: 'https://web-pr-7.example.com', at: '2026-12-01T10:00:00Z' });
    await r.recordCommandResult({ forge: 'github', path: 'acme/web' }, 7, { at: '2026-12-01T10:01:00Z', author: 'alice', command: '/baton status', ok: true, reply: 'all good' });
    const body = comments.get('acme/web#7') ?? '';
    expect(body).toContain('| staging | web |');
    expect(body).toContain('#### Previews');
    expect(body).toContain('/baton status');
  });

  it('names repositories from OCI source URLs on known hosts only', () => {
    expect(repoFromSourceUrl('https://github.com/acme/web.git', {})).toEqual({ forge: 'github', path: 'acme/web' });
    expect(repoFromSourceUrl('https://gitlab.example.com/group/sub/app', { gitlab: ['gitlab.example.com'] })).toEqual({ forge: 'gitlab', path: 'group/sub/app' });
    expect(repoFromSourceUrl('https://evil.example/acme/web', {})).toBeUndefined();
    expect(repoFromSourceUrl('javascript:alert(1)', {})).toBeUndefined();
  });

  it("tells the source MR when its build was not deployed because the environment is paused", async () => {
    const mr: CommitMergeRequest = { number: 42, url: 'https://github.com/acme/web/pull/42', title: 'Faster checkout', state: 'merged', shas: [sha('a')] };
    const { forge, comments, statuses } = fakeForge({ [sha('a')]: [mr] }, []);
    const r = createReporter({ envForge: forge, envRepo: 'acme/env', reviewsFor: () => forge.reviews, config: async () => config(), logger: pino({ level: 'silent' }), now: () => Date.parse('2026-12-01T10:00:00Z') });
    await r.recordPaused([
      {
        intent: { type: 'set-image', destination: { branch: 'main', write: 'commit' }, env: 'staging', image: 'web', repository: 'registry.example.com/acme/web', tag: 'aaaaaaa', digestMode: 'ignore', mode: 'upgrade', policy: { policy: 'sha' }, targets: [], cause: { source: 'github', deliveryId: 'd', sourceRef: 'github:acme/web@aaaaaaa', sourceSha: sha('a') } },
        reason: 'staging is paused (by alice)',
      },
    ]);
    const body = comments.get('acme/web#42') ?? '';
    expect(body).toMatch(/\| staging \| web \| .*aaaaaaa.* \| ⏳ pending · ⏸ not deployed: staging is paused/);
    expect(body).toContain('(by alice\\)');
    // Nothing was written, so no commit status claims a deployment.
    expect(statuses).toEqual([]);
  });
});
