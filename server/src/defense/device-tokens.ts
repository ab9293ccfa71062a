/**
 * Device tokens (OWASP's "device cookies"): proof that a client once logged in to an account, so that an attack on the account
 * from elsewhere does not lock that client out. A JWT (HS256, `jose`) signed with a key derived from the server's secret and a
 * salt every instance shares through the store: the store holds only the salt, so a copy of it forges no device token.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { MAX_TOKEN_LENGTH } from '@flowgate/shared';
import { randomId } from '../crypto.js';
import { newKeySalt, type ServerSecret } from '../secrets/server-secret.js';
import type { LoginDefenseStore } from '../store/login-defense.js';

/** A device trusted for one account: `id` keys the device's own failure counter. */
export interface TrustedDevice {
  readonly id: string;
  readonly account: string;
}

const ISSUER = 'flowgate-device';
/** The shared salt's name in the store (the key itself was kept there as `device-token-key` before secret_key). */
const SALT_NAME = 'device-token-salt';
/** Longer than any token Flowgate issues (about 250 characters): the wire limit of every token, past which it is refused unread. */
const MAX_DEVICE_TOKEN_LENGTH = MAX_TOKEN_LENGTH;

export class DeviceTokens {
  private key: Promise<KeyObject> | undefined;

  constructor(
    private readonly store: Pick<LoginDefenseStore, 'sharedSecret'>,
    private readonly secret: ServerSecret,
    private readonly ttlMs: number,
  ) {}

  async issue(account: string, now: number = Date.now()): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setSubject(account)
      .setJti(randomId())
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor((now + this.ttlMs) / 1000))
      .sign(await this.signingKey());
  }

  /** The device a token proves, or null for anything else (forged, expired, garbage): an untrusted client, never an error. */
  async verify(token: string): Promise<TrustedDevice | null> {
    if (token.length > MAX_DEVICE_TOKEN_LENGTH) return null;
    try {
      const { payload } = await jwtVerify(token, await this.signingKey(), { issuer: ISSUER, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string') return null;
      return { id: payload.jti, account: payload.sub };
    } catch {
      return null;
    }
  }

  /** The salt fetched once per process; a failed fetch (store down) is retried on the next call instead of being remembered. */
  private signingKey(): Promise<KeyObject> {
    this.key ??= this.store.sharedSecret(SALT_NAME, newKeySalt()).then(
      (salt) => createSecretKey(this.secret.derive('deviceToken', salt)),
      (error: unknown) => {
        this.key = undefined;
        throw error;
      },
    );
    return this.key;
  }
}
