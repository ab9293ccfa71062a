import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { claimedIssuer, signAccessToken, verifyAccessToken } from '../../server/src/tokens/access-tokens.js';
import type { RefreshToken } from '../../server/src/store/types.js';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const refreshToken: RefreshToken = {
  id: 'a'.repeat(32),
  userId: 'u',
  clientId: 'https://app/',
  clientName: null,
  type: 'normal',
  tokenHash: 'h',
  jwtKey: 'k'.repeat(128),
  accessTokenTtlMs: 30 * 60 * 1000,
  credentialId: null,
  createdAt: NOW,
  lastUsedAt: null,
  lastUsedIp: null,
  expireAt: null,
};
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('Access tokens', function () {
  it('are HS256 JWTs whose iss is the refresh token id and that live 30 minutes', async function () {
    const token = await signAccessToken(refreshToken, NOW);
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part ?? '', 'base64url').toString()));
    expect(header).to.deep.equal({ alg: 'HS256', typ: 'JWT' });
    expect(payload.iss).to.equal(refreshToken.id);
    expect(payload.exp - payload.iat).to.equal(1800);
    expect(claimedIssuer(token)).to.equal(refreshToken.id);
    expect(await verifyAccessToken(token, refreshToken, NOW)).to.equal(true);
  });

  it('still verify within the 10 s leeway after expiry, and not after it', async function () {
    const token = await signAccessToken(refreshToken, NOW);
    expect(await verifyAccessToken(token, refreshToken, NOW + 30 * 60 * 1000 + 9_000)).to.equal(true);
    expect(await verifyAccessToken(token, refreshToken, NOW + 30 * 60 * 1000 + 11_000)).to.equal(false);
  });

  it('are refused when issued in the future', async function () {
    const token = await signAccessToken(refreshToken, NOW + 60_000);
    expect(await verifyAccessToken(token, refreshToken, NOW)).to.equal(false);
  });

  it('are refused with a tampered payload or signature', async function () {
    const token = await signAccessToken(refreshToken, NOW);
    const [header, , signature] = token.split('.');
    const forgedPayload = b64({ iss: refreshToken.id, iat: NOW / 1000, exp: NOW / 1000 + 999_999 });
    expect(await verifyAccessToken(`${header}.${forgedPayload}.${signature}`, refreshToken, NOW)).to.equal(false);
    expect(await verifyAccessToken(`${token.slice(0, -2)}AA`, refreshToken, NOW)).to.equal(false);
    expect(await verifyAccessToken(`${header}.${token.split('.')[1]}.`, refreshToken, NOW)).to.equal(false);
  });

  it('are refused when signed with another key', async function () {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(refreshToken.id)
      .setIssuedAt(NOW / 1000).setExpirationTime(NOW / 1000 + 1800).sign(new TextEncoder().encode('another key'));
    expect(await verifyAccessToken(token, refreshToken, NOW)).to.equal(false);
  });

  it('are refused with alg none, or any alg but HS256', async function () {
    const unsecured = new UnsecuredJWT({}).setIssuer(refreshToken.id).setIssuedAt(NOW / 1000).setExpirationTime(NOW / 1000 + 1800).encode();
    expect(claimedIssuer(unsecured)).to.equal(null);
    expect(await verifyAccessToken(unsecured, refreshToken, NOW)).to.equal(false);
    const header = b64({ alg: 'HS512', typ: 'JWT' });
    const payload = b64({ iss: refreshToken.id, iat: NOW / 1000, exp: NOW / 1000 + 1800 });
    const signature = createHmac('sha512', refreshToken.jwtKey).update(`${header}.${payload}`).digest('base64url');
    expect(await verifyAccessToken(`${header}.${payload}.${signature}`, refreshToken, NOW)).to.equal(false);
  });

  it('are refused when empty, garbage, of a bad shape or impossibly large', async function () {
    for (const token of ['', 'garbage', 'a.b.c', `${b64({ alg: 'HS256' })}.${b64([1, 2])}.x`, 'a'.repeat(10_000)]) {
      expect(claimedIssuer(token)).to.equal(null);
      expect(await verifyAccessToken(token, refreshToken, NOW)).to.equal(false);
    }
  });
});
