/**
 * The one Markdown sink for strings a stranger wrote (titles, branches, tags, operator messages):
 * the result renders as the same plain text on GitHub and GitLab — no link, image, HTML, mention or table break.
 */

/** ASCII punctuation CommonMark lets a backslash escape, minus the characters replaced by entities below. */
const BACKSLASHED = new Set(['\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '-', '.', '!', '|', '~', ':', '"', "'", '=', '$', '%', '^', '/', ',', ';', '?']);

const ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;' };

/**
 * Plain text for inline Markdown, in one line. `@` gets a zero-width space after it (GitHub and GitLab
 * find mentions in the rendered text, where entities are already decoded); `://`, `www.` and `#<digit>`
 * get one too, so bare URLs and issue references never become links; line breaks and control characters become spaces.
 */
export function escapeMarkdown(text: string, maxChars = 300): string {
  // GFM finds bare URLs in the parsed text, after escapes are resolved: a zero-width space keeps them unlinked.
  let chars = Array.from(
    text
      .replace(/:\/\//g, ':\u200b//')
      .replace(/(www)\./gi, '$1\u200b.')
      // `#12`, `GH-12`, `owner/repo#12` become issue links (and cross-references) in the rendered text.
      .replace(/(#|\bGH-)(?=\d)/gi, '$1\u200b'),
  );
  const cut = chars.length > maxChars;
  if (cut) chars = chars.slice(0, maxChars - 1);
  let out = '';
  for (const c of chars) {
    const code = c.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f || code === 0x2028 || code === 0x2029 || code === 0x85) out += ' ';
    // Bidirectional overrides and zero-width joiners can make the shown text differ from the real one.
    else if ((code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069) || code === 0xfeff) out += '';
    else if (c === '@') out += '@&#8203;';
    else if (ENTITIES[c] !== undefined) out += ENTITIES[c];
    else if (BACKSLASHED.has(c)) out += `\\${c}`;
    else out += c;
  }
  return cut ? `${out}…` : out;
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
