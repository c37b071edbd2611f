/**
 * The review-side contract (ReviewPort): merge requests, the sticky comment, reactions, statuses
 * and roles. Forge-neutral: each forge's test supplies a harness that can look at its emulator.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Forge, ReviewPort, Role } from '../../src/forges/types.js';

export interface ReviewsHarness {
  forge: Forge & { reviews: ReviewPort };
  repo: string;
  /** Default branch of `repo`. */
  branch: string;
  /** How many comments the forge returns per page at most (so the suite can spill onto page 2+). */
  pageSize: number;
  /** The forge's longest comment, in characters. */
  maxCommentLength: number;
  /** Comments by someone else on MR `number`, written straight into the forge; returns their ids. */
  postForeignComments(number: number, bodies: string[]): Promise<string[]>;
  /** Every comment on MR `number`, oldest first. */
  comments(number: number): Promise<{ id: string; body: string; author: string }[]>;
  /** Reactions on a comment, as ReviewPort names them (`eyes`, `rocket`, `confused`). */
  reactions(number: number, commentId: string): Promise<string[]>;
  /** Every status ever posted on `sha`, newest first. */
  statuses(sha: string): Promise<{ context: string; state: string; description: string }[]>;
  /** Make `user` exist with `role` on the repository (`none`: exists, no access). */
  grantRole(user: string, role: Role): Promise<void>;
  /** Open MRs whose source branch is `sourceBranch`. */
  openMergeRequests(sourceBranch: string): Promise<{ number: number; title: string; body: string }[]>;
  cleanup(): Promise<void>;
}

const MARKER = '<!-- baton:report -->';

export function reviewsContract(name: string, setup: () => Promise<ReviewsHarness>): void {
  describe(`Review contract: ${name}`, () => {
    let h: ReviewsHarness;
    let mr: number;
    beforeAll(async () => {
      h = await setup();
      // A rolling MR needs a branch with a change on it.
      const head = await h.forge.ensureBranch(h.repo, 'baton/staging', h.branch);
      const written = await h.forge.write(h.repo, {
        branch: 'baton/staging',
        expectedHead: head,
        message: 'review contract\n',
        changes: [{ type: 'write', path: 'review-contract.txt', contents: 'x\n' }],
      });
      expect(written.status).toBe('committed');
    });
    afterAll(async () => {
      await h?.cleanup();
    });

    it('opens one rolling merge request, then updates it in place', async () => {
      const spec = { sourceBranch: 'baton/staging', targetBranch: h.branch, title: 'Deploy to staging', body: 'web 1.0.0 → 1.1.0' };
      const first = await h.forge.reviews.ensureMergeRequest(h.repo, spec);
      expect(first.created).toBe(true);
      expect(first.url).toMatch(/^https?:\/\//);
      const second = await h.forge.reviews.ensureMergeRequest(h.repo, { ...spec, title: 'Deploy to staging (2 images)', body: 'web 1.0.0 → 1.2.0\napi 2.0.0 → 2.1.0' });
      expect(second).toMatchObject({ number: first.number, created: false });
      const open = await h.openMergeRequests('baton/staging');
      expect(open).toHaveLength(1);
      expect(open[0]).toMatchObject({ number: first.number, title: 'Deploy to staging (2 images)' });
      expect(open[0]?.body).toContain('api 2.0.0 → 2.1.0');
      mr = first.number;
    });

    it('keeps one sticky comment, found past the first page, edited only when its text changes', async () => {
      // Someone quoting the marker is not Baton: that comment must never be taken over.
      const [quoted] = await h.postForeignComments(mr, [`I saw this in the report: ${MARKER}`]);
      await h.postForeignComments(mr, Array.from({ length: h.pageSize + 3 }, (_, i) => `comment ${i}`));
      const created = await h.forge.reviews.upsertComment(h.repo, mr, MARKER, '| env | image |\n|---|---|\n| staging | web 1.1.0 |');
      expect(created.changed).toBe(true);
      const unchanged = await h.forge.reviews.upsertComment(h.repo, mr, MARKER, '| env | image |\n|---|---|\n| staging | web 1.1.0 |');
      expect(unchanged).toEqual({ id: created.id, changed: false });
      const edited = await h.forge.reviews.upsertComment(h.repo, mr, MARKER, '| env | image |\n|---|---|\n| staging | web 1.2.0 |');
      expect(edited).toEqual({ id: created.id, changed: true });
      const all = await h.comments(mr);
      const mine = all.filter((c) => c.body.includes(MARKER) && c.id !== quoted);
      expect(mine).toHaveLength(1);
      expect(mine[0]?.body).toContain('web 1.2.0');
      expect(all.find((c) => c.id === quoted)?.body).toBe(`I saw this in the report: ${MARKER}`);
      // Baton's comment really sits beyond the first page.
      expect(all.findIndex((c) => c.id === created.id)).toBeGreaterThanOrEqual(h.pageSize);
    });

    it('truncates a report longer than the forge allows, with a note', async () => {
      const huge = 'x'.repeat(h.maxCommentLength + 5000);
      const r = await h.forge.reviews.upsertComment(h.repo, mr, MARKER, huge);
      const stored = (await h.comments(mr)).find((c) => c.id === r.id);
      expect(Array.from(stored?.body ?? '').length).toBeLessThanOrEqual(h.maxCommentLength);
      expect(stored?.body).toMatch(/truncated/i);
      expect(stored?.body.startsWith(MARKER)).toBe(true);
    });

    it('reacts once per reaction kind', async () => {
      const [target] = await h.postForeignComments(mr, ['/baton status']);
      if (target === undefined) throw new Error('no comment id');
      await h.forge.reviews.react(h.repo, target, 'eyes', mr);
      await h.forge.reviews.react(h.repo, target, 'eyes', mr);
      await h.forge.reviews.react(h.repo, target, 'rocket', mr);
      expect((await h.reactions(mr, target)).sort()).toEqual(['eyes', 'rocket']);
    });

    it('sets a commit status, skipping one identical to the latest', async () => {
      const sha = (await h.forge.headOf(h.repo, h.branch)) ?? '';
      const status = { sha, context: 'baton/staging', state: 'pending' as const, description: 'deploying web 1.2.0' };
      await h.forge.reviews.setStatus(h.repo, status);
      await h.forge.reviews.setStatus(h.repo, status);
      expect(await h.statuses(sha)).toHaveLength(1);
      await h.forge.reviews.setStatus(h.repo, { ...status, state: 'success', description: 'web 1.2.0 is healthy' });
      const all = await h.statuses(sha);
      expect(all).toHaveLength(2);
      expect(all[0]).toMatchObject({ context: 'baton/staging', state: 'success' });
      await h.forge.reviews.setStatus(h.repo, { ...status, state: 'success', description: 'web 1.2.0 is healthy' });
      expect(await h.statuses(sha)).toHaveLength(2);
    });

    it('reports roles, and none for strangers and hostile names', async () => {
      await h.grantRole('alice', 'maintain');
      await h.grantRole('bob', 'write');
      await h.grantRole('carol', 'none');
      expect(await h.forge.reviews.roleOf(h.repo, 'alice')).toBe('maintain');
      expect(await h.forge.reviews.roleOf(h.repo, 'bob')).toBe('write');
      expect(await h.forge.reviews.roleOf(h.repo, 'carol')).toBe('none');
      expect(await h.forge.reviews.roleOf(h.repo, 'no-such-user-here')).toBe('none');
      expect(await h.forge.reviews.roleOf(h.repo, '../../admin')).toBe('none');
    });

    it('finds its own sticky comment, and nothing on a merge request without one', async () => {
      const found = await h.forge.reviews.findComment?.(h.repo, mr, MARKER);
      expect(found?.body.startsWith(MARKER)).toBe(true);
      expect((await h.comments(mr)).find((c) => c.id === found?.id)?.author).not.toBe('someone-else');
    });

    it('lists the merge requests a commit belongs to, by full or abbreviated sha', async () => {
      const head = await h.forge.headOf(h.repo, 'baton/staging');
      if (!head) throw new Error('no rolling branch');
      const full = await h.forge.reviews.mergeRequestsForCommit?.(h.repo, head);
      expect(full?.map((m) => [m.number, m.state])).toEqual([[mr, 'open']]);
      expect(full?.[0]?.shas).toContain(head);
      expect((await h.forge.reviews.mergeRequestsForCommit?.(h.repo, head.slice(0, 7)))?.map((m) => m.number)).toEqual([mr]);
    });

    it('lists recent commits of a branch newest first, with their messages, up to the limit', async () => {
      const commits = await h.forge.recentCommits?.(h.repo, 'baton/staging', 2);
      expect(commits?.map((c) => c.message.split('\n')[0])).toEqual(['review contract', expect.any(String)]);
      expect(commits?.[0]?.sha).toBe(await h.forge.headOf(h.repo, 'baton/staging'));
      expect(await h.forge.recentCommits?.(h.repo, 'no-such-branch', 5)).toEqual([]);
    });
  });
}
