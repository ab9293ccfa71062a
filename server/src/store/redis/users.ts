/** Users and credentials on Redis: hashes under the directory hash tag (see keys.ts), fields written by the Lua scripts in scripts.ts. */
import { randomId } from '../../crypto.js';
import type { Credential, JsonObject, NewUser, User, UserForCredential, UserPatch } from '../types.js';
import { decodeCredential, decodeInteger, decodeUser, flag, toHash } from './codec.js';
import { RedisRecords } from './records.js';

/** Behind RedisStore's user and credential methods (the same names). */
export class RedisUsers extends RedisRecords {
  async createUser(user: NewUser): Promise<User> {
    const keys = [this.keys.owner(), this.keys.user(user.id), this.keys.userIndex()];
    const args = [user.id, String(user.createdAt), user.name, JSON.stringify(user.groupIds), flag(user.isActive), flag(user.localOnly)];
    const outcome = decodeInteger(await this.call(() => this.client.createUser(keys, args)));
    if (outcome === -1) throw new Error(`User ${user.id} already exists`);
    const created = await this.getUser(user.id);
    if (created === null) throw new Error(`User ${user.id} could not be read back`);
    return created;
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

  async removeUser(id: string): Promise<boolean> {
    const keys = [
      this.keys.user(id),
      this.keys.userIndex(),
      this.keys.userCredentials(id),
      this.keys.userRefreshTokens(id),
      this.keys.mfaSettings(id),
    ];
    const args = [id, this.keys.credential(''), this.keys.refreshToken('')];
    const removed = await this.call(() => this.client.removeUser(keys, args));
    return decodeInteger(removed) === 1;
  }

  async getOrCreateCredential(
    providerType: string,
    providerId: string | null,
    subject: string,
    data: JsonObject,
  ): Promise<Credential> {
    const id = randomId();
    const keys = [this.keys.credentialIndex(providerType, providerId, subject), this.keys.credential(id)];
    const args = [
      this.keys.credential(''),
      id,
      providerType,
      JSON.stringify(providerId),
      subject,
      JSON.stringify(data),
      String(Date.now()),
    ];
    const credential = decodeCredential(toHash(await this.call(() => this.client.getOrCreateCredential(keys, args))));
    if (credential === null) throw new Error(`Credential for ${providerType} ${subject} could not be read back`);
    return credential;
  }

  async getCredential(id: string): Promise<Credential | null> {
    const key = this.keys.credential(id);
    return decodeCredential(await this.call(() => this.client.hGetAll(key)));
  }

  async findCredential(providerType: string, providerId: string | null, subject: string): Promise<Credential | null> {
    const index = this.keys.credentialIndex(providerType, providerId, subject);
    const id = await this.call(() => this.client.get(index));
    return id === null ? null : this.getCredential(id);
  }

  listCredentials(userId: string): Promise<Credential[]> {
    return this.listMembers(this.keys.userCredentials(userId), (id) => this.getCredential(id));
  }

  async updateCredentialData(credentialId: string, data: JsonObject, expected?: JsonObject): Promise<boolean> {
    const key = this.keys.credential(credentialId);
    const args = [JSON.stringify(data), ...(expected === undefined ? [] : [JSON.stringify(expected)])];
    const updated = await this.call(() => this.client.updateCredentialData([key], args));
    return decodeInteger(updated) === 1;
  }

  async removeCredential(credentialId: string): Promise<boolean> {
    const key = this.keys.credential(credentialId);
    const removed = await this.call(() => this.client.removeCredential([key], [credentialId, this.keys.userCredentials('')]));
    return decodeInteger(removed) === 1;
  }

  async changeCredentialSubject(credentialId: string, subject: string): Promise<'ok' | 'taken' | 'not_found'> {
    const credential = await this.getCredential(credentialId);
    if (credential === null) return 'not_found';
    const keys = [this.keys.credential(credentialId), this.keys.credentialIndex(credential.providerType, credential.providerId, subject)];
    const outcome = await this.call(() => this.client.changeCredentialSubject(keys, [credentialId, subject]));
    if (outcome !== 'ok' && outcome !== 'taken' && outcome !== 'not_found') throw new Error(`Unexpected reply ${String(outcome)}`);
    return outcome;
  }

  async linkCredential(credentialId: string, userId: string): Promise<boolean> {
    const keys = [this.keys.credential(credentialId), this.keys.user(userId), this.keys.userCredentials(userId)];
    const linked = await this.call(() => this.client.linkCredential(keys, [credentialId, userId]));
    return decodeInteger(linked) === 1;
  }

  async createUserForCredential(credentialId: string, user: NewUser): Promise<UserForCredential | null> {
    const keys = [
      this.keys.credential(credentialId),
      this.keys.owner(),
      this.keys.user(user.id),
      this.keys.userIndex(),
      this.keys.userCredentials(user.id),
    ];
    const args = [
      credentialId,
      user.id,
      String(user.createdAt),
      user.name,
      JSON.stringify(user.groupIds),
      flag(user.isActive),
      this.keys.user(''),
      flag(user.localOnly),
    ];
    const reply = await this.call(() => this.client.createUserForCredential(keys, args));
    if (!Array.isArray(reply) || (reply[0] !== 'linked' && reply[0] !== 'created')) return null;
    const found = decodeUser(toHash(reply.slice(1)));
    return found === null ? null : { user: found, created: reply[0] === 'created' };
  }
}
