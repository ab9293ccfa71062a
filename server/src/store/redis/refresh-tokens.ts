/**
 * Refresh tokens on Redis: a hash per token (PEXPIREAT at expireAt) and a per-user set of ids, both in the user's slot so the
 * per-user cap and the long-lived name check stay one script; a tokenHash -> id index entry in the hash's own slot, expiring
 * with the token. A token id made by newRefreshTokenId carries its user's tag, so reading it by id is one hop; any other id
 * (ids of the previous layout) is found through an alias key naming its user, one hop more.
 */
import { tagOfId } from '../ids.js';
import type { RefreshToken, RefreshTokenCreation, SessionState } from '../types.js';
import { decodeInteger, decodeRefreshToken, decodeUser, encodeOptionalInteger, encodeRefreshTokenFields, toHash } from './codec.js';
import { RedisRecords } from './records.js';

/** Behind RedisStore's RefreshTokenStore methods. */
export class RedisRefreshTokens extends RedisRecords {
  /**
   * (1) The index entry, SET NX (and the alias of an id without its user's tag), (2) the token in its user's slot, with the
   * cap and name checks. A refusal in (2) frees (1). A crash between them leaves an entry naming a missing token, which
   * findByHash answers as unknown (and which expires with the token's expiry); the secret was never handed out.
   */
  async create(token: RefreshToken, maxPerUser: number, keepId?: string): Promise<RefreshTokenCreation> {
    const tag = this.keys.userTag(token.userId);
    const routed = tagOfId(token.id);
    if (routed !== null && routed !== tag) throw new Error(`Refresh token id ${token.id} carries the tag of another user`);
    const index = this.keys.refreshTokenIndex(token.tokenHash);
    const expiry = token.expireAt === null ? {} : { PXAT: token.expireAt };
    if ((await this.call(() => this.client.set(index, token.id, { NX: true, ...expiry }))) === null) {
      throw new Error(`Refresh token ${token.id} (or its hash) already exists`);
    }
    const alias = routed === null ? this.keys.refreshTokenAlias(token.id) : null;
    if (alias !== null && (await this.call(() => this.client.set(alias, token.userId, { NX: true }))) === null) {
      if ((await this.call(() => this.client.get(alias))) !== token.userId) {
        await this.compareAndSet(index, token.id, '');
        throw new Error(`Refresh token ${token.id} already exists`);
      }
    }
    const keys = [this.keys.refreshTokenAt(tag, token.id), this.keys.userRefreshTokensAt(tag, token.userId)];
    const args = [
      this.keys.refreshTokenAt(tag, ''),
      String(Date.now()),
      token.id,
      token.type,
      JSON.stringify(token.clientName),
      encodeOptionalInteger(token.expireAt),
      String(maxPerUser),
      keepId ?? '',
      index,
      ...encodeRefreshTokenFields(token),
    ];
    const reply = await this.call(() => this.client.createRefreshToken(keys, args));
    const [outcome, ...evicted] = Array.isArray(reply) ? reply.map(String) : [];
    if (decodeInteger(outcome) !== 1) {
      await Promise.all([this.compareAndSet(index, token.id, ''), ...(alias === null || outcome === '-1' ? [] : [this.del(alias)])]);
    }
    switch (decodeInteger(outcome)) {
      case 1:
        return { outcome: 'created', evicted: await this.dropIndexes(evicted) };
      case 0:
        return { outcome: 'name_taken' };
      case 2:
        return { outcome: 'limit_reached' };
      default:
        throw new Error(`Refresh token ${token.id} (or its hash) already exists`);
    }
  }

  /** Frees the index entries and aliases of deleted tokens (`pairs`: index key, id, ...); returns the ids. */
  private async dropIndexes(pairs: readonly string[]): Promise<string[]> {
    const ids: string[] = [];
    const drops: Array<Promise<unknown>> = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const [index, id] = [pairs[i] ?? '', pairs[i + 1] ?? ''];
      ids.push(id);
      if (index !== '') drops.push(this.compareAndSet(index, id, ''));
      if (tagOfId(id) === null) drops.push(this.del(this.keys.refreshTokenAlias(id)));
    }
    await Promise.all(drops);
    return ids;
  }

  private del(key: string): Promise<number> {
    return this.call(() => this.client.del(key));
  }

  /** The user tag of the slot a token lives in: from its id, or (for an id without a tag) from its alias; null when unknown. */
  private async tagOf(id: string): Promise<string | null> {
    const routed = tagOfId(id);
    if (routed !== null) return routed;
    const userId = await this.call(() => this.client.get(this.keys.refreshTokenAlias(id)));
    return userId === null ? null : this.keys.userTag(userId);
  }

  async get(id: string): Promise<RefreshToken | null> {
    const tag = await this.tagOf(id);
    if (tag === null) return null;
    const key = this.keys.refreshTokenAt(tag, id);
    return decodeRefreshToken(await this.call(() => this.client.hGetAll(key)), Date.now());
  }

  /** One script in the user's slot when the token's id carries that user's tag (every id Flowgate makes now); else two reads. */
  async sessionState(id: string, userId: string, getUser: (id: string) => Promise<SessionState['user']>): Promise<SessionState> {
    const tag = this.keys.userTag(userId);
    if (tagOfId(id) !== tag) {
      const [refreshToken, user] = await Promise.all([this.get(id), getUser(userId)]);
      return { refreshToken, user };
    }
    const keys = [this.keys.refreshTokenAt(tag, id), this.keys.user(userId)];
    const reply = await this.call(() => this.client.sessionState(keys, []));
    const [token, user] = Array.isArray(reply) ? reply : [];
    return { refreshToken: decodeRefreshToken(toHash(token), Date.now()), user: decodeUser(toHash(user)) };
  }

  async findByHash(tokenHash: string): Promise<RefreshToken | null> {
    const index = this.keys.refreshTokenIndex(tokenHash);
    const id = await this.call(() => this.client.get(index));
    if (id === null) return null;
    const token = await this.get(id);
    // An entry a crash left behind (or a hand-edited database) may name a token that is gone or is another's.
    return token?.tokenHash === tokenHash ? token : null;
  }

  list(userId: string): Promise<RefreshToken[]> {
    const tag = this.keys.userTag(userId);
    return this.listMembers(this.keys.userRefreshTokensAt(tag, userId), async (id) => {
      const token = decodeRefreshToken(await this.call(() => this.client.hGetAll(this.keys.refreshTokenAt(tag, id))), Date.now());
      return token?.userId === userId ? token : null;
    });
  }

  /** The token in its slot, then its index entry to the same expiry (another slot): the entry never outlives the token by much. */
  async touch(id: string, usedAt: number, usedIp: string | null, expireAt: number | null): Promise<boolean> {
    const tag = await this.tagOf(id);
    if (tag === null) return false;
    const args = [String(Date.now()), String(usedAt), JSON.stringify(usedIp), encodeOptionalInteger(expireAt)];
    const index = await this.call(() => this.client.touchRefreshToken([this.keys.refreshTokenAt(tag, id)], args));
    if (index === null || index === undefined) return false;
    const key = String(index);
    await this.call(() => (expireAt === null ? this.client.persist(key) : this.client.pExpireAt(key, expireAt)));
    return true;
  }

  /** One script in the token's slot: the login time moves forward only, and only on a live token. */
  async recordLogin(id: string, loggedInAt: number): Promise<boolean> {
    const tag = await this.tagOf(id);
    if (tag === null) return false;
    const args = [String(Date.now()), String(loggedInAt)];
    return decodeInteger(await this.call(() => this.client.recordRefreshTokenLogin([this.keys.refreshTokenAt(tag, id)], args))) === 1;
  }

  /** The token and its set entry in its slot, then its index entry and alias (a crash between leaves them naming nothing). */
  async delete(id: string): Promise<boolean> {
    const tag = await this.tagOf(id);
    if (tag === null) return false;
    const args = [String(Date.now()), id, this.keys.userRefreshTokensAt(tag, '')];
    const reply = await this.call(() => this.client.deleteRefreshToken([this.keys.refreshTokenAt(tag, id)], args));
    const [live, index] = Array.isArray(reply) ? reply.map(String) : ['0'];
    await this.dropIndexes(index === undefined ? [] : [index, id]);
    return live === '1';
  }
}
