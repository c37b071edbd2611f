/**
 * The Baton comment: rendered once as a snapshot, then checked as parsed Markdown (GFM) for what a
 * reader would notice — hostile strings stay plain text, the table keeps its shape, history is trimmed first.
 */

import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { describe, expect, it } from 'vitest';
import { cdVerdict, statusDescription } from '../../src/core/report/cd.js';
import { COMMENT_LIMITS, REPORT_MARKER, renderComment } from '../../src/core/report/comment.js';
import type { CommentModel, DeploymentRow, HistoryEntry } from '../../src/core/report/comment.js';
import { escapeMarkdown } from '../../src/core/report/markdown.js';
import { formatSourceRef, parseBatonCommit, parseSourceRef } from '../../src/core/report/trailers.js';
import { commitMessage } from '../../src/core/commit-message.js';
import type { CdStatus } from '../../src/core/event.js';

interface Node {
  type: string;
  value?: string;
  url?: string;
  children?: Node[];
}

const parse = (md: string): Node => fromMarkdown(md, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] }) as Node;

function walk(n: Node, out: Node[] = []): Node[] {
  out.push(n);
  for (const c of n.children ?? []) walk(c, out);
  return out;
}

/** Plain text of a node, as a reader sees it. */
const text = (n: Node): string => (n.value !== undefined && n.type === 'text' ? n.value : (n.children ?? []).map(text).join(''));

const STAGING: DeploymentRow = {
  env: 'staging',
  image: 'web',
  from: '1.4.2',
  to: '1.5.0',
  write: 'commit',
  envCommit: { sha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', url: 'https://github.com/acme/env/commit/a1b2c3d4e5f60718293a4b5c6d7e8f9012345678' },
  state: 'success',
  detail: 'Synced / Healthy',
  at: '2026-12-01T15:04:05.000Z',
};

const PRODUCTION: DeploymentRow = {
  env: 'production',
  image: 'web',
  from: '1.4.0',
  to: '1.5.0',
  write: 'merge-request',
  envCommit: { sha: 'ffeeddccbbaa00998877665544332211ffeeddcc' },
  rollingMr: { number: 7, url: 'https://github.com/acme/env/pull/7' },
  state: 'failure',
  detail: 'OutOfSync / Degraded (sync failed)',
  message: 'Deployment/web: container web: ImagePullBackOff',
  at: '2026-12-01T15:10:00.000Z',
};

const history = (n: number): HistoryEntry[] =>
  Array.from({ length: n }, (_, i) => ({ at: `2026-11-${String((i % 28) + 1).padStart(2, '0')}T10:00:00.000Z`, env: 'staging', image: 'web', to: `1.${i}.0`, state: 'success' as const, detail: `entry number ${i}` }));

describe('the Baton comment', () => {
  it('renders deployments, the failure message, the rolling MR and a collapsed history', () => {
    const model: CommentModel = { deployments: [PRODUCTION, STAGING], history: history(3), carries: [{ repo: 'github:acme/web', number: 42, url: 'https://github.com/acme/web/pull/42', title: 'Faster checkout' }] };
    const md = renderComment(model);
    expect(md).toMatchSnapshot();
    const tree = walk(parse(md));
    const table = tree.find((n) => n.type === 'table');
    expect(table?.children).toHaveLength(3);
    const cells = (table?.children?.[2]?.children ?? []).map(text);
    expect(cells[0]).toBe('staging');
    expect(cells[2]).toBe('1.4.2 → 1.5.0');
    expect(cells[4]).toContain('Synced / Healthy');
    expect(md.startsWith(REPORT_MARKER)).toBe(true);
    expect(tree.some((n) => n.type === 'blockquote' && text(n).includes('ImagePullBackOff'))).toBe(true);
    expect(tree.filter((n) => n.type === 'html').map((n) => n.value)).toContain('<details><summary>History (3)</summary>');
    // Newest history entry first.
    const items = tree.filter((n) => n.type === 'listItem').map(text);
    expect(items.findIndex((t) => t.includes('entry number 2'))).toBeLessThan(items.findIndex((t) => t.includes('entry number 0')));
  });

  const hostile = [
    'feat | injected | cells |',
    '`code` and ``more``',
    '<img src=x onerror=alert(1)>',
    'ping @org/team and @alice',
    'line one\nline two\r\n| --- |',
    '[click](https://evil.example) ![x](https://evil.example/x.png)',
    'https://evil.example/autolink www.evil.example',
    '<!-- baton:report -->',
    '**bold** _em_ ~~strike~~ # heading',
    'javascript:alert(1)',
    'fixes #1, GH-2 and acme/web#3',
    '\u202eevil\u202c',
  ];

  it.each(hostile)('keeps a hostile string as plain text: %j', (s) => {
    const row: DeploymentRow = { ...PRODUCTION, env: s, image: s, from: s, to: s, detail: s, message: s };
    const md = renderComment({ deployments: [row], history: [{ at: row.at, env: s, image: s, to: s, state: 'failure', detail: s }], carries: [{ repo: s, number: 1, title: s }], commandResults: [{ at: row.at, author: s, command: s, ok: false, reply: s }], previews: [{ name: s, state: s, at: row.at }] });
    const tree = walk(parse(md));
    // Only the links Baton builds itself (the rolling MR); no image, no stranger's HTML, no second marker.
    expect(tree.filter((n) => n.type === 'link').map((n) => n.url)).toEqual(['https://github.com/acme/env/pull/7']);
    expect(tree.filter((n) => ['image', 'inlineCode', 'emphasis', 'delete', 'heading', 'list'].includes(n.type)).map((n) => n.type)).toEqual(
      // Baton's own: the title, carried MRs, the Previews and Commands sections, the history.
      ['heading', 'list', 'heading', 'heading', 'list', 'list'],
    );
    const html = tree.filter((n) => n.type === 'html').map((n) => n.value ?? '');
    expect(html.every((h) => /^(<!-- baton:report -->|<\/?code>|<details><summary>History \(1\)<\/summary>|<\/details>)$/.test(h))).toBe(true);
    expect(md.split(REPORT_MARKER)).toHaveLength(2);
    // The table keeps five cells a row and one row.
    const table = tree.find((n) => n.type === 'table');
    expect(table?.children).toHaveLength(2);
    expect(table?.children?.[1]?.children).toHaveLength(5);
    // No mention survives: every @ is followed by a zero-width space.
    expect(md).not.toMatch(/@(?!\u200b|&#8203;)/);
    expect(md).not.toMatch(/[\u202a-\u202e]/);
    // No issue reference survives either (GitHub links `#12` found in the rendered text).
    expect(md.replace('[MR \\#7](https://github.com/acme/env/pull/7)', '')).not.toMatch(/(?<!&)#\d|GH-\d/i);
  });

  it('shows a hostile tag as its text, not as formatting', () => {
    const md = renderComment({ deployments: [{ ...STAGING, to: '1.0|<b>x</b>' }], history: [] });
    const cells = walk(parse(md)).find((n) => n.type === 'table')?.children?.[1]?.children ?? [];
    expect(cells.map(text)[2]).toBe('1.4.2 → 1.0|<b>x</b>');
  });

  it('trims the oldest history first to fit the forge limit, keeping the table whole', () => {
    const model: CommentModel = { deployments: [STAGING, PRODUCTION], history: history(3000) };
    const full = renderComment(model, COMMENT_LIMITS.gitlab);
    expect(full).toContain('entry number 0');
    const md = renderComment(model, COMMENT_LIMITS.github);
    expect(Array.from(md).length).toBeLessThanOrEqual(COMMENT_LIMITS.github);
    expect(md).toContain('entry number 2999');
    expect(md).not.toContain('entry number 0 ');
    expect(md).toMatch(/… \d+ older entries not shown/);
    expect(md).toContain('History (3000)');
    const table = walk(parse(md)).find((n) => n.type === 'table');
    expect(table?.children).toHaveLength(3);
    // Close to the limit: as much history as fits is kept.
    expect(Array.from(md).length).toBeGreaterThan(COMMENT_LIMITS.github - 500);
  });

  it('drops history entirely, then cuts, when even the table does not fit', () => {
    const rows = Array.from({ length: 800 }, (_, i) => ({ ...STAGING, image: `service-${i}-${'x'.repeat(40)}` }));
    const md = renderComment({ deployments: rows, history: history(10) }, COMMENT_LIMITS.github);
    expect(Array.from(md).length).toBeLessThanOrEqual(COMMENT_LIMITS.github);
    expect(md).toContain('the rest did not fit in one comment');
    expect(md.startsWith(REPORT_MARKER)).toBe(true);
  });

  it('says so when nothing is deployed yet, and renders previews and command results', () => {
    const md = renderComment({ deployments: [], history: [], previews: [{ name: 'web-pr-42', state: 'ready', url: 'https://web-pr-42.preview.example', at: STAGING.at }], commandResults: [{ at: STAGING.at, author: 'alice', command: '/baton status', ok: true, reply: 'all healthy' }] });
    expect(md).toContain('Nothing deployed from here yet.');
    const tree = walk(parse(md));
    expect(tree.filter((n) => n.type === 'link').map((n) => n.url)).toEqual(['https://web-pr-42.preview.example/']);
    expect(tree.filter((n) => n.type === 'heading').map(text)).toEqual(['Baton: deployments', 'Previews', 'Commands']);
  });
});

describe('escapeMarkdown', () => {
  it('caps a long string with an ellipsis and keeps it on one line', () => {
    const out = escapeMarkdown('a\n'.repeat(500), 10);
    expect(out).not.toContain('\n');
    expect(out.endsWith('…')).toBe(true);
    expect(Array.from(out).length).toBe(10);
  });
});

describe('Baton-Source trailers', () => {
  it('formats and parses the documented form', () => {
    const ref = formatSourceRef({ repo: { forge: 'github', path: 'acme/web' }, sha: '3f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e', numbers: [42] });
    expect(ref).toBe('github:acme/web@3f2c1d0 (#42)');
    expect(parseSourceRef(ref)).toEqual({ repo: { forge: 'github', path: 'acme/web' }, sha: '3f2c1d0', numbers: [42] });
    expect(parseSourceRef('gitlab:group/sub/app@abcdef1 (#3, #9)')?.numbers).toEqual([3, 9]);
    expect(parseSourceRef('github:acme/web@3f2c1d0')?.numbers).toEqual([]);
    expect(parseSourceRef('github:acme/web@nothex (#1)')).toBeUndefined();
  });

  it('reads a Baton commit message back into its bumps and sources', () => {
    const cause = (ref: string) => ({ source: 'github' as const, deliveryId: 'd1', sourceRef: ref });
    const single = commitMessage([{ env: 'staging', image: 'web', repository: 'ghcr.io/acme/web', from: '1.4.2', to: '1.5.0', files: ['a.yaml'], causes: [cause('github:acme/web@3f2c1d0 (#42)')] }]);
    expect(parseBatonCommit(single)).toEqual([{ env: 'staging', image: 'web', from: '1.4.2', to: '1.5.0', sources: [{ repo: { forge: 'github', path: 'acme/web' }, sha: '3f2c1d0', numbers: [42] }] }]);
    const two = commitMessage(
      [
        { env: 'staging', image: 'web', repository: 'ghcr.io/acme/web', from: '1.4.2', to: '1.5.0', files: ['a.yaml'], causes: [cause('github:acme/web@3f2c1d0 (#42)')] },
        { env: 'staging', image: 'api', repository: 'ghcr.io/acme/api', to: 'abcdef1', files: ['b.yaml'], causes: [cause('github:acme/api@abcdef1 (#7)')] },
      ],
      { skipCi: true },
    );
    const parsed = parseBatonCommit(two);
    expect(parsed.map((b) => `${b.image} ${b.from ?? '∅'}→${b.to} ${b.sources.map((s) => s.numbers.join()).join()}`)).toEqual(['web 1.4.2→1.5.0 42', 'api ∅→abcdef1 7']);
    expect(parseBatonCommit('fix typo\n\nSigned-off-by: someone')).toEqual([]);
  });
});

describe('CD verdicts', () => {
  const base: CdStatus = { type: 'cd-status', source: 'cd/argocd', deliveryId: 'x', application: 'web-staging', revision: 'a'.repeat(40), sync: 'synced', health: 'healthy' };
  it.each([
    [{}, 'success'],
    [{ operation: 'running' as const }, 'pending'],
    [{ health: 'progressing' as const }, 'pending'],
    [{ health: 'degraded' as const }, 'failure'],
    [{ sync: 'out-of-sync' as const, operation: 'failed' as const }, 'failure'],
  ])('%j → %s', (change, state) => {
    expect(cdVerdict({ ...base, ...change }).state).toBe(state);
  });

  it('fits a status description in 140 characters', () => {
    expect(Array.from(statusDescription('x'.repeat(500))).length).toBe(140);
    expect(statusDescription('a\n b')).toBe('a b');
  });
});
