/**
 * The one Markdown sink for strings a stranger wrote (titles, branches, tags, operator messages):
 * the result renders as the same plain text on GitHub and GitLab — no link, image, HTML, mention or table break.
 */

import { escapeMarkdown as escapeInline } from '../sanitize.js';

/**
 * Plain text for inline Markdown, in one line: the project's one Markdown sink (`src/core/sanitize.ts`),
 * re-exported here for the report's renderers.
 */
export function escapeMarkdown(text: string, maxChars = 300): string {
  return escapeInline(text, maxChars);
}

/** A value shown as code (tags, digests, paths): escaped text in a code-looking but inert form. */
export function escapeCode(text: string, maxChars = 120): string {
  return `<code>${escapeMarkdown(text, maxChars)}</code>`;
}

/** A link whose URL Baton built itself (forge web URLs); only http(s) URLs are linked, the rest shown as text. */
export function link(label: string, url: string | undefined): string {
  if (url === undefined) return label;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return label;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return label;
  // Percent-encode what could close the link destination early.
  const href = parsed.toString().replace(/[()<>\s"]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return `[${label}](${href})`;
}
