/**
 * A real CNCF registry for tests: Debian's `docker-registry` on a free loopback port with temp storage and
 * optional notification endpoints, OCI image layouts built by hand (no network), pushed with `skopeo`.
 */

import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const run = promisify(execFile);

export const REGISTRY_BIN = '/usr/bin/docker-registry';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Why the real-registry tests cannot run here, or undefined when they can. */
export function registryUnavailable(): string | undefined {
  const missing = [executable(REGISTRY_BIN) ? undefined : REGISTRY_BIN, onPath('skopeo') ? undefined : 'skopeo'].filter(Boolean);
  return missing.length > 0 ? `real-registry tests skipped: ${missing.join(' and ')} not installed (apt-get install docker-registry skopeo)` : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface NotifyEndpoint {
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
}

export interface RunningRegistry {
  /** `127.0.0.1:<port>`: the host part of image names. */
  host: string;
  url: string;
  logs(): string;
  stop(): Promise<void>;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function registryConfig(dir: string, port: number, notify: NotifyEndpoint[]): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(join(dir, 'data'))}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (notify.length > 0) {
    lines.push('notifications:', '  endpoints:');
    notify.forEach((n, i) => {
      lines.push(`    - name: baton${i}`, `      url: ${JSON.stringify(n.url)}`);
      if (n.token) lines.push('      headers:', `        Authorization: [${JSON.stringify(`Bearer ${n.token}`)}]`);
      lines.push('      timeout: 2s', '      threshold: 5', '      backoff: 200ms');
    });
  }
  return `${lines.join('\n')}\n`;
}

/** Start `docker-registry serve` on a free loopback port; resolves once `/v2/` answers. */
export async function startRegistry(options: { notify?: NotifyEndpoint[] } = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'baton-registry-'));
  let lastError: unknown;
  // A port picked free can be taken before the registry binds it: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = join(dir, 'config.yml');
    await writeFile(config, registryConfig(dir, port, options.notify ?? []));
    let output = '';
    const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    let exited = false;
    child.once('exit', () => (exited = true));
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntil(
        async () => {
          if (exited) throw new Error(`docker-registry exited: ${output.slice(-2000)}`);
          try {
            const res = await fetch(`${url}/v2/`);
            return res.status === 200;
          } catch {
            return false;
          }
        },
        10_000,
        'docker-registry to listen',
      );
      return {
        host: `127.0.0.1:${port}`,
        url,
        logs: () => output,
        stop: async () => {
          if (!exited) {
            const gone = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
            if (!exited) child.kill('SIGKILL');
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (e) {
      lastError = e;
      child.kill('SIGKILL');
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError instanceof Error ? lastError : new Error('docker-registry did not start');
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function writeBlob(layout: string, data: Buffer, mediaType: string): Promise<Descriptor> {
  const digest = sha256(data);
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
  return { mediaType, digest, size: data.length };
}

/** One image for one platform: an empty-tar layer, a config naming `label` (so each build is unique), a manifest. */
async function writeImage(layout: string, label: string, architecture: string, meta: ImageMeta = {}): Promise<Descriptor> {
  const tar = Buffer.alloc(1024); // two zero blocks: a valid empty tar
  const layer = await writeBlob(layout, gzipSync(tar), OCI_LAYER);
  const config = await writeBlob(
    layout,
    Buffer.from(JSON.stringify({ architecture, os: 'linux', config: { Labels: { 'dev.baton.test': label, ...meta.labels } }, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } })),
    OCI_CONFIG,
  );
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer], ...(meta.annotations && { annotations: meta.annotations }) }));
  return { ...(await writeBlob(layout, manifest, OCI_MANIFEST)), platform: { architecture, os: 'linux' } };
}

/** Config labels (`LABEL`, `docker build --label`) and manifest annotations an image carries. */
export interface ImageMeta {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  /** The OCI layout directory. */
  dir: string;
  tag: string;
  /** Digest of what the tag names: the manifest, or the index for a multi-arch image. */
  digest: string;
  /** Platform manifest digests (one for a single image). */
  platforms: string[];
}

/**
 * Write an OCI image layout (oci-layout, index.json, blobs) holding `tag`: one linux/amd64 image, or with
 * `multiArch` an image index over linux/amd64 and linux/arm64.
 */
export async function buildImage(tag: string, options: { multiArch?: boolean; label?: string } & ImageMeta = {}): Promise<BuiltImage> {
  const dir = await mkdtemp(join(tmpdir(), 'baton-oci-'));
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const label = options.label ?? `${tag}-${randomBytes(4).toString('hex')}`;
  const platforms = options.multiArch
    ? [await writeImage(dir, label, 'amd64', options), await writeImage(dir, label, 'arm64', options)]
    : [await writeImage(dir, label, 'amd64', options)];
  let top: Descriptor;
  if (options.multiArch) {
    top = await writeBlob(dir, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: platforms })), OCI_INDEX);
  } else {
    const [only] = platforms;
    if (!only) throw new Error('no image written');
    top = { mediaType: only.mediaType, digest: only.digest, size: only.size };
  }
  const index = { schemaVersion: 2, manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }] };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return { dir, tag, digest: top.digest, platforms: platforms.map((p) => p.digest) };
}

/** `skopeo copy` the layout's tag to `host/repository:tag`; returns the digest skopeo reports. */
export async function pushImage(image: BuiltImage, host: string, repository = 'team/web', tag = image.tag): Promise<string> {
  const digestFile = join(image.dir, `pushed-${tag}.digest`);
  await run(
    'skopeo',
    ['copy', '--insecure-policy', '--quiet', '--all', '--dest-tls-verify=false', '--digestfile', digestFile, `oci:${image.dir}:${image.tag}`, `docker://${host}/${repository}:${tag}`],
    { timeout: 60_000 },
  );
  return (await readFile(digestFile, 'utf8')).trim();
}

export async function removeImage(image: BuiltImage): Promise<void> {
  await rm(image.dir, { recursive: true, force: true });
}

export interface CapturedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Listener {
  url: string;
  requests: CapturedRequest[];
  /** Resolves when `predicate` holds for the captured requests, or rejects after `timeoutMs`. */
  waitFor(predicate: (requests: CapturedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A loopback HTTP listener that records every request and answers `status`. */
export async function startListener(status = 202): Promise<Listener> {
  const requests: CapturedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/events`,
    requests,
    waitFor: (predicate, timeoutMs = 15_000) => waitUntil(async () => predicate(requests), timeoutMs, 'registry notifications'),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
