/** The shared Store on Redis (node-redis 6): what lets any server instance continue any flow. */
import { randomId } from '../../crypto.js';
import { DEFAULT_STORE_TIMEOUT_MS } from '../deadline.js';
import type {
  CasOutcome,
  Credential,
  JsonObject,
  RefreshToken,
  RefreshTokenCreation,
  Store,
  StoredFlow,
  StoreLogger,
  Unsubscribe,
  User,
  UserForCredential,
} from '../types.js';
import {
  connectInBackground,
  createRedisClient,
  DEFAULT_CONNECT_TIMEOUT_MS,
  isUsable,
  redisCall,
  watchConnection,
  type FlowgateRedis,
  type RedisMode,
} from './client.js';
import { createRedisClusterClient, parseClusterUrl } from './cluster.js';
import {
  decodeCasOutcome,
  decodeCredential,
  decodeFlow,
  decodeInteger,
  decodeJsonObject,
  decodeRefreshToken,
  decodeUser,
  encodeOptionalInteger,
  encodeRefreshTokenFields,
  flag,
  toHash,
} from './codec.js';
import { RedisEventBus } from './event-bus.js';
import { RedisLoginDefense } from './login-defense.js';
import { DEFAULT_KEY_PREFIX, redisKeys, type RedisKeys } from './keys.js';
import { acquireRedisLease, releaseRedisLease } from './leases.js';
import { createRedisSentinelClient, parseSentinelUrl } from './sentinel.js';

export interface RedisStoreOptions {
  /** `redis://` or `rediss://` URL, credentials included (or, by `mode`, a `redis+cluster://` or `redis+sentinel://` one). */
  readonly url: string;
  /** What logs and `description` show; must not contain the password. */
  readonly description: string;
  readonly logger: StoreLogger;
  /** Namespaces every key and channel (`flowgate:<prefix>:...`), so deployments or test runs can share one Redis. */
  readonly keyPrefix?: string;
  readonly connectTimeoutMs?: number;
  /** How long close() lets commands in flight finish before it drops the connections (default: the store deadline). */
  readonly closeTimeoutMs?: number;
  /** 'cluster': `url` names seed nodes of a Redis Cluster; 'sentinel': sentinels and the name of the master they watch. */
  readonly mode?: RedisMode;
}

function clientFor(mode: RedisMode, url: string, connectTimeoutMs: number): FlowgateRedis {
  switch (mode) {
    case 'cluster':
      return createRedisClusterClient(parseClusterUrl(url), connectTimeoutMs);
    case 'sentinel':
      return createRedisSentinelClient(parseSentinelUrl(url), connectTimeoutMs);
    default:
      return createRedisClient(url, connectTimeoutMs);
  }
}

/** Opens the store without waiting for Redis to be reachable: calls answer StoreUnavailableError until it is. */
export async function openRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  const keys = redisKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX);
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const mode = options.mode ?? 'single';
  const client = clientFor(mode, options.url, connectTimeoutMs);
  // A connection in subscriber mode cannot be shared with ordinary commands in RESP2, and a separate one keeps a burst of
  // commands from delaying event delivery in either protocol. A cluster subscriber needs no connection to every master: it
  // subscribes through one node (PUBLISH reaches every node of a cluster). A sentinel client's duplicate finds the master on
  // its own and tells when that master is reachable, which is what the subscriber's readiness is about.
  const subscriber: FlowgateRedis = 'getSlotRandomNode' in client ? client.duplicate({ minimizeConnections: true }) : client.duplicate();
  watchConnection(client, 'commands', options.description, options.logger, mode);
  watchConnection(subscriber, 'subscriber', options.description, options.logger, mode);
  const store = new RedisStore(client, subscriber, keys, options.description, options.logger, mode, options.closeTimeoutMs);
  const wanted = (): boolean => !store.closed;
  await Promise.all([
    connectInBackground(client, connectTimeoutMs, mode, wanted),
    connectInBackground(subscriber, connectTimeoutMs, mode, wanted),
  ]);
  return store;
}

export class RedisStore implements Store {
  readonly description: string;
  readonly #client: FlowgateRedis;
  readonly #subscriber: FlowgateRedis;
  readonly #keys: RedisKeys;
  readonly #events: RedisEventBus;
  readonly loginDefense: RedisLoginDefense;
  #closing: Promise<void> | undefined;
  readonly #closeTimeoutMs: number;

  constructor(
    client: FlowgateRedis,
    subscriber: FlowgateRedis,
    keys: RedisKeys,
    description: string,
    logger: StoreLogger,
    mode: RedisMode = 'single',
    closeTimeoutMs = DEFAULT_STORE_TIMEOUT_MS,
  ) {
    this.#closeTimeoutMs = closeTimeoutMs;
    this.#client = client;
    this.#subscriber = subscriber;
    this.#keys = keys;
    this.description = description;
    this.#events = new RedisEventBus(client, subscriber, keys, logger, mode);
    this.loginDefense = new RedisLoginDefense(client, keys, (call) => this.#call(call));
  }

  /** Every call goes through here: it fails fast while the client cannot send, and maps connection failures (client.ts). */
  #call<T>(call: () => Promise<T>): Promise<T> {
    return redisCall(call, this.#client);
  }

  /**
   * The records whose ids a per-user set holds, oldest first (then by id). Ids whose record is gone (expired, or removed by a
   * racing call) are skipped; the reads go out together, which node-redis pipelines.
   */
  async #listMembers<T extends { readonly id: string; readonly createdAt: number }>(
    setKey: string,
    read: (id: string) => Promise<T | null>,
  ): Promise<T[]> {
    const ids = await this.#call(() => this.#client.sMembers(setKey));
    const records: Array<T | null> = await Promise.all(ids.map(read));
    return records
      .filter((record): record is T => record !== null)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // Flows: one hash per flow (v = version, d = JSON data, x = expiresAt) with PEXPIREAT, so Redis itself forgets expired flows.

  async createFlow(id: string, data: JsonObject, expiresAt: number): Promise<StoredFlow> {
    const key = this.#keys.flow(id);
    const created = await this.#call(() => this.#client.createFlow([key], [JSON.stringify(data), String(expiresAt)]));
    if (decodeInteger(created) !== 1) throw new Error(`Flow ${id} already exists`);
    return { id, version: 1, data, expiresAt };
  }

  async getFlow(id: string): Promise<StoredFlow | null> {
    const key = this.#keys.flow(id);
    const [version, data, expiresAt] = await this.#call(() => this.#client.hmGet(key, ['v', 'd', 'x']));
    return decodeFlow(id, version, data, expiresAt);
  }

  async replaceFlow(id: string, expectedVersion: number, data: JsonObject, expiresAt: number): Promise<CasOutcome> {
    const key = this.#keys.flow(id);
    const args = [String(expectedVersion), JSON.stringify(data), String(expiresAt)];
    return decodeCasOutcome(await this.#call(() => this.#client.replaceFlow([key], args)));
  }

  async deleteFlow(id: string, expectedVersion: number): Promise<CasOutcome> {
    const key = this.#keys.flow(id);
    return decodeCasOutcome(await this.#call(() => this.#client.deleteFlow([key], [String(expectedVersion)])));
  }

  // Codes: a hash (c = client id, d = data) with PEXPIREAT; taking is a Lua script so two redemptions cannot both succeed.

  async putCode(code: string, clientId: string, data: JsonObject, expiresAt: number): Promise<void> {
    const key = this.#keys.code(code);
    await this.#call(() => this.#client.putCode([key], [clientId, JSON.stringify(data), String(expiresAt)]));
  }

  async takeCode(code: string, clientId: string): Promise<JsonObject | null> {
    const key = this.#keys.code(code);
    const data = await this.#call(() => this.#client.takeCode([key], [clientId]));
    return data === null ? null : decodeJsonObject(data);
  }

  // Users and credentials: hashes under the directory hash tag (see keys.ts), fields written by the Lua scripts in scripts.ts.

  async createUser(user: Omit<User, 'isOwner'>): Promise<User> {
    const keys = [this.#keys.owner(), this.#keys.user(user.id), this.#keys.userIndex()];
    const args = [user.id, String(user.createdAt), user.name, flag(user.isAdmin), flag(user.isActive)];
    const outcome = decodeInteger(await this.#call(() => this.#client.createUser(keys, args)));
    if (outcome === -1) throw new Error(`User ${user.id} already exists`);
    return { ...user, isOwner: outcome === 1 };
  }

  async getUser(id: string): Promise<User | null> {
    const key = this.#keys.user(id);
    return decodeUser(await this.#call(() => this.#client.hGetAll(key)));
  }

  async listUsers(): Promise<User[]> {
    const index = this.#keys.userIndex();
    // ZRANGE orders by createdAt (the score), then by id for equal timestamps.
    const ids = await this.#call(() => this.#client.zRange(index, 0, -1));
    const users = await Promise.all(ids.map((id) => this.getUser(id)));
    return users.filter((user): user is User => user !== null);
  }

  async updateUser(id: string, patch: Partial<Pick<User, 'name' | 'isAdmin' | 'isActive'>>): Promise<User | null> {
    const fields: string[] = [];
    if (patch.name !== undefined) fields.push('name', patch.name);
    if (patch.isAdmin !== undefined) fields.push('admin', flag(patch.isAdmin));
    if (patch.isActive !== undefined) fields.push('active', flag(patch.isActive));
    const key = this.#keys.user(id);
    const reply = await this.#call(() => this.#client.updateUser([key], fields));
    return reply === null ? null : decodeUser(toHash(reply));
  }

  async removeUser(id: string): Promise<boolean> {
    const keys = [
      this.#keys.user(id),
      this.#keys.userIndex(),
      this.#keys.userCredentials(id),
      this.#keys.userRefreshTokens(id),
    ];
    const args = [id, this.#keys.credential(''), this.#keys.refreshToken('')];
    const removed = await this.#call(() => this.#client.removeUser(keys, args));
    return decodeInteger(removed) === 1;
  }

  async getOrCreateCredential(
    providerType: string,
    providerId: string | null,
    subject: string,
    data: JsonObject,
  ): Promise<Credential> {
    const id = randomId();
    const keys = [this.#keys.credentialIndex(providerType, providerId, subject), this.#keys.credential(id)];
    const args = [
      this.#keys.credential(''),
      id,
      providerType,
      JSON.stringify(providerId),
      subject,
      JSON.stringify(data),
      String(Date.now()),
    ];
    const credential = decodeCredential(toHash(await this.#call(() => this.#client.getOrCreateCredential(keys, args))));
    if (credential === null) throw new Error(`Credential for ${providerType} ${subject} could not be read back`);
    return credential;
  }

  async getCredential(id: string): Promise<Credential | null> {
    const key = this.#keys.credential(id);
    return decodeCredential(await this.#call(() => this.#client.hGetAll(key)));
  }

  async findCredential(providerType: string, providerId: string | null, subject: string): Promise<Credential | null> {
    const index = this.#keys.credentialIndex(providerType, providerId, subject);
    const id = await this.#call(() => this.#client.get(index));
    return id === null ? null : this.getCredential(id);
  }

  listCredentials(userId: string): Promise<Credential[]> {
    return this.#listMembers(this.#keys.userCredentials(userId), (id) => this.getCredential(id));
  }

  async updateCredentialData(credentialId: string, data: JsonObject, expected?: JsonObject): Promise<boolean> {
    const key = this.#keys.credential(credentialId);
    const args = [JSON.stringify(data), ...(expected === undefined ? [] : [JSON.stringify(expected)])];
    const updated = await this.#call(() => this.#client.updateCredentialData([key], args));
    return decodeInteger(updated) === 1;
  }

  async linkCredential(credentialId: string, userId: string): Promise<boolean> {
    const keys = [this.#keys.credential(credentialId), this.#keys.user(userId), this.#keys.userCredentials(userId)];
    const linked = await this.#call(() => this.#client.linkCredential(keys, [credentialId, userId]));
    return decodeInteger(linked) === 1;
  }

  async createUserForCredential(credentialId: string, user: Omit<User, 'isOwner'>): Promise<UserForCredential | null> {
    const keys = [
      this.#keys.credential(credentialId),
      this.#keys.owner(),
      this.#keys.user(user.id),
      this.#keys.userIndex(),
      this.#keys.userCredentials(user.id),
    ];
    const args = [credentialId, user.id, String(user.createdAt), user.name, flag(user.isAdmin), flag(user.isActive), this.#keys.user('')];
    const reply = await this.#call(() => this.#client.createUserForCredential(keys, args));
    if (!Array.isArray(reply) || (reply[0] !== 'linked' && reply[0] !== 'created')) return null;
    const found = decodeUser(toHash(reply.slice(1)));
    return found === null ? null : { user: found, created: reply[0] === 'created' };
  }

  // Refresh tokens: a hash per token (PEXPIREAT at expireAt), a tokenHash -> id index expiring with it, and a per-user set of
  // ids, all under the directory tag so that removeUser and the long-lived name check are single scripts.

  async createRefreshToken(token: RefreshToken, maxPerUser: number, keepId?: string): Promise<RefreshTokenCreation> {
    const keys = [
      this.#keys.refreshToken(token.id),
      this.#keys.refreshTokenIndex(token.tokenHash),
      this.#keys.userRefreshTokens(token.userId),
    ];
    const args = [
      this.#keys.refreshToken(''),
      String(Date.now()),
      token.id,
      token.type,
      JSON.stringify(token.clientName),
      encodeOptionalInteger(token.expireAt),
      String(maxPerUser),
      keepId ?? '',
      ...encodeRefreshTokenFields(token),
    ];
    const reply = await this.#call(() => this.#client.createRefreshToken(keys, args));
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

  async getRefreshToken(id: string): Promise<RefreshToken | null> {
    const key = this.#keys.refreshToken(id);
    return decodeRefreshToken(await this.#call(() => this.#client.hGetAll(key)), Date.now());
  }

  async findRefreshTokenByHash(tokenHash: string): Promise<RefreshToken | null> {
    const index = this.#keys.refreshTokenIndex(tokenHash);
    const id = await this.#call(() => this.#client.get(index));
    if (id === null) return null;
    const token = await this.getRefreshToken(id);
    // The index and the token are written and dropped together; the check only guards against a hand-edited database.
    return token?.tokenHash === tokenHash ? token : null;
  }

  listRefreshTokens(userId: string): Promise<RefreshToken[]> {
    return this.#listMembers(this.#keys.userRefreshTokens(userId), (id) => this.getRefreshToken(id));
  }

  async touchRefreshToken(id: string, usedAt: number, usedIp: string | null, expireAt: number | null): Promise<boolean> {
    const key = this.#keys.refreshToken(id);
    const args = [String(Date.now()), String(usedAt), JSON.stringify(usedIp), encodeOptionalInteger(expireAt)];
    return decodeInteger(await this.#call(() => this.#client.touchRefreshToken([key], args))) === 1;
  }

  async deleteRefreshToken(id: string): Promise<boolean> {
    const key = this.#keys.refreshToken(id);
    const args = [String(Date.now()), id, this.#keys.userRefreshTokens('')];
    return decodeInteger(await this.#call(() => this.#client.deleteRefreshToken([key], args))) === 1;
  }

  // Leases: a sorted set per lease set (leases.ts).

  acquireLease(set: string, member: string, limit: number, expiresAt: number): Promise<boolean> {
    return acquireRedisLease(this.#client, this.#keys, set, member, limit, expiresAt);
  }

  releaseLease(set: string, member: string): Promise<void> {
    return releaseRedisLease(this.#client, this.#keys, set, member);
  }

  publish(channel: string, message: string): Promise<void> {
    return this.#events.publish(channel, message);
  }

  subscribe(channel: string, listener: (message: string) => void): Promise<Unsubscribe> {
    return this.#events.subscribe(channel, listener);
  }

  isAvailable(): boolean {
    return isUsable(this.#client);
  }

  /** A keyed read rather than PING: a cluster client routes a keyless command to no node in particular. */
  async ping(): Promise<void> {
    await this.#call(() => this.#client.exists(this.#keys.loginDefense('readiness-probe')));
  }

  isSubscriberUp(): boolean {
    return this.#events.isUp();
  }

  /** True once close() was called (a cluster's or sentinel's background connect retries stop then). */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  close(): Promise<void> {
    this.#closing ??= this.#closeClients();
    return this.#closing;
  }

  async #closeClients(): Promise<void> {
    this.#events.clear();
    // close() lets commands already sent finish; a client that never connected just stops retrying. A hung Redis (stopped,
    // partitioned) never answers them, so past the deadline the connections are dropped instead.
    const graceful = Promise.allSettled([this.#client.close(), this.#subscriber.close()]);
    let timer: NodeJS.Timeout | undefined;
    const overdue = new Promise<'overdue'>((resolve) => {
      timer = setTimeout(() => resolve('overdue'), this.#closeTimeoutMs);
    });
    if ((await Promise.race([graceful, overdue])) === 'overdue') {
      await Promise.allSettled([this.#client.destroy(), this.#subscriber.destroy()]);
    }
    clearTimeout(timer);
  }
}
