/** Access tokens: HS256 JWTs made with jose, `iss` = the refresh token's id, signed with that refresh token's own key. */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { MAX_ACCESS_TOKEN_LENGTH } from '@flowgate/shared';
import type { RefreshToken } from '../store/types.js';

/** Home Assistant's access-token lifetime: short, because a refresh is one round trip. */
export const ACCESS_TOKEN_TTL_MS = 30 * 60 * 1000;
/** Clock skew tolerated between instances and clients when checking `exp` and `iat` (Home Assistant uses 10 s). */
export const CLOCK_LEEWAY_SECONDS = 10;

/**
 * Imported HMAC keys by their text: jose re-imports a raw secret on every call (about 60 µs, a third of an `auth` during a
 * reconnect storm). Bounded, oldest out first: a key is only a cache of what the refresh token holds, never a reason to accept.
 */
const KEY_CACHE_SIZE = 20_000;
const importedKeys = new Map<string, KeyObject>();

function hmacKey(jwtKey: string): KeyObject {
  let key = importedKeys.get(jwtKey);
  if (key === undefined) {
    key = createSecretKey(Buffer.from(jwtKey, 'utf8'));
    if (importedKeys.size >= KEY_CACHE_SIZE) importedKeys.delete(importedKeys.keys().next().value as string);
    importedKeys.set(jwtKey, key);
  }
  return key;
}

export async function signAccessToken(refreshToken: RefreshToken, now: number = Date.now()): Promise<string> {
  const issuedAt = Math.floor(now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(refreshToken.id)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + Math.floor(refreshToken.accessTokenTtlMs / 1000))
    .sign(hmacKey(refreshToken.jwtKey));
}

/** The refresh token id an access token claims to come from, read without verifying; null for anything not shaped like ours. */
export function claimedIssuer(accessToken: string): string | null {
  if (accessToken.length === 0 || accessToken.length > MAX_ACCESS_TOKEN_LENGTH) return null;
  try {
    if (decodeProtectedHeader(accessToken).alg !== 'HS256') return null;
    const { iss } = decodeJwt(accessToken);
    return typeof iss === 'string' && iss.length <= 128 ? iss : null;
  } catch {
    return null;
  }
}

/**
 * Verifies an access token against the refresh token it names: HS256 only (so `none` and key-confusion tricks fail), a valid
 * signature with that token's key, `iss` equal to its id, not expired, and not issued in the future (both with leeway).
 */
export async function verifyAccessToken(accessToken: string, refreshToken: RefreshToken, now: number = Date.now()): Promise<boolean> {
  try {
    const { payload } = await jwtVerify(accessToken, hmacKey(refreshToken.jwtKey), {
      algorithms: ['HS256'],
      issuer: refreshToken.id,
      clockTolerance: CLOCK_LEEWAY_SECONDS,
      currentDate: new Date(now),
      requiredClaims: ['iat', 'exp'],
    });
    return typeof payload.iat === 'number' && payload.iat <= Math.floor(now / 1000) + CLOCK_LEEWAY_SECONDS;
  } catch {
    return false;
  }
}
