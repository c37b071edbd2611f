import { describe, expect, it } from 'vitest';
import { MAX_COMMENT_CHARS, parseComment } from '../../../src/core/commands/parse.js';
import type { CommentParse, ParseOptions } from '../../../src/core/commands/parse.js';

const known = { envs: ['staging', 'production'], images: ['web', 'api'] };

/** The commands a comment runs, written back compactly; replies as `reply: …`. */
function summary(p: CommentParse): string[] | string {
  if (p.kind === 'ignore') return `ignore: ${p.reason}`;
  return p.lines.map((l) => (l.kind === 'reply' ? `reply: ${l.text}` : JSON.stringify(l.command)));
}
const run = (body: string, options: ParseOptions = {}) => summary(parseComment(body, { known, ...options }));

describe('parseComment: which lines are commands', () => {
  it.each([
    ['one command', '/baton promote production', ['{"name":"promote","env":"production","images":[]}']],
    ['case-insensitive prefix and verb', '/BATON Promote Production web', ['{"name":"promote","env":"production","images":["web"]}']],
    ['several commands, one per line', 'please:\n/baton pause staging\n/baton status\n\nthanks', ['{"name":"pause","env":"staging"}', '{"name":"status"}']],
    ['a command in a list item', '- /baton help', ['{"name":"help"}']],
    ['leading spaces on the line', '   /baton help', ['{"name":"help"}']],
    ['rollback with image and version', '/baton rollback staging web to 1.4.2', ['{"name":"rollback","env":"staging","image":"web","to":"1.4.2"}']],
    ['rollback of every image', '/baton rollback staging', ['{"name":"rollback","env":"staging"}']],
    ['pause one image', '/baton pause staging web', ['{"name":"pause","env":"staging","image":"web"}']],
    ['preview destroy', '/baton preview destroy', ['{"name":"preview","destroy":true}']],
    ['deploy several images, duplicates folded', '/baton deploy staging web api web', ['{"name":"deploy","env":"staging","images":["web","api"]}']],
  ])('%s', (_name, body, expected) => {
    expect(run(body)).toEqual(expected);
  });

  it.each([
    ['fenced code', '```\n/baton promote production\n```'],
    ['indented code', '    /baton promote production'],
    ['inline code at line start', '`/baton promote production`'],
    ['inline code mid-line', 'run `/baton promote production` to ship'],
    ['block quote', '> /baton promote production'],
    ['nested quote in a list', '- > /baton promote production'],
    ['HTML comment block', '<!--\n/baton promote production\n-->'],
    ['HTML comment inline', '<!-- /baton promote production -->'],
    ['mid-sentence mention', 'you can say /baton promote production later'],
    ['a longer word', '/batons promote production'],
    ['GitLab quick actions only', '/approve\n/assign @alice\n/label ~deploy'],
    ['heading', '# /baton promote production'],
    ["Baton's own comment", '<!-- baton:sticky -->\n/baton promote production'],
    ['zero-width joiner inside the prefix', '/ba\u200dton promote production'],
    ['fullwidth solidus', '\uff0fbaton promote production'],
  ])('ignores %s', (_name, body) => {
    const r = run(body);
    expect(typeof r === 'string' && r.startsWith('ignore:')).toBe(true);
  });

  it('GitLab quick actions beside a command are left alone: only the /baton line is taken', () => {
    expect(run('/approve\n/baton promote production\n/assign @alice')).toEqual(['{"name":"promote","env":"production","images":[]}']);
  });

  it('a command after a code block still runs, the one inside does not', () => {
    expect(run('```sh\n/baton rollback production\n```\n/baton status')).toEqual(['{"name":"status"}']);
  });
});

describe('parseComment: usage replies', () => {
  it.each([
    ['unknown verb with suggestion', '/baton promot production', /`promot` is not a Baton command\. Did you mean `promote`\?/],
    ['unknown environment with suggestion', '/baton promote prodution', /There is no environment `prodution`\. Did you mean `production`\?/],
    ['unknown image with suggestion', '/baton deploy staging wbe', /There is no image `wbe`\. Did you mean `web`\?/],
    ['far-off word: no suggestion', '/baton frobnicate', /^reply: `frobnicate` is not a Baton command\. Try/],
    ['missing environment', '/baton promote', /`promote` needs an environment\. Usage: `\/baton promote <env> \[image…\]`/],
    ['bare prefix', '/baton', /Which command\?/],
    ['rollback with two images', '/baton rollback staging web api', /at most one image/],
    ['rollback to without version', '/baton rollback staging web to', /`to` needs exactly one version/],
    ['bad version', '/baton rollback staging web to ../../etc', /is not a valid image tag/],
    ['help with arguments', '/baton help me', /takes no arguments/],
  ])('%s', (_name, body, pattern) => {
    const r = run(body);
    expect(Array.isArray(r)).toBe(true);
    expect((r as string[])[0]).toMatch(/^reply: /);
    expect((r as string[])[0]).toMatch(pattern);
  });

  it('hostile Unicode in an argument is quoted as inert code, without bidi or zero-width characters', () => {
    const r = run('/baton promote prod\u202euction\u200b[x](javascript:alert)@everyone');
    expect(r).toHaveLength(1);
    const text = (r as string[])[0] ?? '';
    expect(text).not.toMatch(/[\u202e\u200b]/);
    // The stranger's text appears only inside one code span, where Markdown and mentions are inert.
    const [, quoted = '', after = ''] = /^reply: `([^`]*)` is not an environment name(.*)$/.exec(text) ?? [];
    expect(quoted).toContain('@everyone');
    expect(after).not.toContain('@everyone');
  });

  it('a very long argument is shortened in the reply', () => {
    const r = run(`/baton promote ${'x'.repeat(5000)}`) as string[];
    expect(r[0]?.length).toBeLessThan(300);
  });

  it('more than ten commands: none run, one reply', () => {
    const r = run(Array.from({ length: 11 }, () => '/baton status').join('\n'));
    expect(r).toEqual([expect.stringMatching(/^reply: This comment has 11 `\/baton` commands; at most 10/)]);
  });
});

describe('parseComment: edits and size', () => {
  it('an edit runs only the commands that are new in it', () => {
    expect(run('/baton status\n/baton pause staging', { previousBody: '/baton status' })).toEqual(['{"name":"pause","env":"staging"}']);
    expect(run('/baton status\nfixed a typo', { previousBody: '/baton status\nfixd a typo' })).toBe('ignore: the edit added no new /baton command');
  });

  it('an edit that repeats a command already there twice runs it once more', () => {
    expect(run('/baton status\n/baton status', { previousBody: '/baton status' })).toEqual(['{"name":"status"}']);
  });

  it('a command moved out of a code block by an edit runs', () => {
    expect(run('/baton status', { previousBody: '`/baton status`' })).toEqual(['{"name":"status"}']);
  });

  it('a 64 KB comment with a command at the end is parsed; a longer one is not', () => {
    const filler = 'lorem ipsum dolor sit amet '.repeat(4000).slice(0, MAX_COMMENT_CHARS - 40);
    expect(run(`${filler}\n\n/baton status`)).toEqual(['{"name":"status"}']);
    expect(run(`${'a'.repeat(MAX_COMMENT_CHARS)}\n\n/baton status`)).toMatch(/^ignore: the comment is longer than/);
  });

  it('pathological Markdown (deep nesting, many backticks) stays a plain parse', () => {
    const body = `${'>'.repeat(5000)} /baton status\nx ${'`'.repeat(20_000)}\n${'['.repeat(10_000)}\n\n/baton help`;
    expect(run(body)).toEqual(['{"name":"help"}']);
  });

  it('without known names, any well-formed name passes (the handler checks it against the config)', () => {
    expect(summary(parseComment('/baton promote qa'))).toEqual(['{"name":"promote","env":"qa","images":[]}']);
  });
});
