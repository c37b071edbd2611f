/** Preview names and branch slugs: DNS-1123 labels that are short, distinct and stable for an MR's life. */

export const DNS_LABEL_MAX = 63;
const BRANCH_SLUG_MAX = 40;

/** A DNS-1123 label that also starts with a letter (what Kubernetes wants of namespaces and most names). */
export function isDnsLabel(s: string): boolean {
  return s.length > 0 && s.length <= DNS_LABEL_MAX && /^[a-z]([a-z0-9-]*[a-z0-9])?$/.test(s);
}

/** FNV-1a over the UTF-8 bytes, as 8 hex digits: a stable short hash without crypto or randomness. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** Lowercase letters, digits and single dashes; accents folded; no leading or trailing dash. */
export function slug(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function trimDashes(s: string): string {
  return s.replace(/-+$/, '');
}

/**
 * `feature/ÜBER--x` → `feature-uber-x-1a2b3c4d`. The hash of the raw branch is appended whenever
 * the slug is not the branch itself, so two branches that slug alike still get distinct slugs.
 */
export function branchSlug(branch: string): string {
  let s = slug(branch);
  if (!/^[a-z]/.test(s)) s = `b-${s}`;
  s = trimDashes(s);
  if (s === branch && s.length <= BRANCH_SLUG_MAX) return s;
  return `${trimDashes(s.slice(0, BRANCH_SLUG_MAX))}-${shortHash(branch)}`;
}

/**
 * `<image>-pr-<number>`: unique per (app repo, MR number) because an image has one source repo, and
 * stable because neither part changes while the MR lives. An image name that is not a clean label
 * (underscores, a leading digit, too long) is slugged and carries a hash of the original.
 */
export function previewName(image: string, number: number): string {
  const suffix = `-pr-${number}`;
  let base = slug(image);
  if (!/^[a-z]/.test(base)) base = `p-${base}`;
  base = trimDashes(base);
  const clean = base === image && base.length + suffix.length <= DNS_LABEL_MAX;
  if (clean) return `${base}${suffix}`;
  const tail = `-${shortHash(image)}${suffix}`;
  return `${trimDashes(base.slice(0, DNS_LABEL_MAX - tail.length))}${tail}`;
}
