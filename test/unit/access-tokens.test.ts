import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { AccessTokenKeys, claimedIssuer, signAccessToken, verifyAccessToken } from '../../server/src/tokens/access-tokens.js';
import type { RefreshToken } from '../../server/src/store/types.js';
import { testServerSecret } from '../helpers/server-secret.js';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const refreshToken: RefreshToken = {
  id: 'a'.repeat(32),
  userId: 'u',
  clientId: 'https://app/',
  clientName: null,
  type: 'normal',
  tokenHash: 'c3'.repeat(32),
  keySalt: '5a'.repeat(32),
  accessTokenTtlMs: 30 * 60 * 1000,
  credentialId: null,
  createdAt: NOW,
  loggedInAt: NOW,
  lastUsedAt: null,
  lastUsedIp: null,
  expireAt: null,
};
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
/** The keys of a deployment: derived from its server secret and each refresh token's salt. */
const keys = new AccessTokenKeys(testServerSecret());

describe('Access tokens', function () {
  it('are HS256 JWTs whose iss is the refresh token id and that live 30 minutes', async function () {
    const token = await signAccessToken(refreshToken, keys, NOW);
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part ?? '', 'base64url').toString()));
    expect(header).to.deep.equal({ alg: 'HS256', typ: 'JWT' });
    expect(payload.iss).to.equal(refreshToken.id);
    expect(payload.exp - payload.iat).to.equal(1800);
    expect(claimedIssuer(token)).to.equal(refreshToken.id);
    expect(await verifyAccessToken(token, refreshToken, keys, NOW)).to.equal(true);
  });

  it('still verify within the 10 s leeway after expiry, and not after it', async function () {
    const token = await signAccessToken(refreshToken, keys, NOW);
    expect(await verifyAccessToken(token, refreshToken, keys, NOW + 30 * 60 * 1000 + 9_000)).to.equal(true);
    expect(await verifyAccessToken(token, refreshToken, keys, NOW + 30 * 60 * 1000 + 11_000)).to.equal(false);
  });

  it('are refused when issued in the future', async function () {
    const token = await signAccessToken(refreshToken, keys, NOW + 60_000);
    expect(await verifyAccessToken(token, refreshToken, keys, NOW)).to.equal(false);
  });

  it('are refused with a tampered payload or signature', async function () {
    const token = await signAccessToken(refreshToken, keys, NOW);
    const [header, , signature] = token.split('.');
    const forgedPayload = b64({ iss: refreshToken.id, iat: NOW / 1000, exp: NOW / 1000 + 999_999 });
    expect(await verifyAccessToken(`${header}.${forgedPayload}.${signature}`, refreshToken, keys, NOW)).to.equal(false);
    expect(await verifyAccessToken(`${token.slice(0, -2)}AA`, refreshToken, keys, NOW)).to.equal(false);
    expect(await verifyAccessToken(`${header}.${token.split('.')[1]}.`, refreshToken, keys, NOW)).to.equal(false);
  });

  it('are refused when signed with another key', async function () {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(refreshToken.id)
      .setIssuedAt(NOW / 1000).setExpirationTime(NOW / 1000 + 1800).sign(new TextEncoder().encode('another key'));
    expect(await verifyAccessToken(token, refreshToken, keys, NOW)).to.equal(false);
  });

  it('are refused when signed with what the store holds: the salt, or the hash, as the key', async function () {
    for (const stored of [refreshToken.keySalt, refreshToken.tokenHash]) {
      for (const key of [Buffer.from(stored, 'utf8'), Buffer.from(stored, 'hex')]) {
        const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuer(refreshToken.id)
          .setIssuedAt(NOW / 1000).setExpirationTime(NOW / 1000 + 1800).sign(key);
        expect(await verifyAccessToken(token, refreshToken, keys, NOW), stored).to.equal(false);
      }
    }
  });

  it('are refused by a deployment with another server secret, the salt being the same', async function () {
    const token = await signAccessToken(refreshToken, new AccessTokenKeys(testServerSecret()), NOW);
    expect(await verifyAccessToken(token, refreshToken, keys, NOW)).to.equal(false);
  });

  it('are refused when they live longer than the refresh token lets them (exp - iat), however well signed', async function () {
    const signed = (lifetimeSeconds: number) =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuer(refreshToken.id)
        .setIssuedAt(NOW / 1000).setExpirationTime(NOW / 1000 + lifetimeSeconds).sign(keys.keyOf(refreshToken));
    expect(await verifyAccessToken(await signed(1800), refreshToken, keys, NOW)).to.equal(true);
    expect(await verifyAccessToken(await signed(1801), refreshToken, keys, NOW)).to.equal(false);
    expect(await verifyAccessToken(await signed(10 * 365 * 86_400), refreshToken, keys, NOW)).to.equal(false);
  });

  it('are refused with alg none, or any alg but HS256', async function () {
    const unsecured = new UnsecuredJWT({}).setIssuer(refreshToken.id).setIssuedAt(NOW / 1000).setExpirationTime(NOW / 1000 + 1800).encode();
    expect(claimedIssuer(unsecured)).to.equal(null);
    expect(await verifyAccessToken(unsecured, refreshToken, keys, NOW)).to.equal(false);
    const header = b64({ alg: 'HS512', typ: 'JWT' });
    const payload = b64({ iss: refreshToken.id, iat: NOW / 1000, exp: NOW / 1000 + 1800 });
    const signature = createHmac('sha512', keys.keyOf(refreshToken).export()).update(`${header}.${payload}`).digest('base64url');
    expect(await verifyAccessToken(`${header}.${payload}.${signature}`, refreshToken, keys, NOW)).to.equal(false);
  });

  it('are refused when empty, garbage, of a bad shape or impossibly large', async function () {
    for (const token of ['', 'garbage', 'a.b.c', `${b64({ alg: 'HS256' })}.${b64([1, 2])}.x`, 'a'.repeat(10_000)]) {
      expect(claimedIssuer(token)).to.equal(null);
      expect(await verifyAccessToken(token, refreshToken, keys, NOW)).to.equal(false);
    }
  });
});
