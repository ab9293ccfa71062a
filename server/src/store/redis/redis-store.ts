/** The shared Store on Redis (node-redis 6): what lets any server instance continue any flow. */
import { DEFAULT_STORE_TIMEOUT_MS } from '../deadline.js';
import type { MfaSetting } from '../mfa.js';
import type {
  CasOutcome,
  Credential,
  JsonObject,
  RefreshToken,
  RefreshTokenCreation,
  SessionState,
  Store,
  StoredFlow,
  StoreLogger,
  Unsubscribe,
  MakeOwnerOutcome,
  NewUser,
  NewUserOptions,
  User,
  UserForCredential,
  UserPatch,
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
import { decodeCasOutcome, decodeFlow, decodeInteger, decodeJsonObject } from './codec.js';
import { RedisCredentials } from './credentials.js';
import { RedisEventBus } from './event-bus.js';
import { RedisLoginDefense } from './login-defense.js';
import { DEFAULT_KEY_PREFIX, redisKeys, type RedisKeys } from './keys.js';
import { ensureLayout, migrateUnderLock } from './layout.js';
import { acquireRedisLease, nextRedisLeaseExpiry, releaseRedisLease } from './leases.js';
import type { MigrationReport } from './migrate.js';
import { deleteRedisMfaSetting, getRedisMfaSetting, listRedisMfaSettings, putRedisMfaSetting } from './mfa.js';
import { RedisRefreshTokens } from './refresh-tokens.js';
import { createRedisSentinelClient, parseSentinelUrl } from './sentinel.js';
import { RedisUsers } from './users.js';

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
  // At start, a store in an older key layout is migrated (or waited for); when Redis cannot be reached yet, the first call
  // that needs the directory does it.
  store.prepareLayout();
  return store;
}

export class RedisStore implements Store {
  readonly description: string;
  readonly #client: FlowgateRedis;
  readonly #subscriber: FlowgateRedis;
  readonly #keys: RedisKeys;
  readonly #events: RedisEventBus;
  readonly #users: RedisUsers;
  readonly #credentials: RedisCredentials;
  readonly #tokens: RedisRefreshTokens;
  readonly loginDefense: RedisLoginDefense;
  #closing: Promise<void> | undefined;
  readonly #closeTimeoutMs: number;
  readonly #logger: StoreLogger;
  /** Set once the store is known to be in this code's key layout; until then directory calls wait for #layout. */
  #layoutReady = false;
  #layout: Promise<void> | undefined;

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
    this.#logger = logger;
    const afterLayout = <T>(run: () => Promise<T>): Promise<T> => this.#afterLayout(run);
    this.#users = new RedisUsers(client, keys, afterLayout);
    this.#credentials = new RedisCredentials(client, keys, this.#users, afterLayout);
    this.#tokens = new RedisRefreshTokens(client, keys, afterLayout);
    this.loginDefense = new RedisLoginDefense(client, keys, (call) => this.#afterLayout(() => this.#call(call)));
  }

  /**
   * Runs a call of the directory, MFA settings or login defense once the store is in this code's key layout: the first such
   * call of this instance checks the layout version (one GET) and, when it is old, migrates under the lock (layout.ts) or waits
   * for the instance that does. A failed check is retried by the next call. Flows, codes and leases kept their keys.
   */
  #afterLayout<T>(run: () => Promise<T>): Promise<T> {
    if (this.#layoutReady) return run();
    this.#layout ??= ensureLayout(this.#client, this.#keys, this.#logger).then(
      () => {
        this.#layoutReady = true;
      },
      (error: unknown) => {
        this.#layout = undefined;
        throw error;
      },
    );
    return this.#layout.then(run);
  }

  /** Starts the layout check (and migration) now rather than at the first directory call; a failure is retried by that call. */
  prepareLayout(): void {
    this.#afterLayout(() => Promise.resolve()).catch(() => undefined);
  }

  /**
   * `flowgate store migrate`: moves whatever is left of the previous key layout (also when the version says it is done: an
   * instance of the old version may have written since), under the same lock as a starting instance.
   */
  async migrateLayout(): Promise<MigrationReport> {
    const report = await migrateUnderLock(this.#client, this.#keys, false);
    if (report === null) throw new Error('unreachable: an unconditional migration always reports');
    this.#layoutReady = true;
    return report;
  }

  /** Every call goes through here: it fails fast while the client cannot send, and maps connection failures (client.ts). */
  #call<T>(call: () => Promise<T>): Promise<T> {
    return redisCall(call, this.#client);
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

  // Users and credentials: a user's keys in its own slot, a credential in its index entry's slot (keys.ts), written by the
  // Lua scripts in directory-scripts.ts (users.ts, credentials.ts).

  createUser(user: NewUser, options?: NewUserOptions): Promise<User> {
    return this.#users.createUser(user, options);
  }

  getUser(id: string): Promise<User | null> {
    return this.#users.getUser(id);
  }

  listUsers(): Promise<User[]> {
    return this.#users.listUsers();
  }

  updateUser(id: string, patch: UserPatch): Promise<User | null> {
    return this.#users.updateUser(id, patch);
  }

  removeUser(id: string): Promise<boolean> {
    return this.#users.removeUser(id, (userId) => this.#credentials.removeCredentialsOf(userId));
  }

  makeOwner(userId: string): Promise<MakeOwnerOutcome> {
    return this.#users.makeOwner(userId);
  }

  getOrCreateCredential(providerType: string, providerId: string | null, subject: string, data: JsonObject): Promise<Credential> {
    return this.#credentials.getOrCreateCredential(providerType, providerId, subject, data);
  }

  getCredential(id: string): Promise<Credential | null> {
    return this.#credentials.getCredential(id);
  }

  findCredential(providerType: string, providerId: string | null, subject: string): Promise<Credential | null> {
    return this.#credentials.findCredential(providerType, providerId, subject);
  }

  listCredentials(userId: string): Promise<Credential[]> {
    return this.#credentials.listCredentials(userId);
  }

  updateCredentialData(credentialId: string, data: JsonObject, expected?: JsonObject): Promise<boolean> {
    return this.#credentials.updateCredentialData(credentialId, data, expected);
  }

  removeCredential(credentialId: string): Promise<boolean> {
    return this.#credentials.removeCredential(credentialId);
  }

  changeCredentialSubject(credentialId: string, subject: string): Promise<'ok' | 'taken' | 'not_found'> {
    return this.#credentials.changeCredentialSubject(credentialId, subject);
  }

  linkCredential(credentialId: string, userId: string): Promise<boolean> {
    return this.#credentials.linkCredential(credentialId, userId);
  }

  createUserForCredential(credentialId: string, user: NewUser, options?: NewUserOptions): Promise<UserForCredential | null> {
    return this.#credentials.createUserForCredential(credentialId, user, options);
  }

  // Refresh tokens: a hash per token (PEXPIREAT at expireAt) and a per-user set of ids in the user's slot, a tokenHash -> id
  // index entry in its own (refresh-tokens.ts).

  createRefreshToken(token: RefreshToken, maxPerUser: number, keepId?: string): Promise<RefreshTokenCreation> {
    return this.#tokens.create(token, maxPerUser, keepId);
  }

  getRefreshToken(id: string): Promise<RefreshToken | null> {
    return this.#tokens.get(id);
  }

  sessionState(refreshTokenId: string, userId: string): Promise<SessionState> {
    return this.#tokens.sessionState(refreshTokenId, userId, (id) => this.#users.getUser(id));
  }

  findRefreshTokenByHash(tokenHash: string): Promise<RefreshToken | null> {
    return this.#tokens.findByHash(tokenHash);
  }

  listRefreshTokens(userId: string): Promise<RefreshToken[]> {
    return this.#tokens.list(userId);
  }

  touchRefreshToken(id: string, usedAt: number, usedIp: string | null, expireAt: number | null): Promise<boolean> {
    return this.#tokens.touch(id, usedAt, usedIp, expireAt);
  }

  recordRefreshTokenLogin(id: string, loggedInAt: number): Promise<boolean> {
    return this.#tokens.recordLogin(id, loggedInAt);
  }

  deleteRefreshToken(id: string): Promise<boolean> {
    return this.#tokens.delete(id);
  }

  // Leases: a sorted set per lease set (leases.ts).

  acquireLease(set: string, member: string, limit: number, expiresAt: number): Promise<boolean> {
    return acquireRedisLease(this.#client, this.#keys, set, member, limit, expiresAt);
  }

  releaseLease(set: string, member: string): Promise<void> {
    return releaseRedisLease(this.#client, this.#keys, set, member);
  }

  nextLeaseExpiry(set: string): Promise<number | null> {
    return nextRedisLeaseExpiry(this.#client, this.#keys, set);
  }

  // MFA settings: a hash per user in the user's slot (mfa.ts).

  listMfaSettings(userId: string): Promise<Record<string, MfaSetting>> {
    return this.#afterLayout(() => listRedisMfaSettings(this.#client, this.#keys, userId));
  }

  getMfaSetting(userId: string, moduleId: string): Promise<MfaSetting | null> {
    return this.#afterLayout(() => getRedisMfaSetting(this.#client, this.#keys, userId, moduleId));
  }

  putMfaSetting(userId: string, moduleId: string, data: JsonObject, expectedRevision?: string | null): Promise<boolean> {
    return this.#afterLayout(() => putRedisMfaSetting(this.#client, this.#keys, userId, moduleId, data, expectedRevision));
  }

  deleteMfaSetting(userId: string, moduleId: string): Promise<boolean> {
    return this.#afterLayout(() => deleteRedisMfaSetting(this.#client, this.#keys, userId, moduleId));
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
    await this.#call(() => this.#client.exists(this.#keys.readinessProbe()));
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
