/**
 * `/baton` comment commands: Markdown in, command | reply | ignore out. Pure.
 * The comment is parsed as Markdown (mdast), so lines inside code, quotes and HTML comments never count.
 */

import { closest, distance } from 'fastest-levenshtein';
import { fromMarkdown } from 'mdast-util-from-markdown';
import type { Nodes, Paragraph, PhrasingContent } from 'mdast';
import { codeSpan } from './escape.js';

/** GitHub's comment limit (65,536 characters); a longer body is not parsed at all. */
export const MAX_COMMENT_CHARS = 65_536;
/** More commands than this in one comment is a mistake or an attack; none of them run. */
export const MAX_COMMANDS_PER_COMMENT = 10;

export const COMMAND_NAMES = ['help', 'status', 'diff', 'deploy', 'promote', 'rollback', 'pause', 'resume', 'preview'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export type Command =
  | { name: 'help' }
  | { name: 'status' }
  | { name: 'diff'; env: string; images: string[] }
  | { name: 'deploy'; env: string; images: string[] }
  | { name: 'promote'; env: string; images: string[] }
  | { name: 'rollback'; env: string; image?: string; to?: string }
  | { name: 'pause'; env: string; image?: string }
  | { name: 'resume'; env: string; image?: string }
  | { name: 'preview'; destroy: boolean };

/** One `/baton` line: a command to run, or a reply to the commenter (usage error, "did you mean"). */
export type LineResult = { kind: 'command'; command: Command; line: string } | { kind: 'reply'; text: string; line: string };

export type CommentParse = { kind: 'lines'; lines: LineResult[] } | { kind: 'ignore'; reason: string };

/** What the configuration knows, so arguments can be checked and misspellings suggested. */
export interface KnownNames {
  envs: readonly string[];
  images: readonly string[];
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const VERSION = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const PREFIX = /^\/baton(?=\s|$)/i;

export const USAGE: Record<CommandName, string> = {
  help: '/baton help',
  status: '/baton status',
  diff: '/baton diff <env> [image…]',
  deploy: '/baton deploy <env> [image…]',
  promote: '/baton promote <env> [image…]',
  rollback: '/baton rollback <env> [image] [to <version>]',
  pause: '/baton pause <env> [image]',
  resume: '/baton resume <env> [image]',
  preview: '/baton preview [destroy]',
};

const quote = (word: string): string => codeSpan(word);

function suggestion(word: string, candidates: readonly string[]): string {
  if (candidates.length === 0 || word.length > 64) return '';
  const best = closest(word.toLowerCase(), [...candidates]);
  return distance(word.toLowerCase(), best) <= Math.max(2, Math.floor(best.length / 3)) ? ` Did you mean \`${best}\`?` : '';
}

/** The visible text of a paragraph, line by line; inline code and inline HTML become a placeholder that never matches. */
function paragraphText(p: Paragraph): string {
  const walk = (nodes: PhrasingContent[]): string =>
    nodes
      .map((n) => {
        switch (n.type) {
          case 'text':
            return n.value;
          case 'break':
            return '\n';
          case 'inlineCode':
          case 'html':
            return '\u0000';
          default:
            return 'children' in n ? walk(n.children) : '';
        }
      })
      .join('');
  return walk(p.children);
}

/** Paragraphs at the top level and inside list items; never inside block quotes, code or HTML blocks. */
function paragraphs(node: Nodes, out: Paragraph[]): Paragraph[] {
  if (node.type === 'paragraph') out.push(node);
  else if (node.type === 'root' || node.type === 'list' || node.type === 'listItem') for (const c of node.children) paragraphs(c, out);
  return out;
}

function parseLine(rest: string, known: KnownNames | undefined): Command | { error: string } {
  const words = rest.trim().split(/[ \t]+/).filter((w) => w !== '');
  const [first, ...args] = words;
  if (first === undefined) return { error: `Which command? Try \`/baton help\`.` };
  const name = first.toLowerCase();
  if (!(COMMAND_NAMES as readonly string[]).includes(name)) {
    return { error: `${quote(first)} is not a Baton command.${suggestion(name, COMMAND_NAMES)} Try \`/baton help\`.` };
  }
  const cmd = name as CommandName;
  const usage = `Usage: \`${USAGE[cmd]}\``;
  const env = (word: string | undefined): string | { error: string } => {
    if (word === undefined) return { error: `\`${cmd}\` needs an environment. ${usage}` };
    const w = word.toLowerCase();
    if (!NAME.test(w)) return { error: `${quote(word)} is not an environment name. ${usage}` };
    if (known && !known.envs.includes(w)) return { error: `There is no environment ${quote(word)}.${suggestion(w, known.envs)} ${usage}` };
    return w;
  };
  const image = (word: string): string | { error: string } => {
    const w = word.toLowerCase();
    if (!NAME.test(w)) return { error: `${quote(word)} is not an image name. ${usage}` };
    if (known && !known.images.includes(w)) return { error: `There is no image ${quote(word)}.${suggestion(w, known.images)} ${usage}` };
    return w;
  };
  const images = (words: string[]): string[] | { error: string } => {
    const out: string[] = [];
    for (const w of words) {
      const i = image(w);
      if (typeof i !== 'string') return i;
      if (!out.includes(i)) out.push(i);
    }
    return out;
  };
  switch (cmd) {
    case 'help':
    case 'status':
      return args.length === 0 ? { name: cmd } : { error: `\`${cmd}\` takes no arguments. ${usage}` };
    case 'preview':
      if (args.length === 0) return { name: 'preview', destroy: false };
      if (args.length === 1 && args[0]?.toLowerCase() === 'destroy') return { name: 'preview', destroy: true };
      return { error: `${usage}` };
    case 'diff':
    case 'deploy':
    case 'promote': {
      const e = env(args[0]);
      if (typeof e !== 'string') return e;
      const list = images(args.slice(1));
      return Array.isArray(list) ? { name: cmd, env: e, images: list } : list;
    }
    case 'pause':
    case 'resume': {
      const e = env(args[0]);
      if (typeof e !== 'string') return e;
      if (args.length > 2) return { error: `\`${cmd}\` takes one environment and at most one image. ${usage}` };
      if (args[1] === undefined) return { name: cmd, env: e };
      const i = image(args[1]);
      return typeof i === 'string' ? { name: cmd, env: e, image: i } : i;
    }
    case 'rollback': {
      const e = env(args[0]);
      if (typeof e !== 'string') return e;
      let rest = args.slice(1);
      let to: string | undefined;
      const toAt = rest.findIndex((w) => w.toLowerCase() === 'to');
      if (toAt >= 0) {
        const v = rest[toAt + 1];
        if (v === undefined || rest.length !== toAt + 2) return { error: `\`to\` needs exactly one version after it. ${usage}` };
        if (!VERSION.test(v)) return { error: `${quote(v)} is not a valid image tag. ${usage}` };
        to = v;
        rest = rest.slice(0, toAt);
      }
      if (rest.length > 1) return { error: `\`rollback\` takes at most one image. ${usage}` };
      if (rest[0] === undefined) return { name: 'rollback', env: e, ...(to !== undefined && { to }) };
      const i = image(rest[0]);
      return typeof i === 'string' ? { name: 'rollback', env: e, image: i, ...(to !== undefined && { to }) } : i;
    }
  }
}

/** Every `/baton` line of a comment, in order, as the raw line text (for edit comparison) and its parse. */
function commandLines(body: string): string[] {
  const tree = fromMarkdown(body);
  const lines: string[] = [];
  for (const p of paragraphs(tree, [])) {
    for (const raw of paragraphText(p).split('\n')) {
      const line = raw.trim();
      if (PREFIX.test(line)) lines.push(line);
    }
  }
  return lines;
}

export interface ParseOptions {
  known?: KnownNames;
  /** The comment before an edit: only lines that are new in the edit run. */
  previousBody?: string;
}

/** A marker Baton puts in its own comments, so a quoted or edited Baton comment never runs anything. */
export const BATON_COMMENT_MARKER = '<!-- baton:';

export function parseComment(body: string, options: ParseOptions = {}): CommentParse {
  if (body.length > MAX_COMMENT_CHARS) return { kind: 'ignore', reason: `the comment is longer than ${MAX_COMMENT_CHARS} characters` };
  if (body.includes(BATON_COMMENT_MARKER)) return { kind: 'ignore', reason: "Baton's own comment" };
  // A cheap filter first: most comments are conversation, not commands.
  if (!/\/baton/i.test(body)) return { kind: 'ignore', reason: 'no /baton command' };
  let lines = commandLines(body);
  if (options.previousBody !== undefined && options.previousBody.length <= MAX_COMMENT_CHARS) {
    const before = commandLines(options.previousBody);
    lines = lines.filter((l) => {
      const at = before.indexOf(l);
      if (at < 0) return true;
      before.splice(at, 1);
      return false;
    });
    if (lines.length === 0) return { kind: 'ignore', reason: 'the edit added no new /baton command' };
  }
  if (lines.length === 0) return { kind: 'ignore', reason: 'no /baton command outside code, quotes and HTML comments' };
  if (lines.length > MAX_COMMANDS_PER_COMMENT) {
    return { kind: 'lines', lines: [{ kind: 'reply', line: '', text: `This comment has ${lines.length} \`/baton\` commands; at most ${MAX_COMMANDS_PER_COMMENT} run from one comment, so none ran.` }] };
  }
  return {
    kind: 'lines',
    lines: lines.map((line): LineResult => {
      const parsed = parseLine(line.replace(PREFIX, ''), options.known);
      return 'error' in parsed ? { kind: 'reply', text: parsed.error, line } : { kind: 'command', command: parsed, line };
    }),
  };
}

/** The text `/baton help` answers with. */
export function helpText(): string {
  return ['Baton commands (one per line):', '', ...COMMAND_NAMES.map((c) => `- \`${USAGE[c]}\``), '', '`deploy`, `promote`, `rollback`, `pause` and `resume` need a role listed in the environment\'s `approvers`.'].join('\n');
}
