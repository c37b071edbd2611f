import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createLocalJWKSet, createRemoteJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGarSource } from '../../../src/sources/registry/gar.js';
import type { GarOptions } from '../../../src/sources/registry/gar.js';
import { garSettings } from '../../../src/sources/registry/settings.js';
import { delivery, events, fixture } from './support.js';

const AUDIENCE = 'https://baton.example.com/webhooks/registry/gar';
const ACCOUNT = 'gcr-push@acme-prod.iam.gserviceaccount.com';
const NOW_S = 1_795_000_000;

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

let signingKey: PrivateKey;
let otherKey: PrivateKey;
let jwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  signingKey = pair.privateKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  otherKey = (await generateKeyPair('RS256')).privateKey;
});

async function token(claims: JWTPayload = {}, options: { key?: PrivateKey; kid?: string; iat?: number; exp?: number } = {}): Promise<string> {
  return new SignJWT({ email: ACCOUNT, email_verified: true, azp: '113774264463038321964', sub: '113774264463038321964', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'test-key', typ: 'JWT' })
    .setIssuer((claims.iss as string | undefined) ?? 'https://accounts.google.com')
    .setAudience((claims.aud as string | undefined) ?? AUDIENCE)
    .setIssuedAt(options.iat ?? NOW_S - 60)
    .setExpirationTime(options.exp ?? NOW_S + 3540)
    .sign(options.key ?? signingKey);
}

function source(overrides: Partial<GarOptions> = {}) {
  return createGarSource({ audience: AUDIENCE, serviceAccounts: [ACCOUNT], keys: createLocalJWKSet({ keys: [jwk] }), now: () => NOW_S * 1000, ...overrides });
}

const push = fixture('gar-pubsub-push.json') as { message: Record<string, unknown> };
const withId = (id: string) => ({ ...push, message: { ...push.message, messageId: id, message_id: id } });

describe('gar Pub/Sub OIDC verification', () => {
  it('accepts a token signed by the JWKS key for the configured audience and service account, then parses', async () => {
    const s = source();
    const d = delivery(push, { authorization: `Bearer ${await token()}` });
    expect(await s.verify(d, [])).toEqual({ ok: true });
    expect(events(s.parse(push, d))[0]).toMatchObject({ tag: '1.4.0', deliveryId: '13697403261580123' });
  });

  it.each([
    ['another audience', { aud: 'https://evil.example.com/' }],
    ['another issuer', { iss: 'https://accounts.evil.example.com' }],
    ['another service account', { email: 'someone@evil.iam.gserviceaccount.com' }],
    ['an unverified email', { email_verified: false }],
  ])('refuses a token with %s', async (_name, claims) => {
    const d = delivery(withId('m-claims'), { authorization: `Bearer ${await token(claims)}` });
    expect(await source().verify(d, [])).toMatchObject({ ok: false });
  });

  it('refuses expired, not-yet-valid and too-old tokens', async () => {
    const expired = await token({}, { iat: NOW_S - 7200, exp: NOW_S - 3600 });
    const future = await token({}, { iat: NOW_S + 600, exp: NOW_S + 4200 });
    const old = await token({}, { iat: NOW_S - 2 * 3600, exp: NOW_S + 3600 });
    for (const t of [expired, future, old]) {
      expect(await source().verify(delivery(withId('m-time'), { authorization: `Bearer ${t}` }), [])).toMatchObject({ ok: false });
    }
  });

  it('refuses a token signed by another key, a tampered payload, an unsigned token, and a missing token', async () => {
    const s = source();
    const foreign = await token({}, { key: otherKey });
    const [h, p, sig] = (await token()).split('.');
    const claims = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as JWTPayload;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, email: 'x@evil.com' })).toString('base64url')}.${sig}`;
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`;
    for (const auth of [`Bearer ${foreign}`, `Bearer ${tampered}`, `Bearer ${none}`, 'Bearer not-a-jwt', '']) {
      const d = delivery(withId('m-forged'), auth ? { authorization: auth } : {});
      expect(await s.verify(d, [])).toMatchObject({ ok: false });
    }
  });

  it('refuses a replayed Pub/Sub message id, even with a fresh valid token', async () => {
    const s = source();
    const first = delivery(withId('m-replay'), { authorization: `Bearer ${await token()}` });
    expect(await s.verify(first, [])).toEqual({ ok: true });
    const again = delivery(withId('m-replay'), { authorization: `Bearer ${await token({ jti: 'another' })}` });
    expect(await s.verify(again, [])).toEqual({ ok: false, reason: 'replayed Pub/Sub message id' });
    const next = delivery(withId('m-next'), { authorization: `Bearer ${await token()}` });
    expect(await s.verify(next, [])).toEqual({ ok: true });
  });

  it('does not let a forged request burn a real message id', async () => {
    const s = source();
    const forged = delivery(withId('m-burn'), { authorization: `Bearer ${await token({}, { key: otherKey })}` });
    expect(await s.verify(forged, [])).toMatchObject({ ok: false });
    expect(await s.verify(delivery(withId('m-burn'), { authorization: `Bearer ${await token()}` }), [])).toEqual({ ok: true });
  });

  it('accepts the legacy issuer spelling accounts.google.com', async () => {
    const d = delivery(withId('m-iss'), { authorization: `Bearer ${await token({ iss: 'accounts.google.com' })}` });
    expect(await source().verify(d, [])).toEqual({ ok: true });
  });
});

describe('gar with a JWKS served over HTTP', () => {
  let server: Server;
  let url: string;
  let served = 0;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      served++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/oauth2/v3/certs`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('fetches the keys from the JWKS URL (as in production, from Google) and verifies', async () => {
    const settings = garSettings({ BATON_GAR_AUDIENCE: AUDIENCE, BATON_GAR_SERVICE_ACCOUNT: `other@x.iam.gserviceaccount.com, ${ACCOUNT}` }, createRemoteJWKSet(new URL(url)));
    expect(settings?.serviceAccounts).toEqual(['other@x.iam.gserviceaccount.com', ACCOUNT]);
    if (!settings) throw new Error('settings expected');
    const s = createGarSource({ ...settings, now: () => NOW_S * 1000 });
    expect(await s.verify(delivery(withId('m-remote'), { authorization: `Bearer ${await token()}` }), [])).toEqual({ ok: true });
    expect(served).toBeGreaterThan(0);
  });

  it('is unconfigured without audience or service account', () => {
    expect(garSettings({ BATON_GAR_AUDIENCE: AUDIENCE })).toBeUndefined();
    expect(garSettings({ BATON_GAR_SERVICE_ACCOUNT: ACCOUNT })).toBeUndefined();
  });
});
