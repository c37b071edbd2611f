/**
 * OCI distribution client: resolve a tag to the digest a registry serves for it (the index digest for a
 * multi-arch image) and list a repository's tags. Handles the registry token dance (`WWW-Authenticate:
 * Bearer realm=…`), Basic auth, `Link` pagination and 429/503 with `Retry-After`, within fixed bounds.
 */

import { createHash } from 'node:crypto';
import { isValidDigest, isValidRepository, isValidTag, normalizeRepository } from '../core/image-ref.js';
import { retryAfterMs } from '../core/retry-after.js';

export { retryAfterMs };

/** What the executor and resync need from a registry. `image` is `host/path` as `.baton.yml` writes it. */
export interface OciClient {
  resolveDigest(image: string, tag: string): Promise<string>;
  listTags(image: string): Promise<string[]>;
  /** Where an image was built from: the `org.opencontainers.image.revision`/`.source` annotations or labels. */
  imageOrigin?(image: string, tag: string): Promise<ImageOrigin>;
}

export interface ImageOrigin {
  /** The source commit (`org.opencontainers.image.revision`). */
  revision?: string;
  /** The source repository URL (`org.opencontainers.image.source`). */
  source?: string;
}

const REVISION = 'org.opencontainers.image.revision';
const SOURCE = 'org.opencontainers.image.source';
/** Manifests and configs are small; anything larger is not read. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

function originOf(fields: unknown): ImageOrigin {
  if (typeof fields !== 'object' || fields === null) return {};
  const f = fields as Record<string, unknown>;
  const pick = (k: string): string | undefined => (typeof f[k] === 'string' && f[k] !== '' ? f[k].slice(0, 1000) : undefined);
  const revision = pick(REVISION);
  const source = pick(SOURCE);
  return { ...(revision !== undefined && { revision }), ...(source !== undefined && { source }) };
}

export interface Credentials {
  username?: string;
  password?: string;
  /** A ready bearer token, sent as is (for registries that hand out static tokens). */
  token?: string;
}

export interface OciClientOptions {
  /** Credentials for a registry host (`registry.example.com`, `127.0.0.1:5000`, `docker.io`). */
  credentials?: (registry: string) => Credentials | undefined;
  /** Hosts reached over plain HTTP. Default: loopback hosts only. */
  insecure?: (registry: string) => boolean;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** Retries after 429/503 (each waits `Retry-After`, capped by `maxRetryAfterMs`). */
  maxRetries?: number;
  maxRetryAfterMs?: number;
  /** Tag list pages followed at most (page size `pageSize`). */
  maxPages?: number;
  pageSize?: number;
  timeoutMs?: number;
}

/** A registry answered with an error, or could not be reached. `retryable` for 429/5xx and network failures. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

interface Target {
  /** Host as written in image names (`docker.io`). */
  registry: string;
  /** Host the API lives on (`registry-1.docker.io` for Docker Hub). */
  apiHost: string;
  repository: string;
}

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** `registry.example.com/team/web` → target; Docker Hub short names get their canonical host. */
export function parseImage(image: string): Target {
  if (!isValidRepository(image)) throw new RegistryError(`not an image repository: ${JSON.stringify(image.slice(0, 200))}`, undefined, false);
  const full = normalizeRepository(image);
  const slash = full.indexOf('/');
  const registry = full.slice(0, slash);
  return { registry, apiHost: registry === 'docker.io' ? 'registry-1.docker.io' : registry, repository: full.slice(slash + 1) };
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and params. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m?.[1]) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/g)) {
    if (p[1]) params[p[1].toLowerCase()] = p[2] ?? p[3] ?? '';
  }
  return { scheme: m[1].toLowerCase(), params };
}


/** The `rel="next"` target of a `Link` header. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (m?.[1] !== undefined) return m[1];
  }
  return undefined;
}

interface CachedAuth {
  header: string;
  expiresAt: number;
}

export class HttpOciClient implements OciClient {
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly auth = new Map<string, CachedAuth>();

  constructor(private readonly options: OciClientOptions = {}) {
    this.fetchImpl = options.fetch ?? fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async resolveDigest(image: string, tag: string): Promise<string> {
    if (!isValidTag(tag)) throw new RegistryError(`not a valid tag: ${JSON.stringify(tag.slice(0, 140))}`, undefined, false);
    const t = parseImage(image);
    const path = `/v2/${t.repository}/manifests/${tag}`;
    const head = await this.request(t, path, 'HEAD', { Accept: MANIFEST_ACCEPT });
    await head.body?.cancel();
    if (head.status === 404) throw new RegistryError(`${t.registry}/${t.repository}:${tag} not found`, 404, false);
    if (!head.ok) throw this.failure(head, `HEAD ${t.registry}/${t.repository}:${tag}`);
    const given = head.headers.get('docker-content-digest');
    if (given && isValidDigest(given)) return given;
    // Some registries omit the header on HEAD: fetch the manifest and hash the exact bytes served.
    const get = await this.request(t, path, 'GET', { Accept: MANIFEST_ACCEPT });
    if (!get.ok) throw this.failure(get, `GET ${t.registry}/${t.repository}:${tag}`);
    const bytes = Buffer.from(await get.arrayBuffer());
    return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  }

  /**
   * Annotations of the manifest (or index) first, then of the first platform manifest, then the labels
   * of its config (`docker build --label`, `LABEL` in a Dockerfile): the first place that names a value wins.
   */
  async imageOrigin(image: string, tag: string): Promise<ImageOrigin> {
    if (!isValidTag(tag)) throw new RegistryError(`not a valid tag: ${JSON.stringify(tag.slice(0, 140))}`, undefined, false);
    const t = parseImage(image);
    const found: ImageOrigin = {};
    const merge = (o: ImageOrigin): boolean => {
      if (found.revision === undefined && o.revision !== undefined) found.revision = o.revision;
      if (found.source === undefined && o.source !== undefined) found.source = o.source;
      return found.revision !== undefined && found.source !== undefined;
    };
    let doc = await this.document(t, `/v2/${t.repository}/manifests/${tag}`, MANIFEST_ACCEPT);
    if (merge(originOf(doc['annotations']))) return found;
    const manifests = Array.isArray(doc['manifests']) ? (doc['manifests'] as unknown[]) : undefined;
    if (manifests) {
      const first = manifests.find((m): m is { digest: string } => typeof m === 'object' && m !== null && typeof (m as Record<string, unknown>)['digest'] === 'string');
      if (!first || !isValidDigest(first.digest)) return found;
      doc = await this.document(t, `/v2/${t.repository}/manifests/${first.digest}`, MANIFEST_ACCEPT);
      if (merge(originOf(doc['annotations']))) return found;
    }
    const config = doc['config'];
    const configDigest = typeof config === 'object' && config !== null ? (config as Record<string, unknown>)['digest'] : undefined;
    if (typeof configDigest !== 'string' || !isValidDigest(configDigest)) return found;
    const blob = await this.document(t, `/v2/${t.repository}/blobs/${configDigest}`, '*/*');
    const inner = blob['config'];
    merge(originOf(typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>)['Labels'] : undefined));
    return found;
  }

  private async document(t: Target, path: string, accept: string): Promise<Record<string, unknown>> {
    const res = await this.request(t, path, 'GET', { Accept: accept });
    if (res.status === 404) {
      await res.body?.cancel();
      throw new RegistryError(`${t.registry}${path} not found`, 404, false);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw this.failure(res, `GET ${t.registry}${path}`);
    }
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > MAX_DOCUMENT_BYTES) {
      await res.body?.cancel();
      throw new RegistryError(`${t.registry}${path}: larger than ${MAX_DOCUMENT_BYTES} bytes`, res.status, false);
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > MAX_DOCUMENT_BYTES) throw new RegistryError(`${t.registry}${path}: larger than ${MAX_DOCUMENT_BYTES} bytes`, res.status, false);
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new RegistryError(`${t.registry}${path}: not JSON`, res.status, false);
    }
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  }

  async listTags(image: string): Promise<string[]> {
    const t = parseImage(image);
    const tags: string[] = [];
    const maxPages = this.options.maxPages ?? 100;
    let path: string | undefined = `/v2/${t.repository}/tags/list?n=${this.options.pageSize ?? 1000}`;
    for (let page = 0; path !== undefined; page++) {
      if (page >= maxPages) throw new RegistryError(`${t.registry}/${t.repository}: more than ${maxPages} pages of tags`, undefined, false);
      const res = await this.request(t, path, 'GET', { Accept: 'application/json' });
      if (res.status === 404) throw new RegistryError(`${t.registry}/${t.repository} not found`, 404, false);
      if (!res.ok) throw this.failure(res, `tags of ${t.registry}/${t.repository}`);
      const body: unknown = await res.json().catch(() => undefined);
      const list = typeof body === 'object' && body !== null && 'tags' in body ? (body as { tags: unknown }).tags : undefined;
      if (Array.isArray(list)) for (const tag of list) if (typeof tag === 'string' && isValidTag(tag)) tags.push(tag);
      path = this.sameOriginPath(t, nextLink(res.headers.get('link')));
    }
    return [...new Set(tags)];
  }

  private base(t: Target): string {
    const insecure = this.options.insecure ? this.options.insecure(t.registry) : isLoopback(t.apiHost);
    return `${insecure ? 'http' : 'https'}://${t.apiHost}`;
  }

  /** A `Link` target is followed only on the registry's own origin, so a registry cannot point us elsewhere. */
  private sameOriginPath(t: Target, link: string | undefined): string | undefined {
    if (link === undefined) return undefined;
    const base = this.base(t);
    let url: URL;
    try {
      url = new URL(link, base);
    } catch {
      return undefined;
    }
    if (url.origin !== new URL(base).origin || !url.pathname.startsWith('/v2/')) return undefined;
    return `${url.pathname}${url.search}`;
  }

  private failure(res: Response, what: string): RegistryError {
    return new RegistryError(`${what}: HTTP ${res.status}`, res.status, res.status === 429 || res.status >= 500);
  }

  private async request(t: Target, path: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<Response> {
    const scope = `repository:${t.repository}:pull`;
    const key = `${t.registry} ${scope}`;
    const maxRetries = this.options.maxRetries ?? 3;
    let authenticated = false;
    for (let attempt = 0; ; attempt++) {
      const cached = this.auth.get(key);
      const auth: Record<string, string> = cached && cached.expiresAt > Date.now() ? { Authorization: cached.header } : {};
      const res = await this.send(`${this.base(t)}${path}`, method, { ...headers, ...auth });
      if (res.status === 401 && !authenticated) {
        await res.body?.cancel();
        authenticated = true;
        const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
        const header = await this.authenticate(t, challenge, scope);
        if (header === undefined) return res;
        this.auth.set(key, header);
        continue;
      }
      if ((res.status === 429 || res.status === 503) && attempt < maxRetries) {
        const wait = retryAfterMs(res.headers.get('retry-after'), Date.now()) ?? 500 * 2 ** attempt;
        if (wait > (this.options.maxRetryAfterMs ?? 30_000)) return res;
        await res.body?.cancel();
        await this.sleep(wait);
        continue;
      }
      return res;
    }
  }

  private async send(url: string, method: string, headers: Record<string, string>): Promise<Response> {
    try {
      // No redirects: a redirect could carry the Authorization header to another host.
      return await this.fetchImpl(url, { method, headers, redirect: 'manual', signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000) });
    } catch (e) {
      throw new RegistryError(`${method} ${new URL(url).host}: ${(e as Error).message}`, undefined, true);
    }
  }

  /** Answer a 401 challenge: Basic with credentials, or a token from the Bearer realm. */
  private async authenticate(
    t: Target,
    challenge: ReturnType<typeof parseChallenge>,
    scope: string,
  ): Promise<CachedAuth | undefined> {
    const creds = this.options.credentials?.(t.registry);
    if (creds?.token) return { header: `Bearer ${creds.token}`, expiresAt: Date.now() + 5 * 60_000 };
    const basic = creds?.username !== undefined && creds.password !== undefined
      ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
      : undefined;
    if (challenge?.scheme === 'basic') return basic ? { header: basic, expiresAt: Number.MAX_SAFE_INTEGER } : undefined;
    if (challenge?.scheme !== 'bearer' || !challenge.params['realm']) return undefined;
    let realm: URL;
    try {
      realm = new URL(challenge.params['realm']);
    } catch {
      return undefined;
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') return undefined;
    realm.searchParams.set('scope', challenge.params['scope'] ?? scope);
    if (challenge.params['service']) realm.searchParams.set('service', challenge.params['service']);
    // Credentials go to the realm only over TLS, or to the registry's own host (a loopback test registry).
    const mayShare = realm.protocol === 'https:' || realm.host === t.apiHost;
    const res = await this.send(realm.toString(), 'GET', basic && mayShare ? { Authorization: basic } : {});
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError(`token from ${realm.host}: HTTP ${res.status}`, res.status, res.status === 429 || res.status >= 500);
    }
    const body: unknown = await res.json().catch(() => undefined);
    const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const token = typeof b['token'] === 'string' ? b['token'] : typeof b['access_token'] === 'string' ? b['access_token'] : undefined;
    if (!token) throw new RegistryError(`token from ${realm.host}: no token in the answer`, res.status, false);
    const ttl = typeof b['expires_in'] === 'number' && b['expires_in'] > 0 ? b['expires_in'] : 60;
    // Renew a little early so a token does not expire between the check and the request.
    return { header: `Bearer ${token}`, expiresAt: Date.now() + Math.max(0, ttl - 10) * 1000 };
  }
}
