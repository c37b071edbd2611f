import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { REGISTRY_KINDS, registrySecrets, registrySources } from '../../../src/sources/registry/index.js';
import { delivery, fixture } from './support.js';

const SECRET = 's3cret-token';
const body = { events: [] };

async function verify(kind: string, headers: Record<string, string>, query: Record<string, string> = {}, secrets: string[] = [SECRET]) {
  const source = registrySources[kind];
  if (!source) throw new Error(`no source ${kind}`);
  return source.verify(delivery(body, headers, query), secrets);
}

const basic = (password: string) => `Basic ${Buffer.from(`registry:${password}`).toString('base64')}`;

/** Kinds that authenticate with a shared token (ghcr signs, gar sends a JWT: tested on their own). */
const TOKEN_KINDS = REGISTRY_KINDS.filter((k) => k !== 'ghcr' && k !== 'gar');
const QUERY_KINDS = new Set(['dockerhub', 'quay']);

describe.each(TOKEN_KINDS)('%s token check', (kind) => {
  it('accepts the token as Bearer or as Basic password, and a rotated second secret', async () => {
    expect(await verify(kind, { authorization: `Bearer ${SECRET}` })).toEqual({ ok: true });
    expect(await verify(kind, { authorization: basic(SECRET) })).toEqual({ ok: true });
    expect(await verify(kind, { authorization: `Bearer ${SECRET}` }, {}, ['old-token', SECRET])).toEqual({ ok: true });
  });

  it('refuses a request without credentials, with a wrong token, or when no secret is configured', async () => {
    expect(await verify(kind, {})).toMatchObject({ ok: false });
    expect(await verify(kind, { authorization: 'Bearer wrong' })).toEqual({ ok: false, reason: 'wrong credentials' });
    expect(await verify(kind, { authorization: `Bearer ${SECRET}x` })).toMatchObject({ ok: false });
    expect(await verify(kind, { authorization: basic('wrong') })).toMatchObject({ ok: false });
    expect(await verify(kind, { authorization: `Bearer ${SECRET}` }, {}, [])).toEqual({ ok: false, reason: 'no secret is configured for this endpoint' });
    expect(await verify(kind, { authorization: 'Bearer ' }, {}, [''])).toMatchObject({ ok: false });
  });

  it(QUERY_KINDS.has(kind) ? 'accepts ?token= (the sender cannot set headers)' : 'refuses ?token= (the sender can set a header)', async () => {
    const right = await verify(kind, {}, { token: SECRET });
    expect(right.ok).toBe(QUERY_KINDS.has(kind));
    expect(await verify(kind, {}, { token: 'wrong' })).toMatchObject({ ok: false });
  });
});

describe('header variants', () => {
  it('harbor accepts the Auth Header value without a scheme; other kinds do not', async () => {
    expect(await verify('harbor', { authorization: SECRET })).toEqual({ ok: true });
    expect(await verify('harbor', { authorization: 'wrong' })).toMatchObject({ ok: false });
    expect(await verify('distribution', { authorization: SECRET })).toMatchObject({ ok: false });
  });

  it('accepts X-Baton-Token (EventBridge API-key connections name their own header)', async () => {
    expect(await verify('ecr', { 'x-baton-token': SECRET })).toEqual({ ok: true });
    expect(await verify('ecr', { 'x-baton-token': 'wrong' })).toMatchObject({ ok: false });
  });
});

describe('ghcr signature', () => {
  const raw = JSON.stringify((fixture('ghcr-registry-package-multiarch-burst.json') as unknown[])[2]);
  const sign = (secret: string, bytes: string) => `sha256=${createHmac('sha256', secret).update(bytes).digest('hex')}`;
  const check = (headers: Record<string, string>, bytes = raw, secrets = [SECRET]) => {
    const source = registrySources['ghcr'];
    if (!source) throw new Error('no ghcr');
    return source.verify(delivery(bytes, headers), secrets);
  };

  it('accepts the HMAC of the raw body', async () => {
    expect(await check({ 'x-hub-signature-256': sign(SECRET, raw) })).toEqual({ ok: true });
  });

  it('refuses a missing, wrong-key, or replayed-onto-other-bytes signature, and a bare bearer token', async () => {
    expect(await check({})).toMatchObject({ ok: false });
    expect(await check({ 'x-hub-signature-256': sign('other', raw) })).toMatchObject({ ok: false });
    expect(await check({ 'x-hub-signature-256': sign(SECRET, raw) }, raw.replace('2.0.0', '9.9.9'))).toMatchObject({ ok: false });
    expect(await check({ authorization: `Bearer ${SECRET}` })).toMatchObject({ ok: false });
  });
});

describe('gar without settings', () => {
  it('refuses everything and names the settings', async () => {
    expect(await verify('gar', { authorization: `Bearer ${SECRET}` })).toEqual({ ok: false, reason: 'gar needs BATON_GAR_AUDIENCE and BATON_GAR_SERVICE_ACCOUNT' });
  });
});

describe('registrySecrets', () => {
  it('reads the shared token and the kind’s own, comma-separated for rotation', () => {
    const env = { BATON_REGISTRY_TOKEN: 'shared', BATON_REGISTRY_TOKEN_HARBOR: 'h1, h2', BATON_REGISTRY_TOKEN_QUAY: 'q' };
    expect(registrySecrets(env, 'harbor')).toEqual(['shared', 'h1', 'h2']);
    expect(registrySecrets(env, 'distribution')).toEqual(['shared']);
    expect(registrySecrets({}, 'harbor')).toEqual([]);
    expect(registrySecrets({ BATON_REGISTRY_TOKEN_HARBOR: 'h' }, 'harbor')).toEqual(['h']);
  });

  it('does not let a kind name reach other variables', () => {
    expect(registrySecrets({ BATON_REGISTRY_TOKEN_X_Y: 'nope' }, 'x_y')).toEqual([]);
  });
});
