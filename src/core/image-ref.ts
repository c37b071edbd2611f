/** Image references: parsing, Docker Hub normalization, and the character sets that keep payload values inert. */

/** OCI distribution spec: a tag is `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. */
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** A digest Baton will write: sha256/sha512 in lowercase hex. */
export const DIGEST_RE = /^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/;
/** Repository path components (lowercase, separators) with an optional `host[:port]/` prefix. */
const REPO_RE = /^(?:[A-Za-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isValidDigest(digest: string): boolean {
  return DIGEST_RE.test(digest);
}

export function isValidRepository(name: string): boolean {
  return name.length <= 255 && REPO_RE.test(name);
}

export interface ImageRef {
  /** The name exactly as written (no tag, no digest). */
  name: string;
  tag?: string;
  digest?: string;
}

/** Split `name[:tag][@digest]`; the colon of a registry port is not a tag separator. */
export function parseImageRef(ref: string): ImageRef | undefined {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) return undefined;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) return undefined;
  }
  if (!rest || !isValidRepository(rest)) return undefined;
  return { name: rest, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/**
 * The canonical repository: Docker Hub short names get `docker.io/` (and `library/` for
 * official images), `index.docker.io` becomes `docker.io`, so `nginx`, `library/nginx` and
 * `docker.io/library/nginx` compare equal.
 */
export function normalizeRepository(name: string): string {
  const trimmed = name.trim();
  const slash = trimmed.indexOf('/');
  const first = slash >= 0 ? trimmed.slice(0, slash) : '';
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  // Host names are case-insensitive (DNS); repository paths are not.
  let host = hasHost ? first.toLowerCase() : 'docker.io';
  let path = hasHost ? trimmed.slice(slash + 1) : trimmed;
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = 'docker.io';
  if (host === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  return `${host}/${path}`;
}

/** A registry host as Baton compares it: lowercase, Docker Hub's three names as `docker.io`. */
export function normalizeHost(host: string): string {
  const h = host.trim().toLowerCase();
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

/** `host` and `path` of a normalized repository (`localhost:5000/team/web` → `localhost:5000`, `team/web`). */
export function splitRepository(normalized: string): { host: string; path: string } {
  const slash = normalized.indexOf('/');
  return { host: normalized.slice(0, slash), path: normalized.slice(slash + 1) };
}

export function sameRepository(a: string, b: string): boolean {
  return normalizeRepository(a) === normalizeRepository(b);
}

/** Render `name[:tag][@digest]`. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.name}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
