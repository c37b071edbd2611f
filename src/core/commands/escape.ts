/**
 * Markdown escaping for strings a stranger wrote, before they go into a Baton reply or comment.
 * (One sanitizer for the Markdown sink; to be reconciled with the project-wide sanitizers.)
 */

// Controls, bidi overrides/isolates and zero-width characters: they hide or reorder what a reader sees.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

export function escapeMarkdown(text: string): string {
  return text
    .replace(INVISIBLE, '')
    .replace(/[\\`*_{}[\]()#+\-.!|<>~&@:]/g, (c) => `\\${c}`)
    .replace(/\r?\n/g, ' ');
}

/** A stranger's word shown as inline code: nothing in it is interpreted (no mentions, links or HTML). */
export function codeSpan(text: string, maxChars = 40): string {
  const chars = Array.from(text.replace(INVISIBLE, '').replace(/[`\r\n]/g, "'"));
  const short = chars.length > maxChars ? `${chars.slice(0, maxChars).join('')}…` : chars.join('');
  return `\`${short === '' ? ' ' : short}\``;
}
