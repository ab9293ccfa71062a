/**
 * Users on Redis: a hash per user in its own slot (`{u:<tag>}`, keys.ts), with its credential id set; the owner marker and the
 * user list on small keys of their own. Creating a user crosses slots in an order that a crash cannot turn into a wrong owner.
 */
import type { MakeOwnerOutcome, NewUser, NewUserOptions, User, UserPatch } from '../types.js';
import { decodeInteger, decodeUser, flag, toHash } from './codec.js';
import { RedisRecords } from './records.js';

/**
 * How old an owner claim (or a credential's claim by createUserForCredential) must be before another user may take it over,
 * when the user it names was never written: that only happens when the claiming process died between two steps. Far past any
 * store call's deadline, so a claimant still alive has finished or failed by then.
 */
export const CLAIM_TAKEOVER_MS = 10_000;

/** Behind RedisStore's user methods (the same names). */
export class RedisUsers extends RedisRecords {
  async createUser(user: NewUser, options: NewUserOptions = {}): Promise<User> {
    await this.writeUser(user, null, options);
    const created = await this.getUser(user.id);
    if (created === null) throw new Error(`User ${user.id} could not be read back`);
    return created;
  }

  /**
   * The steps of a new user, each atomic in its slot: (1) the user list entry (listUsers skips an entry whose user is missing,
   * so a crash after it leaves nothing visible); (2) with `claimOwner` only, the owner claim, `pending:<id>:<ms>` with SET NX
   * semantics; (3) the record,
   * as owner when the claim was won, with `credentialId` in its set; (4) the claim confirmed as the plain id. A crash after (2)
   * leaves a pending claim naming a missing user: the next user created after CLAIM_TAKEOVER_MS takes it over. A crash after (3)
   * leaves one naming a written user: the next user created confirms it for that user.
   */
  async writeUser(user: NewUser, credentialId: string | null, options: NewUserOptions): Promise<void> {
    await this.call(() => this.client.zAdd(this.keys.userIndex(), { score: user.createdAt, value: user.id }, { NX: true }));
    const owner = options.claimOwner === true ? await this.claimOwner(user.id) : null;
    const keys = [this.keys.user(user.id), this.keys.userCredentials(user.id)];
    const args = [
      user.id,
      String(user.createdAt),
      user.name,
      JSON.stringify(user.groupIds),
      flag(user.isActive),
      flag(user.localOnly),
      owner === null ? '0' : '1',
      credentialId ?? '',
    ];
    const outcome = decodeInteger(await this.call(() => this.client.createUser(keys, args)));
    if (outcome === -1) {
      if (owner !== null) await this.compareAndSet(this.keys.owner(), owner, '');
      throw new Error(`User ${user.id} already exists`);
    }
    if (owner !== null) await this.compareAndSet(this.keys.owner(), owner, user.id);
  }

  /** The pending claim this user now holds (to confirm once written), or null when another user is (or will be) the owner. */
  private async claimOwner(userId: string): Promise<string | null> {
    for (;;) {
      const now = Date.now();
      const reply = await this.call(() => this.client.claimOwner([this.keys.owner()], [userId, String(now)]));
      const [outcome, marker] = Array.isArray(reply) ? reply.map(String) : [];
      if (outcome === 'won' && marker !== undefined) return marker;
      if (outcome !== 'pending' || marker === undefined) return null;
      // Another user's claim is pending: `pending:<id>:<ms>`; the id itself may hold ':' so the time is after the last one.
      const body = marker.slice('pending:'.length);
      const claimant = body.slice(0, body.lastIndexOf(':'));
      const claimedAt = Number(body.slice(body.lastIndexOf(':') + 1));
      if ((await this.getUser(claimant)) !== null) {
        await this.compareAndSet(this.keys.owner(), marker, claimant);
        return null;
      }
      if (now - claimedAt < CLAIM_TAKEOVER_MS) return null;
      // The claimant died before writing its user: take the claim over (and go round to read it back as ours).
      await this.compareAndSet(this.keys.owner(), marker, `pending:${userId}:${now}`);
    }
  }

  /**
   * Moves the owner marker to this user unless it names another user who exists (or one whose claim is still pending, being
   * written): as a claim, `pending:<id>:<ms>`, then the record's owner flag, then the plain id, so that a crash between the
   * steps leaves a pending claim that the next claimant takes over (writeUser's order).
   */
  async makeOwner(userId: string): Promise<MakeOwnerOutcome> {
    if ((await this.getUser(userId)) === null) return 'not_found';
    const key = this.keys.owner();
    for (;;) {
      const marker = await this.call(() => this.client.get(key));
      const now = Date.now();
      if (marker !== null && marker !== userId) {
        const pending = marker.startsWith('pending:');
        const body = marker.slice('pending:'.length);
        const claimant = pending ? body.slice(0, body.lastIndexOf(':')) : marker;
        const young = pending && now - Number(body.slice(body.lastIndexOf(':') + 1)) < CLAIM_TAKEOVER_MS;
        if (claimant !== userId && (young || (await this.getUser(claimant)) !== null)) return 'owner_exists';
      }
      const claim = `pending:${userId}:${now}`;
      const won =
        marker === null ? (await this.call(() => this.client.set(key, claim, { NX: true }))) !== null : await this.compareAndSet(key, marker, claim);
      if (!won) continue;
      const flagged = await this.call(() => this.client.updateUser([this.keys.user(userId)], ['owner', '1']));
      await this.compareAndSet(key, claim, flagged === null ? '' : userId);
      return flagged === null ? 'not_found' : 'ok';
    }
  }

  async getUser(id: string): Promise<User | null> {
    const key = this.keys.user(id);
    return decodeUser(await this.call(() => this.client.hGetAll(key)));
  }

  async listUsers(): Promise<User[]> {
    const index = this.keys.userIndex();
    // ZRANGE orders by createdAt (the score), then by id for equal timestamps.
    const ids = await this.call(() => this.client.zRange(index, 0, -1));
    const users = await Promise.all(ids.map((id) => this.getUser(id)));
    return users.filter((user): user is User => user !== null);
  }

  async updateUser(id: string, patch: UserPatch): Promise<User | null> {
    const fields: string[] = [];
    if (patch.name !== undefined) fields.push('name', patch.name);
    if (patch.isActive !== undefined) fields.push('active', flag(patch.isActive));
    if (patch.groupIds !== undefined) fields.push('groups', JSON.stringify(patch.groupIds));
    if (patch.localOnly !== undefined) fields.push('local', flag(patch.localOnly));
    const key = this.keys.user(id);
    const reply = await this.call(() => this.client.updateUser([key], fields));
    return reply === null ? null : decodeUser(toHash(reply));
  }

  /**
   * The user's own slot in one script (record, tokens, MFA settings, sets), then what lives elsewhere: its credentials first
   * (so a crash never leaves a login to a removed user), the token index entries and aliases, the user list entry. A crash
   * part way leaves entries that name missing records, which every reader skips; removing the user again finishes the job.
   */
  async removeUser(id: string, removeCredentials: (userId: string) => Promise<void>): Promise<boolean> {
    await removeCredentials(id);
    const tag = this.keys.userTag(id);
    const keys = [this.keys.user(id), this.keys.userRefreshTokensAt(tag, id), this.keys.mfaSettings(id), this.keys.userCredentials(id)];
    const reply = await this.call(() => this.client.removeUser(keys, [this.keys.refreshTokenAt(tag, '')]));
    const [removed, ...indexed] = Array.isArray(reply) ? reply.map(String) : ['0'];
    const cleanups: Array<Promise<unknown>> = [this.call(() => this.client.zRem(this.keys.userIndex(), id))];
    for (let i = 0; i + 1 < indexed.length; i += 2) {
      const [index, tokenId] = [indexed[i] ?? '', indexed[i + 1] ?? ''];
      cleanups.push(this.compareAndSet(index, tokenId, ''), this.call(() => this.client.del(this.keys.refreshTokenAlias(tokenId))));
    }
    await Promise.all(cleanups);
    return removed === '1';
  }
}
