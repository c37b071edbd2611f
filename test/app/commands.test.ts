/** The command handler's seams: the previews hook, and the feedback interface the reporter can take over. */

import { pino } from 'pino';
import { parse } from 'yaml';
import { describe, expect, it, vi } from 'vitest';
import { createCommands } from '../../src/app/commands.js';
import type { CommandFeedback, PreviewHook } from '../../src/app/commands.js';
import { ConfigIndex } from '../../src/config/index.js';
import { ConfigSchema } from '../../src/config/schema.js';
import type { CommentPosted } from '../../src/core/event.js';
import type { Forge, MergeRequestInfo, ReviewPort, Role } from '../../src/forges/types.js';

const index = new ConfigIndex(ConfigSchema.parse(parse('version: 1\nenvironments:\n  staging: {}\nimages: {}\n')), 'main');

function harness(role: Role, mr: Partial<MergeRequestInfo> | 'unreadable' = {}, previews?: PreviewHook) {
  const reactions: string[] = [];
  const reviews: ReviewPort = {
    mergeRequestState: async () => 'open',
    ensureMergeRequest: () => Promise.reject(new Error('not used')),
    upsertComment: () => Promise.reject(new Error('feedback goes through the injected interface')),
    react: (_repo, _id, reaction) => {
      reactions.push(reaction);
      return Promise.resolve();
    },
    setStatus: () => Promise.resolve(),
    roleOf: () => Promise.resolve(role),
    mergeRequest: (_repo, number) =>
      mr === 'unreadable' ? Promise.reject(new Error('502 from the forge')) : Promise.resolve({ number, author: 'dave', headSha: 'a'.repeat(40), fromFork: false, state: 'open' as const, ...mr }),
  };
  const forge = { kind: 'github', reviews } as unknown as Forge;
  const replies: string[][] = [];
  const results: string[] = [];
  const feedback: CommandFeedback = {
    reply: (_t, lines) => {
      replies.push(lines);
      return Promise.resolve();
    },
    result: (_t, entries) => {
      results.push(...entries.map((e) => `${e.command}: ${e.text}`));
      return Promise.resolve();
    },
  };
  const commands = createCommands({ forge, repo: 'acme/env', logger: pino({ level: 'silent' }), now: () => 0, feedback, ...(previews && { previews }) });
  return { commands, reactions, replies, results };
}

const comment = (body: string, author = 'alice'): CommentPosted => ({
  type: 'comment',
  source: 'github',
  deliveryId: crypto.randomUUID(),
  action: 'created',
  repo: { forge: 'github', path: 'acme/web' },
  number: 4,
  commentId: '77',
  author,
  body,
});

describe('/baton preview', () => {
  it('without the previews feature: one reply saying so, and 😕', async () => {
    const h = harness('write');
    await h.commands.handleComment(comment('/baton preview'), index, () => undefined);
    expect(h.replies).toEqual([['Previews are not configured for this repository.']]);
    expect(h.reactions).toEqual(['eyes', 'confused']);
  });

  it('with it: the hook gets the comment and whether to destroy, and its text becomes the result', async () => {
    const hook = vi.fn<PreviewHook>(() => Promise.resolve({ text: 'preview web-pr-4 removed' }));
    const h = harness('none', {}, hook);
    await h.commands.handleComment(comment('/baton preview destroy'), index, () => undefined);
    expect(hook).toHaveBeenCalledWith(expect.objectContaining({ destroy: true, actor: 'alice' }));
    expect(h.results).toEqual(['preview destroy: preview web-pr-4 removed']);
    expect(h.reactions).toEqual(['eyes', 'rocket']);
  });

  it("a fork's preview is refused before the hook runs unless an approver asks", async () => {
    const hook = vi.fn<PreviewHook>(() => Promise.resolve({ text: 'ok' }));
    const refused = harness('write', { fromFork: true, author: 'mallory' }, hook);
    await refused.commands.handleComment(comment('/baton preview'), index, () => undefined);
    expect(hook).not.toHaveBeenCalled();
    expect(refused.replies[0]?.[0]).toMatch(/needs the role `maintain` or `admin`; `alice` has `write`/);
    const allowed = harness('maintain', { fromFork: true, author: 'mallory' }, hook);
    await allowed.commands.handleComment(comment('/baton preview'), index, () => undefined);
    expect(hook).toHaveBeenCalledTimes(1);
  });
});

describe('when the merge request cannot be read', () => {
  it("promote and previews are refused: a fork's author could otherwise hide behind the failure", async () => {
    const hook = vi.fn<PreviewHook>(() => Promise.resolve({ text: 'ok' }));
    const h = harness('admin', 'unreadable', hook);
    await h.commands.handleComment(comment('/baton promote staging\n/baton preview'), index, () => undefined);
    expect(hook).not.toHaveBeenCalled();
    expect(h.replies[0]).toEqual([expect.stringContaining('could not read this merge request'), expect.stringContaining('could not read this merge request')]);
  });
});

describe('several commands in one comment', () => {
  it('one reply for all refusals and usage errors, one result update for the rest', async () => {
    const h = harness('read');
    await h.commands.handleComment(comment('/baton help\n/baton pause staging\n/baton frobnicate'), index, () => undefined);
    expect(h.replies).toHaveLength(1);
    // In the order of the lines.
    expect(h.replies[0]).toEqual([expect.stringContaining('`pause staging` needs the role'), expect.stringContaining('`frobnicate` is not a Baton command')]);
    expect(h.results).toHaveLength(1);
    expect(h.results[0]).toMatch(/^help: Baton commands/);
  });

  it('an edit whose earlier text Baton never saw runs nothing', async () => {
    const h = harness('admin');
    const out = await h.commands.handleComment({ ...comment('/baton pause staging'), action: 'edited' }, index, () => undefined);
    expect(out.notes).toEqual(['an edited comment whose earlier text is unknown; write a new comment to run commands']);
    expect(h.reactions).toEqual([]);
  });

  it('a command whose write was refused for good: its author hears why, with 😕 and how to retry', async () => {
    const h = harness('maintain');
    const event = comment('/baton promote production');
    await h.commands.onParked(event, 'git push to main failed: the remote refused the push (pre-receive hook declined)');
    expect(h.replies).toHaveLength(1);
    expect(h.replies[0]?.[0]).toMatch(/^Your command could not be carried out: git push to main failed: the remote refused the push \\\(pre-receive hook declined\\\)\. An operator can run it again with `baton retry github:/);
    expect(h.reactions).toEqual(['confused']);
    // Events that are not comments are not anyone's to tell.
    await h.commands.onParked({ type: 'image-pushed', source: 'registry/generic', deliveryId: 'x', registry: 'r.example.com', repository: 'team/web', tag: '1.0.0' }, 'refused');
    expect(h.replies).toHaveLength(1);
  });
});
