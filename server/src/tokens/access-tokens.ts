/**
 * Access tokens: HS256 JWTs made with jose, `iss` = the refresh token's id, signed with a key derived from the server's secret
 * and that refresh token's salt (never stored: a copy of the store signs nothing).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { MAX_ACCESS_TOKEN_LENGTH } from '@flowgate/shared';
import type { ServerSecret } from '../secrets/server-secret.js';
import type { RefreshToken } from '../store/types.js';

/** Home Assistant's access-token lifetime: short, because a refresh is one round trip. */
export const ACCESS_TOKEN_TTL_MS = 30 * 60 * 1000;
/** Clock skew tolerated between instances and clients when checking `exp` and `iat` (Home Assistant uses 10 s). */
export const CLOCK_LEEWAY_SECONDS = 10;

/**
 * Derived keys kept per salt: deriving (HKDF, about 11 us) and importing (jose re-imports a raw secret on every call, about
 * 60 us) would otherwise cost a good part of every `auth` during a reconnect storm. Bounded, oldest out first: a key is only
 * a cache of what the server secret and the refresh token give, never a reason to accept.
 */
const KEY_CACHE_SIZE = 20_000;

/** The signing keys of access tokens: one per refresh token, derived from the server secret and the token's salt. */
export class AccessTokenKeys {
  readonly #derived = new Map<string, KeyObject>();

  constructor(private readonly secret: ServerSecret) {}

  keyOf(refreshToken: Pick<RefreshToken, 'keySalt'>): KeyObject {
    const salt = refreshToken.keySalt;
    let key = this.#derived.get(salt);
    if (key === undefined) {
      key = createSecretKey(this.secret.derive('accessToken', salt));
      if (this.#derived.size >= KEY_CACHE_SIZE) this.#derived.delete(this.#derived.keys().next().value as string);
      this.#derived.set(salt, key);
    }
    return key;
  }
}

/** Whole seconds of a refresh token's access-token lifetime: what `exp - iat` is when signed, and may be at most. */
const lifetimeSeconds = (refreshToken: RefreshToken): number => Math.floor(refreshToken.accessTokenTtlMs / 1000);

export async function signAccessToken(refreshToken: RefreshToken, keys: AccessTokenKeys, now: number = Date.now()): Promise<string> {
  const issuedAt = Math.floor(now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(refreshToken.id)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + lifetimeSeconds(refreshToken))
    .sign(keys.keyOf(refreshToken));
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
 * signature with that token's key, `iss` equal to its id, not expired, not issued in the future (both with leeway), and
 * living no longer than that token's access-token lifetime (`exp - iat`): whoever signed a token valid for longer was not us.
 */
export async function verifyAccessToken(
  accessToken: string,
  refreshToken: RefreshToken,
  keys: AccessTokenKeys,
  now: number = Date.now(),
): Promise<boolean> {
  try {
    const { payload } = await jwtVerify(accessToken, keys.keyOf(refreshToken), {
      algorithms: ['HS256'],
      issuer: refreshToken.id,
      clockTolerance: CLOCK_LEEWAY_SECONDS,
      currentDate: new Date(now),
      requiredClaims: ['iat', 'exp'],
    });
    const { iat, exp } = payload;
    return (
      typeof iat === 'number' &&
      typeof exp === 'number' &&
      iat <= Math.floor(now / 1000) + CLOCK_LEEWAY_SECONDS &&
      exp - iat <= lifetimeSeconds(refreshToken)
    );
  } catch {
    return false;
  }
}
