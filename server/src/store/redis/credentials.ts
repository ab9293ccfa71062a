/**
 * Credentials on Redis: each in the slot of its index entry (`{c:<tag>}`, keys.ts), the tag carried in its id, so that
 * get-or-create is one script. What crosses slots (a rename, binding to a user) goes in an order whose crash leaves entries
 * that readers recognise as stale: an index entry is live only while its credential names it back.
 */
import { routedId } from '../ids.js';
import type { Credential, JsonObject, NewUser, NewUserOptions, UserForCredential } from '../types.js';
import type { FlowgateRedis } from './client.js';
import { decodeCredential, decodeInteger, toHash } from './codec.js';
import type { RedisKeys } from './keys.js';
import { RedisRecords, type Gate } from './records.js';
import { CLAIM_TAKEOVER_MS, type RedisUsers } from './users.js';

/** How long a login waits between looks at a credential whose racing first login is still writing its user. */
const CLAIM_POLL_MS = 10;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Behind RedisStore's credential methods (the same names). */
export class RedisCredentials extends RedisRecords {
  constructor(
    client: FlowgateRedis,
    keys: RedisKeys,
    private readonly users: RedisUsers,
    afterLayout: Gate,
  ) {
    super(client, keys, afterLayout);
  }

  async getOrCreateCredential(providerType: string, providerId: string | null, subject: string, data: JsonObject): Promise<Credential> {
    const tag = this.keys.credentialTag(providerType, providerId, subject);
    const index = this.keys.credentialIndex(providerType, providerId, subject);
    let stale = '';
    for (;;) {
      const id = routedId(tag);
      const args = [this.keys.credentialAt(tag, ''), id, providerType, JSON.stringify(providerId), subject, JSON.stringify(data), String(Date.now()), stale];
      const reply = await this.call(() => this.client.getOrCreateCredential([index, this.keys.credentialAt(tag, id)], args));
      const [outcome, ...rest] = Array.isArray(reply) ? reply.map(String) : [];
      if (outcome === 'elsewhere') {
        // A credential renamed to this subject: live when it names this entry back, or still moving to it.
        const holder = rest[0] ?? '';
        const state = await this.holderState(index, holder);
        if (state.state === 'live') return state.credential;
        if (state.state === 'moving') await sleep(CLAIM_POLL_MS);
        else stale = holder;
        continue;
      }
      const credential = decodeCredential(toHash(rest));
      if (credential === null) throw new Error(`Credential for ${providerType} ${subject} could not be read back`);
      return credential;
    }
  }

  async getCredential(id: string): Promise<Credential | null> {
    return decodeCredential(await this.call(() => this.client.hGetAll(this.keys.credential(id))));
  }

  async findCredential(providerType: string, providerId: string | null, subject: string): Promise<Credential | null> {
    const index = this.keys.credentialIndex(providerType, providerId, subject);
    const id = await this.call(() => this.client.get(index));
    if (id === null) return null;
    const state = await this.holderState(index, id);
    return state.state === 'live' ? state.credential : null;
  }

  /**
   * What the credential `id` that `index` names is to that entry: `live` when it exists and names the entry back, `moving`
   * while a rename to the entry is in progress (started less than CLAIM_TAKEOVER_MS ago), else `stale` (left by a crash).
   */
  private async holderState(index: string, id: string): Promise<{ state: 'live'; credential: Credential } | { state: 'moving' | 'stale' }> {
    const hash = await this.call(() => this.client.hGetAll(this.keys.credential(id)));
    const credential = decodeCredential(hash);
    if (credential !== null && hash['idx'] === index) return { state: 'live', credential };
    const moving = credential !== null && hash['moving'] === index && Date.now() - Number(hash['moving-at']) < CLAIM_TAKEOVER_MS;
    return { state: moving ? 'moving' : 'stale' };
  }

  /** The user's set may name credentials bound elsewhere or gone (a crash between two steps): only those bound to the user count. */
  async listCredentials(userId: string): Promise<Credential[]> {
    const ids = await this.call(() => this.client.sMembers(this.keys.userCredentials(userId)));
    const found = await Promise.all(ids.map((id) => this.getCredential(id)));
    return found
      .filter((credential): credential is Credential => credential !== null && credential.userId === userId)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async updateCredentialData(credentialId: string, data: JsonObject, expected?: JsonObject): Promise<boolean> {
    const key = this.keys.credential(credentialId);
    const args = [JSON.stringify(data), ...(expected === undefined ? [] : [JSON.stringify(expected)])];
    return decodeInteger(await this.call(() => this.client.updateCredentialData([key], args))) === 1;
  }

  /** The credential first, then its index entry (when it still names it) and its user's set entry, in their own slots. */
  async removeCredential(credentialId: string, expectedUser = ''): Promise<boolean> {
    const reply = await this.call(() => this.client.removeCredential([this.keys.credential(credentialId)], [expectedUser]));
    const [removed, index, userId] = Array.isArray(reply) ? reply.map(String) : ['0'];
    if (removed !== '1') return false;
    const cleanups: Array<Promise<unknown>> = [this.compareAndSet(index ?? '', credentialId, '')];
    if (userId !== undefined && userId !== '') cleanups.push(this.call(() => this.client.sRem(this.keys.userCredentials(userId), credentialId)));
    await Promise.all(cleanups);
    return true;
  }

  /** Every credential bound to the user (removeUser's first step). */
  async removeCredentialsOf(userId: string): Promise<void> {
    const ids = await this.call(() => this.client.sMembers(this.keys.userCredentials(userId)));
    await Promise.all(ids.map((id) => this.removeCredential(id, userId)));
  }

  /**
   * (1) Marks the credential as moving, (2) claims the new subject's entry (SET NX semantics; an entry a crash left behind is
   * taken over, one a racing rename is moving to is not), (3) points the credential at it, (4) frees the old entry when it
   * still names the credential. A crash after (2) leaves the new entry stale once the mark is old (the credential does not
   * name it back): the old subject still logs in, as if the rename never happened. After (3) the old entry is stale: the new
   * subject logs in, and the old one is free for the taking.
   */
  async changeCredentialSubject(credentialId: string, subject: string): Promise<'ok' | 'taken' | 'not_found'> {
    const credential = await this.getCredential(credentialId);
    if (credential === null) return 'not_found';
    const key = this.keys.credential(credentialId);
    const index = this.keys.credentialIndex(credential.providerType, credential.providerId, subject);
    if (decodeInteger(await this.call(() => this.client.startMove([key], [index, String(Date.now())]))) !== 1) return 'not_found';
    let stale = '';
    for (;;) {
      const holder = String(await this.call(() => this.client.claimCredentialIndex([index], [credentialId, stale])));
      if (holder === 'ok') break;
      if ((await this.holderState(index, holder)).state !== 'stale') {
        await this.call(() => this.client.moveCredential([key], [subject, '']));
        return 'taken';
      }
      stale = holder;
    }
    const old = await this.call(() => this.client.moveCredential([key], [subject, index]));
    if (old === null) {
      await this.compareAndSet(index, credentialId, '');
      return 'not_found';
    }
    if (String(old) !== index) await this.compareAndSet(String(old), credentialId, '');
    return 'ok';
  }

  /** The user's set first, so a crash leaves at most an id there that the credential does not name back (listCredentials skips it). */
  async linkCredential(credentialId: string, userId: string): Promise<boolean> {
    const keys = [this.keys.user(userId), this.keys.userCredentials(userId)];
    if (decodeInteger(await this.call(() => this.client.addUserCredential(keys, [credentialId]))) !== 1) return false;
    const bound = await this.bind(credentialId, userId, '', false);
    return bound[0] === 'ok';
  }

  private async bind(credentialId: string, userId: string, stale: string, claim: boolean): Promise<string[]> {
    const args = [userId, String(Date.now()), stale, claim ? '1' : '0'];
    const reply = await this.call(() => this.client.bindCredential([this.keys.credential(credentialId)], args));
    return Array.isArray(reply) ? reply.map(String) : ['none'];
  }

  /**
   * The credential is claimed for the new user first (so racing first logins agree on one user id), then the user is written
   * (writeUser, with the credential in its set). A racing login that finds the claim waits for the user to appear; a claim
   * whose user never appears within CLAIM_TAKEOVER_MS (its process died) is taken over. A credential bound by linkCredential
   * to a user that is gone answers null, as before.
   */
  async createUserForCredential(credentialId: string, user: NewUser, options: NewUserOptions = {}): Promise<UserForCredential | null> {
    let stale = '';
    for (;;) {
      const [outcome, boundTo = '', claimedAt = ''] = await this.bind(credentialId, user.id, stale, true);
      if (outcome === 'none') return null;
      if (outcome === 'ok') {
        await this.users.writeUser(user, credentialId, options);
        const created = await this.users.getUser(user.id);
        return created === null ? null : { user: created, created: true };
      }
      const existing = await this.users.getUser(boundTo);
      if (existing !== null) return { user: existing, created: false };
      if (claimedAt === '') return null;
      if (Date.now() - Number(claimedAt) > CLAIM_TAKEOVER_MS) stale = boundTo;
      else await sleep(CLAIM_POLL_MS);
    }
  }
}
