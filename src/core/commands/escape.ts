/**
 * Markdown escaping for strings a stranger wrote, before they go into a Baton reply or comment.
 * Inline text goes through the project's one Markdown sink (`src/core/sanitize.ts`); code spans are made here.
 */

import { escapeMarkdown as escapeInline } from '../sanitize.js';

// Controls, bidi overrides/isolates and zero-width characters: they hide or reorder what a reader sees.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/** Inline text in a reply: the project's one Markdown sink. */
export function escapeMarkdown(text: string): string {
  return escapeInline(text);
}

/** A stranger's word shown as inline code: nothing in it is interpreted (no mentions, links or HTML). */
export function codeSpan(text: string, maxChars = 40): string {
  const chars = Array.from(text.replace(INVISIBLE, '').replace(/[`\r\n]/g, "'"));
  const short = chars.length > maxChars ? `${chars.slice(0, maxChars).join('')}…` : chars.join('');
  return `\`${short === '' ? ' ' : short}\``;
}
