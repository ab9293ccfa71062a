/**
 * Refresh tokens on Redis: a hash per token (PEXPIREAT at expireAt), a tokenHash -> id index expiring with it, and a per-user
 * set of ids, all under the directory tag so that removeUser and the long-lived name check are single scripts (scripts.ts).
 */
import type { RefreshToken, RefreshTokenCreation } from '../types.js';
import { decodeInteger, decodeRefreshToken, encodeOptionalInteger, encodeRefreshTokenFields } from './codec.js';
import { RedisRecords } from './records.js';

/** Behind RedisStore's RefreshTokenStore methods. */
export class RedisRefreshTokens extends RedisRecords {
  async create(token: RefreshToken, maxPerUser: number, keepId?: string): Promise<RefreshTokenCreation> {
    const keys = [
      this.keys.refreshToken(token.id),
      this.keys.refreshTokenIndex(token.tokenHash),
      this.keys.userRefreshTokens(token.userId),
    ];
    const args = [
      this.keys.refreshToken(''),
      String(Date.now()),
      token.id,
      token.type,
      JSON.stringify(token.clientName),
      encodeOptionalInteger(token.expireAt),
      String(maxPerUser),
      keepId ?? '',
      ...encodeRefreshTokenFields(token),
    ];
    const reply = await this.call(() => this.client.createRefreshToken(keys, args));
    const [outcome, ...evicted] = Array.isArray(reply) ? reply : [];
    switch (decodeInteger(outcome)) {
      case 1:
        return { outcome: 'created', evicted: evicted.map(String) };
      case 0:
        return { outcome: 'name_taken' };
      case 2:
        return { outcome: 'limit_reached' };
      default:
        throw new Error(`Refresh token ${token.id} (or its hash) already exists`);
    }
  }

  async get(id: string): Promise<RefreshToken | null> {
    const key = this.keys.refreshToken(id);
    return decodeRefreshToken(await this.call(() => this.client.hGetAll(key)), Date.now());
  }

  async findByHash(tokenHash: string): Promise<RefreshToken | null> {
    const index = this.keys.refreshTokenIndex(tokenHash);
    const id = await this.call(() => this.client.get(index));
    if (id === null) return null;
    const token = await this.get(id);
    // The index and the token are written and dropped together; the check only guards against a hand-edited database.
    return token?.tokenHash === tokenHash ? token : null;
  }

  list(userId: string): Promise<RefreshToken[]> {
    return this.listMembers(this.keys.userRefreshTokens(userId), (id) => this.get(id));
  }

  async touch(id: string, usedAt: number, usedIp: string | null, expireAt: number | null): Promise<boolean> {
    const key = this.keys.refreshToken(id);
    const args = [String(Date.now()), String(usedAt), JSON.stringify(usedIp), encodeOptionalInteger(expireAt)];
    return decodeInteger(await this.call(() => this.client.touchRefreshToken([key], args))) === 1;
  }

  async delete(id: string): Promise<boolean> {
    const key = this.keys.refreshToken(id);
    const args = [String(Date.now()), id, this.keys.userRefreshTokens('')];
    return decodeInteger(await this.call(() => this.client.deleteRefreshToken([key], args))) === 1;
  }
}
