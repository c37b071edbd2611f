/**
 * One sanitizer per sink for strings a stranger wrote (actors, ids, titles, branch names, comments).
 * Each makes the string inert where it lands: it cannot start a new line, paragraph, trailer,
 * Markdown construct, mention or ref component, and its length is bounded.
 */

/**
 * Characters that break a line or reorder what a reader sees: C0/C1 controls, DEL, line and paragraph
 * separators, bidirectional overrides and isolates, zero-width and BOM characters.
 */
// eslint-disable-next-line no-control-regex
const INVISIBLE_OR_BREAKING = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]+/g;

/** Every run of breaking or invisible characters and whitespace becomes one space; ends trimmed. */
function oneLine(text: string): string {
  return text.replace(INVISIBLE_OR_BREAKING, ' ').replace(/\s+/g, ' ').trim();
}

/** Cut to at most `max` UTF-16 units without splitting a surrogate pair, marking the cut with `…`. */
function bound(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return `${cut.trimEnd()}…`;
}

export const SUBJECT_MAX = 72;
export const TRAILER_VALUE_MAX = 200;
export const MARKDOWN_INLINE_MAX = 256;
export const BRANCH_SLUG_MAX = 63;

/** A commit subject (or any one line of a commit body): one line, no leading `-`/`#` runs git reads as dividers or comments. */
export function sanitizeSubject(text: string, max = SUBJECT_MAX): string {
  // `---` starts git's patch divider and `#` a comment line under the default cleanup; neither may open a line.
  const line = oneLine(text).replace(/^[-#\s]+/, '');
  return bound(line, max);
}

/**
 * A trailer value (`Baton-Actor: <value>`): one line, so it can neither add a trailer nor end the
 * trailer paragraph. Empty when nothing printable is left; callers then omit the trailer.
 */
export function sanitizeTrailerValue(text: string, max = TRAILER_VALUE_MAX): string {
  return bound(oneLine(text), max);
}

/**
 * One cell of a table printed to a terminal (`baton status`): one line, no control characters (no
 * escape sequence can recolour or move the cursor), bounded.
 */
export function sanitizeTerminal(text: string, max = 200): string {
  return bound(oneLine(text), max);
}

/** Zero-width space as an HTML entity: GitHub and GitLab render it, and it stops @mention and #ref autolinks. */
const ZWSP = '&#8203;';

/**
 * Inline Markdown text, safe inside a table cell: one line; `\`, backticks, emphasis, brackets,
 * parentheses, `|` and GitLab's reference sigils escaped; `<`, `>`, `&` as entities (no HTML);
 * `@user`, `#123`, `!123`, URLs and `www.` names cannot mention or link. `max` bounds the visible text.
 */
export function escapeMarkdown(text: string, max = MARKDOWN_INLINE_MAX): string {
  const line = bound(oneLine(text), max);
  return line
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_{}[\]()|~!#$%]/g, (c) => `\\${c}`)
    .replace(/@/g, `@${ZWSP}`)
    .replace(/\\#/g, `\\#${ZWSP}`)
    .replace(/\\!/g, `\\!${ZWSP}`)
    // Bare URLs autolink on GitHub and GitLab: a stranger's text is never a link.
    .replace(/:\/\//g, `:${ZWSP}//`)
    .replace(/(www)\./gi, `$1${ZWSP}.`)
    // `GH-12` is an issue reference on GitHub, like `#12`.
    .replace(/\b(GH-)(?=\d)/gi, `$1${ZWSP}`);
}

/**
 * A branch-name component or preview name: lowercase letters, digits and `-`, starting and ending
 * with a letter or digit (a valid git ref component and DNS-1123 label). `fallback` when nothing is left.
 */
export function slugBranch(text: string, max = BRANCH_SLUG_MAX, fallback = 'x'): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, max)
    .replace(/^-+|-+$/g, '');
  return slug === '' ? fallback : slug;
}
