/**
 * Key layout 3: a refresh token keeps a salt, and its signing key is derived from that salt and the server's `secret_key`
 * (never stored). The layouts before kept each token's key in clear (`jwt`), so that a copy of the store signed access tokens
 * for every live session: those tokens are revoked here (their users log in again), with the device-token key of the same era.
 */
import { redisCall, type FlowgateRedis } from './client.js';
import type { RedisKeys } from './keys.js';
import { RedisRefreshTokens } from './refresh-tokens.js';

/** The shared secret that signed device tokens before their key was derived from `secret_key`: it signs nothing any more. */
const OLD_DEVICE_TOKEN_KEY = 'device-token-key';
/** Users whose tokens are looked at together: enough to hide the round trips of a large directory, few enough not to flood Redis. */
const USERS_AT_ONCE = 64;

/** Deletes every live refresh token that holds a clear key, as a revocation does (index entry and alias too); returns how many. */
export async function revokeClearKeyTokens(client: FlowgateRedis, keys: RedisKeys): Promise<number> {
  const call = <T>(run: () => Promise<T>): Promise<T> => redisCall(run, client);
  const tokens = new RedisRefreshTokens(client, keys);
  // Every token lives in its user's set (the create script adds it there), so the users' index reaches all of them, in a
  // cluster too, where a SCAN would have to visit every master.
  const users = await call(() => client.zRange(keys.userIndex(), 0, -1));
  const revokeOf = async (userId: string): Promise<number> => {
    const tag = keys.userTag(userId);
    let revoked = 0;
    for (const id of await call(() => client.sMembers(keys.userRefreshTokensAt(tag, userId)))) {
      const clear = Number(await call(() => client.hExists(keys.refreshTokenAt(tag, id), 'jwt'))) === 1;
      if (clear && (await tokens.delete(id))) revoked += 1;
    }
    return revoked;
  };
  let revoked = 0;
  for (let i = 0; i < users.length; i += USERS_AT_ONCE) {
    for (const count of await Promise.all(users.slice(i, i + USERS_AT_ONCE).map(revokeOf))) revoked += count;
  }
  await call(() => client.del(keys.secret(OLD_DEVICE_TOKEN_KEY)));
  return revoked;
}
