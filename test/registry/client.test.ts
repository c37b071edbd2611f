import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpOciClient, MANIFEST_ACCEPT, RegistryError } from '../../src/registry/client.js';
import { nextLink, parseChallenge, retryAfterMs } from '../../src/registry/client.js';
import { parseDockerConfig, registryClientOptions } from '../../src/registry/settings.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

type Handler = (req: IncomingMessage, res: ServerResponse, base: string) => void;

interface Fake {
  base: string;
  host: string;
  hits: { method: string; url: string; auth?: string; accept?: string }[];
}

let servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

/** A registry double on a loopback port: every request is recorded, then answered by `handler`. */
async function fake(handler: Handler): Promise<Fake> {
  const hits: Fake['hits'] = [];
  let base = '';
  const server = createServer((req, res) => {
    hits.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization && { auth: req.headers.authorization }), ...(req.headers.accept && { accept: req.headers.accept }) });
    handler(req, res, base);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  base = `http://127.0.0.1:${port}`;
  return { base, host: `127.0.0.1:${port}`, hits };
}

const noSleep: number[] = [];
const sleep = (ms: number) => {
  noSleep.push(ms);
  return Promise.resolve();
};

describe('resolveDigest', () => {
  it('HEADs the manifest with the index and manifest Accept types and returns Docker-Content-Digest', async () => {
    const reg = await fake((req, res) => {
      res.writeHead(200, { 'Docker-Content-Digest': DIGEST, 'Content-Type': 'application/vnd.oci.image.index.v1+json' });
      res.end();
    });
    expect(await new HttpOciClient().resolveDigest(`${reg.host}/team/web`, '1.2.3')).toBe(DIGEST);
    expect(reg.hits).toEqual([{ method: 'HEAD', url: '/v2/team/web/manifests/1.2.3', accept: MANIFEST_ACCEPT }]);
  });

  it('hashes the manifest bytes when HEAD carries no digest header', async () => {
    const manifest = '{"schemaVersion":2}';
    const reg = await fake((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
      res.end(req.method === 'GET' ? manifest : undefined);
    });
    const digest = await new HttpOciClient().resolveDigest(`${reg.host}/team/web`, 'latest');
    expect(digest).toBe(`sha256:${createHash('sha256').update(manifest).digest('hex')}`);
    expect(reg.hits.map((h) => h.method)).toEqual(['HEAD', 'GET']);
  });

  it('answers 404 as a non-retryable RegistryError and refuses invalid tags without a request', async () => {
    const reg = await fake((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    const client = new HttpOciClient();
    await expect(client.resolveDigest(`${reg.host}/team/web`, 'nope')).rejects.toMatchObject({ status: 404, retryable: false });
    await expect(client.resolveDigest(`${reg.host}/team/web`, '../../v2/_catalog')).rejects.toBeInstanceOf(RegistryError);
    expect(reg.hits).toHaveLength(1);
  });
});

describe('authentication', () => {
  it('answers a Bearer challenge with a token from the realm (Basic credentials sent there) and reuses it', async () => {
    let tokenCalls = 0;
    const reg = await fake((req, res, base) => {
      if (req.url?.startsWith('/token')) {
        tokenCalls++;
        const u = new URL(req.url, base);
        const ok = req.headers.authorization === `Basic ${Buffer.from('ci:pw').toString('base64')}` && u.searchParams.get('scope') === 'repository:team/web:pull' && u.searchParams.get('service') === 'reg';
        res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' });
        res.end(ok ? JSON.stringify({ token: 'T0KEN', expires_in: 300 }) : '{}');
        return;
      }
      if (req.headers.authorization !== 'Bearer T0KEN') {
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${base}/token",service="reg",scope="repository:team/web:pull"` });
        res.end();
        return;
      }
      res.writeHead(200, { 'Docker-Content-Digest': DIGEST });
      res.end();
    });
    const client = new HttpOciClient({ credentials: (host) => (host === reg.host ? { username: 'ci', password: 'pw' } : undefined) });
    expect(await client.resolveDigest(`${reg.host}/team/web`, '1')).toBe(DIGEST);
    expect(await client.resolveDigest(`${reg.host}/team/web`, '2')).toBe(DIGEST);
    expect(tokenCalls).toBe(1);
  });

  it('answers a Basic challenge with the configured credentials', async () => {
    const good = `Basic ${Buffer.from('ci:pw').toString('base64')}`;
    const reg = await fake((req, res) => {
      if (req.headers.authorization !== good) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="registry"' });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ name: 'team/web', tags: ['1'] }));
    });
    const client = new HttpOciClient({ credentials: () => ({ username: 'ci', password: 'pw' }) });
    expect(await client.listTags(`${reg.host}/team/web`)).toEqual(['1']);
  });

  it('does not send credentials to a plain-HTTP realm on another host', async () => {
    const realm = await fake((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: 'anon' }));
    });
    const reg = await fake((req, res) => {
      res.writeHead(req.headers.authorization === 'Bearer anon' ? 200 : 401, {
        'WWW-Authenticate': `Bearer realm="http://localhost:${realm.host.split(':')[1]}/token"`,
        'Docker-Content-Digest': DIGEST,
      });
      res.end();
    });
    const client = new HttpOciClient({ credentials: () => ({ username: 'ci', password: 'secret' }) });
    expect(await client.resolveDigest(`${reg.host}/team/web`, '1')).toBe(DIGEST);
    expect(realm.hits).toHaveLength(1);
    expect(realm.hits[0]?.auth).toBeUndefined();
  });
});

describe('rate limits', () => {
  it('waits Retry-After on 429, then succeeds', async () => {
    let calls = 0;
    const reg = await fake((_req, res) => {
      calls++;
      if (calls === 1) res.writeHead(429, { 'Retry-After': '2' });
      else res.writeHead(200, { 'Docker-Content-Digest': DIGEST });
      res.end();
    });
    noSleep.length = 0;
    expect(await new HttpOciClient({ sleep }).resolveDigest(`${reg.host}/team/web`, '1')).toBe(DIGEST);
    expect(noSleep).toEqual([2000]);
  });

  it('gives up after the retry bound, and at once when Retry-After exceeds the cap', async () => {
    const reg = await fake((_req, res) => {
      res.writeHead(429, { 'Retry-After': '1' });
      res.end();
    });
    noSleep.length = 0;
    await expect(new HttpOciClient({ sleep, maxRetries: 2 }).resolveDigest(`${reg.host}/team/web`, '1')).rejects.toMatchObject({ status: 429, retryable: true });
    expect(noSleep).toEqual([1000, 1000]);
    expect(reg.hits).toHaveLength(3);
    const slow = await fake((_req, res) => {
      res.writeHead(429, { 'Retry-After': '3600' });
      res.end();
    });
    noSleep.length = 0;
    await expect(new HttpOciClient({ sleep }).resolveDigest(`${slow.host}/team/web`, '1')).rejects.toMatchObject({ status: 429 });
    expect(noSleep).toEqual([]);
    expect(slow.hits).toHaveLength(1);
  });
});

describe('listTags', () => {
  it('follows Link rel="next" pages and drops invalid tags', async () => {
    const pages: Record<string, { tags: unknown[]; next?: string }> = {
      '/v2/team/web/tags/list?n=2': { tags: ['1.0.0', '1.1.0'], next: '/v2/team/web/tags/list?last=1.1.0&n=2' },
      '/v2/team/web/tags/list?last=1.1.0&n=2': { tags: ['2.0.0', 'bad tag!', 7], next: '/v2/team/web/tags/list?last=2.0.0&n=2' },
      '/v2/team/web/tags/list?last=2.0.0&n=2': { tags: ['3.0.0'] },
    };
    const reg = await fake((req, res) => {
      const page = pages[req.url ?? ''];
      res.writeHead(page ? 200 : 404, { 'Content-Type': 'application/json', ...(page?.next && { Link: `<${page.next}>; rel="next"` }) });
      res.end(JSON.stringify({ name: 'team/web', tags: page?.tags ?? [] }));
    });
    expect(await new HttpOciClient({ pageSize: 2 }).listTags(`${reg.host}/team/web`)).toEqual(['1.0.0', '1.1.0', '2.0.0', '3.0.0']);
    expect(reg.hits).toHaveLength(3);
  });

  it('does not follow a Link to another origin', async () => {
    const other = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ tags: ['evil'] }));
    });
    const reg = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', Link: `<${other.base}/v2/team/web/tags/list?n=2>; rel="next"` });
      res.end(JSON.stringify({ tags: ['1.0.0'] }));
    });
    expect(await new HttpOciClient().listTags(`${reg.host}/team/web`)).toEqual(['1.0.0']);
    expect(other.hits).toHaveLength(0);
  });

  it('stops at the page bound when a registry links to itself forever', async () => {
    const reg = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', Link: '</v2/team/web/tags/list?n=1&last=x>; rel="next"' });
      res.end(JSON.stringify({ tags: ['x'] }));
    });
    await expect(new HttpOciClient({ maxPages: 5 }).listTags(`${reg.host}/team/web`)).rejects.toThrow(/more than 5 pages/);
    expect(reg.hits).toHaveLength(5);
  });
});

describe('header parsing', () => {
  it('reads challenges, Retry-After and Link', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' },
    });
    expect(retryAfterMs('7', 0)).toBe(7000);
    expect(retryAfterMs('Thu, 01 Jan 1970 00:00:10 GMT', 4000)).toBe(6000);
    expect(retryAfterMs('soon', 0)).toBeUndefined();
    expect(nextLink('</v2/a/tags/list?last=b&n=1>; rel="next"')).toBe('/v2/a/tags/list?last=b&n=1');
    expect(nextLink('</x>; rel="prev"')).toBeUndefined();
  });
});

describe('settings', () => {
  it('reads a Docker config.json and inline credentials, inline winning', () => {
    const file = JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hubpass').toString('base64') },
        'registry.example.com': { auth: Buffer.from('fileuser:filepass').toString('base64') },
      },
    });
    expect(parseDockerConfig(file).get('docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    const options = registryClientOptions(
      { BATON_REGISTRY_AUTH_FILE: '/cfg.json', BATON_REGISTRY_CREDENTIALS: JSON.stringify({ 'registry.example.com': { token: 'abc' } }), BATON_REGISTRY_INSECURE: 'reg.lan:5000' },
      (path) => {
        expect(path).toBe('/cfg.json');
        return file;
      },
    );
    expect(options.credentials?.('registry.example.com')).toEqual({ token: 'abc' });
    expect(options.credentials?.('docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    expect(options.insecure?.('reg.lan:5000')).toBe(true);
    expect(options.insecure?.('registry.example.com')).toBe(false);
  });

  it('names the setting, not its value, when it is malformed', () => {
    expect(() => registryClientOptions({ BATON_REGISTRY_CREDENTIALS: 'password123' })).toThrow('BATON_REGISTRY_CREDENTIALS is not JSON');
  });
});
