/**
 * A Redis store as key layout 1 (earlier builds of Flowgate) left it: the directory under `{directory}`, login defense under
 * `{login-defense}`, written key by key exactly as that layout's scripts wrote them. What the migration tests start from.
 */
import { createHash, createSecretKey, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { randomId } from '../../server/src/crypto.js';
import { hashPassword } from '../../server/src/providers/password.js';
import type { RefreshToken } from '../../server/src/store/types.js';
import { TEST_CLIENT_ID } from './login.js';

/** A refresh token as layouts 1 and 2 kept it: its access tokens' HMAC key in clear (`jwt`), no salt, no login time. */
type OldRefreshToken = Omit<RefreshToken, 'keySalt' | 'loggedInAt'> & { readonly jwtKey: string };

/** An access token as the versions before secret_key signed it: HS256 with the refresh token's stored key. */
export function signWithClearKey(token: OldRefreshToken, now: number): Promise<string> {
  const issuedAt = Math.floor(now / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuer(token.id).setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + Math.floor(token.accessTokenTtlMs / 1000)).sign(createSecretKey(Buffer.from(token.jwtKey, 'utf8')));
}

/** The few commands the writer needs: a single-node client and a cluster client (all these keys share one slot) both have them. */
export interface OldLayoutWriter {
  hSet(key: string, value: Record<string, string>): Promise<unknown>;
  set(key: string, value: string, options?: { PX: number }): Promise<unknown>;
  sAdd(key: string, member: string): Promise<unknown>;
  zAdd(key: string, members: Array<{ score: number; value: string }>): Promise<unknown>;
  pExpireAt(key: string, at: number): Promise<unknown>;
}

/** What a layout-1 store held. */
export interface OldStore {
  readonly alice: string;
  readonly bob: string;
  readonly credentialId: string;
  /** Ids of alice's normal and long-lived tokens (layout 1 ids: 32 hex, no tag). */
  readonly normalTokenId: string;
  readonly longLivedTokenId: string;
  /** The secret of alice's normal refresh token, as the client keeps it. */
  readonly refreshSecret: string;
  /** An access token of alice's long-lived token: its `iss` is the token's layout-1 id. */
  readonly longLivedAccessToken: string;
}

/** Cheap argon2, so writing the password hash costs little; the provider verifies any parameters. */
const ARGON2 = { memoryKib: 1024, timeCost: 1, parallelism: 1 };
const DAY = 86_400_000;
export const OLD_PASSWORD = 'wonderland-1';
export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A refresh token's hash and index entry exactly as layout 1's createRefreshToken script wrote them. */
async function writeOldToken(raw: OldLayoutWriter, dir: (...segments: string[]) => string, token: OldRefreshToken): Promise<void> {
  const index = dir('refresh-token-index', token.tokenHash);
  const key = dir('refresh-token', token.id);
  await raw.hSet(key, {
    id: token.id, type: token.type, cname: JSON.stringify(token.clientName), exp: token.expireAt === null ? '' : String(token.expireAt), idx: index,
    user: token.userId, cid: JSON.stringify(token.clientId), hash: token.tokenHash, jwt: token.jwtKey, ttl: String(token.accessTokenTtlMs),
    cred: JSON.stringify(token.credentialId), created: String(token.createdAt), used: '', uip: 'null',
  });
  await raw.set(index, token.id);
  await raw.sAdd(dir('user-refresh-tokens', token.userId), token.id);
  if (token.expireAt !== null) await Promise.all([raw.pExpireAt(key, token.expireAt), raw.pExpireAt(index, token.expireAt)]);
}

/**
 * Writes, under `prefix`: alice (the owner, with a password login, a normal and a long-lived token and TOTP settings) and bob;
 * a ban of 192.0.2.9, two failures of 192.0.2.10 in a one-minute window and the device token key. 16 keys in all.
 */
export async function writeOldStore(raw: OldLayoutWriter, prefix = 'default'): Promise<OldStore> {
  const dir = (...segments: string[]): string => ['flowgate', prefix, '{directory}', ...segments].join(':');
  const defense = (...segments: string[]): string => ['flowgate', prefix, '{login-defense}', ...segments].join(':');
  const [alice, bob, credentialId] = [randomId(), randomId(), randomId()];
  const now = Date.now();
  await raw.set(dir('owner'), alice);
  const user = (id: string, name: string, owner: boolean, created: number) => ({
    id, name, groups: JSON.stringify([owner ? 'system-admin' : 'system-users']), active: '1', local: '0', owner: owner ? '1' : '0', created: String(created),
  });
  await raw.hSet(dir('user', alice), user(alice, 'Alice', true, now - 2_000));
  await raw.hSet(dir('user', bob), user(bob, 'Bob', false, now - 1_000));
  await raw.zAdd(dir('users'), [{ score: now - 2_000, value: alice }, { score: now - 1_000, value: bob }]);
  const index = dir('credential-index', JSON.stringify(['password', null, 'alice']));
  const data = JSON.stringify({ password_hash: await hashPassword(OLD_PASSWORD, ARGON2) });
  await raw.hSet(dir('credential', credentialId), { id: credentialId, type: 'password', pid: 'null', subject: 'alice', data, user: alice, created: String(now), idx: index });
  await raw.set(index, credentialId);
  await raw.sAdd(dir('user-credentials', alice), credentialId);
  const refreshSecret = randomBytes(64).toString('hex');
  const base = {
    userId: alice, clientId: TEST_CLIENT_ID, jwtKey: randomBytes(64).toString('hex'), accessTokenTtlMs: 1_800_000,
    credentialId, createdAt: now, lastUsedAt: null, lastUsedIp: null,
  };
  const normalTokenId = randomId();
  await writeOldToken(raw, dir, { ...base, id: normalTokenId, type: 'normal', clientName: null, tokenHash: sha256(refreshSecret), expireAt: now + 90 * DAY });
  const longLived: OldRefreshToken = {
    ...base, id: randomId(), type: 'long_lived_access_token', clientId: null, clientName: 'CLI', tokenHash: sha256(randomId()),
    jwtKey: randomBytes(64).toString('hex'), accessTokenTtlMs: 3_650 * DAY, expireAt: null,
  };
  await writeOldToken(raw, dir, longLived);
  await raw.hSet(dir('mfa', alice), { totp: `0a1b2c:${JSON.stringify({ secret: 'JBSWY3DPEHPK3PXP' })}` });
  await raw.hSet(defense('bans'), { '192.0.2.9': String(now) });
  await raw.set(defense('secret', 'device-token-key'), 'the-shared-key');
  await raw.set(defense('failures', 'address', '192.0.2.10'), '2', { PX: 60_000 });
  return {
    alice, bob, credentialId, normalTokenId, longLivedTokenId: longLived.id, refreshSecret,
    longLivedAccessToken: await signWithClearKey(longLived, now),
  };
}
