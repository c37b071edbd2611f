import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { describe, expect, it } from 'vitest';
import { escapeMarkdown, sanitizeSubject, sanitizeTrailerValue, slugBranch } from '../../src/core/sanitize.js';

describe('sanitizeTrailerValue', () => {
  it.each([
    ['ci\nBaton-Image: evil:6.6.6', 'ci Baton-Image: evil:6.6.6'],
    ['bot\n\nReviewed-by: Boss', 'bot Reviewed-by: Boss'],
    ['a\r\u2028\u2029\u0085b', 'a b'],
    ['\u202eadmin\u202c', 'admin'],
    ['  alice  ', 'alice'],
    ['\0\u0007', ''],
  ])('%j → %j', (given, want) => {
    expect(sanitizeTrailerValue(given)).toBe(want);
  });

  it('bounds the length without splitting a surrogate pair', () => {
    const v = sanitizeTrailerValue('😀'.repeat(300), 11);
    expect(v.length).toBeLessThanOrEqual(11);
    expect(v.endsWith('…')).toBe(true);
    expect(Buffer.from(v, 'utf8').toString('utf8')).toBe(v);
    expect(v).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });
});

describe('sanitizeSubject', () => {
  it('never opens with a patch divider or a comment', () => {
    expect(sanitizeSubject('--- x\ny')).toBe('x y');
    expect(sanitizeSubject('# hi')).toBe('hi');
    expect(sanitizeSubject('a'.repeat(100))).toHaveLength(72);
  });
});

describe('escapeMarkdown', () => {
  /** Everything Markdown made of the cell other than plain text. */
  function nonText(md: string): string[] {
    const found: string[] = [];
    const walk = (n: { type: string; children?: unknown[] }): void => {
      if (!['root', 'paragraph', 'text'].includes(n.type)) found.push(n.type);
      for (const c of n.children ?? []) walk(c as { type: string; children?: unknown[] });
    };
    walk(fromMarkdown(md, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] }));
    return found;
  }

  it('stops mentions, references, HTML and links', () => {
    const out = escapeMarkdown('@alice see #12 and !3 <img src=x onerror=y> [x](http://e) www.evil.example a@b.example `c` | *b*');
    expect(out).not.toMatch(/@[a-z]/);
    expect(out).not.toMatch(/[<>]/);
    expect(out).not.toMatch(/(^|[^\\])[|`[\]]/);
    expect(nonText(out)).toEqual([]);
  });

  it('keeps any input to one inline text run in a table cell', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ' ', '\n', '|', '`', '*', '_', '[', ']', '(', ')', '<', '>', '!', '#', '@', '\\', '&', '~', '-', '=', 'http://', 'www.', ':', '.', 'b.c'), maxLength: 40 }), (s) => {
        const cell = escapeMarkdown(s);
        expect(cell).not.toMatch(/[\n\r]/);
        expect(nonText(`x ${cell} y`)).toEqual([]);
        // In a table the cell stays one cell of plain text.
        const table = fromMarkdown(`| a | b |\n|---|---|\n| ${cell} | z |\n`, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
        const row = (table.children[0] as { children: { children: { children: { type: string }[] }[] }[] }).children[1];
        expect(row?.children).toHaveLength(2);
        expect(row?.children[0]?.children.every((c) => c.type === 'text')).toBe(true);
      }),
      { numRuns: 300, seed: 3 },
    );
  });
});

describe('slugBranch', () => {
  it.each([
    ['Feature/Ünïcode Branch!', 'feature-unicode-branch'],
    ['../../etc/passwd', 'etc-passwd'],
    ['x.lock', 'x-lock'],
    ['@{-1}', '1'],
    ['@{}', 'x'],
    ['---', 'x'],
  ])('%j → %j', (given, want) => {
    expect(slugBranch(given)).toBe(want);
  });

  it('is always a valid ref component and DNS-1123 label', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (s) => {
        const slug = slugBranch(s);
        expect(slug).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
      }),
      { numRuns: 500, seed: 4 },
    );
    for (const s of ['a..b', 'refs/heads/x', 'HEAD@{0}', 'x~1^2:y']) {
      execFileSync('git', ['check-ref-format', `refs/heads/baton/${slugBranch(s)}`]);
    }
  });
});
