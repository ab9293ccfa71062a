/** The embedded Store on one SQLite file (better-sqlite3): the zero-setup default, safe for a CLI and a server sharing the file. */
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type { MfaSetting } from '../mfa.js';
import {
  StoreUnavailableError,
  type CasOutcome,
  type Credential,
  type JsonObject,
  type RefreshToken,
  type RefreshTokenCreation,
  type SessionState,
  type Store,
  type StoredFlow,
  type StoreLogger,
  type Unsubscribe,
  type MakeOwnerOutcome,
  type NewUser,
  type NewUserOptions,
  type User,
  type UserForCredential,
  type UserPatch,
} from '../types.js';
import { readFlow } from '../stored-flow.js';
import { EVENT_RETENTION_MS, SqliteEventBus } from './event-bus.js';
import { SqliteLoginDefense } from './login-defense.js';
import { SqliteLeases } from './leases.js';
import { SqliteMfaSettings } from './mfa.js';
import { SqliteRefreshTokens } from './refresh-tokens.js';
import { preparePrivateDatabaseFile } from './private-files.js';
import { configureConnection, migrate } from './schema.js';
import { SqliteUsers } from './users.js';

/** Expired rows already read as absent; sweeping only reclaims their space, so it can be lazy. */
export const SWEEP_INTERVAL_MS = 30_000;

export interface SqliteStoreOptions {
  /** Absolute path of the database file; it and its directory are created when missing, for their owner only (0600, 0700). */
  readonly path: string;
  readonly logger: StoreLogger;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  preparePrivateDatabaseFile(options.path, options.logger);
  const db = new BetterSqlite3(options.path);
  try {
    configureConnection(db);
    for (const notice of migrate(db)) options.logger.warn({ store: `sqlite:${db.name}` }, `store migrated: ${notice}`);
    return new SqliteStore(db, options.logger);
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Another process holding the write lock past busy_timeout is an outage of the store, not a bug: answer `unavailable`. */
function isBusy(error: unknown): boolean {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY_'));
}

/** A flow's stored JSON, parsed when the flow engine first reads it (SQLite hands back only what Flowgate wrote). */
const parseFlowData = (json: string): JsonObject => JSON.parse(json) as JsonObject;

/** Every method is synchronous underneath (better-sqlite3); `async` turns throws into rejections as the contract expects. */
export class SqliteStore implements Store {
  readonly description: string;
  readonly #db: Database;
  readonly #events: SqliteEventBus;
  readonly #sweepTimer: NodeJS.Timeout;
  readonly #sql: ReturnType<typeof prepareStatements>;
  readonly #users: SqliteUsers;
  readonly #tokens: SqliteRefreshTokens;
  readonly #leases: SqliteLeases;
  readonly #mfa: SqliteMfaSettings;
  readonly loginDefense: SqliteLoginDefense;

  constructor(db: Database, logger: StoreLogger) {
    this.#db = db;
    this.description = `sqlite:${db.name}`;
    this.#sql = prepareStatements(db);
    this.#tokens = new SqliteRefreshTokens(db);
    this.#leases = new SqliteLeases(db);
    this.#mfa = new SqliteMfaSettings(db);
    this.#users = new SqliteUsers(db, [this.#tokens, this.#mfa]);
    this.loginDefense = new SqliteLoginDefense(db, (operation) => this.#run(operation));
    this.#events = new SqliteEventBus(db, logger);
    const sweep = (): void => {
      try {
        this.#sweep();
      } catch (error) {
        // Usually another process holding the write lock past busy_timeout; expired rows read as absent meanwhile.
        logger.warn({ store: this.description, err: String(error) }, 'sweeping expired rows failed; retrying later');
      }
    };
    sweep();
    this.#sweepTimer = setInterval(sweep, SWEEP_INTERVAL_MS).unref();
  }

  async createFlow(id: string, data: JsonObject, expiresAt: number): Promise<StoredFlow> {
    const now = Date.now();
    // An expired row with this id counts as absent (as in Redis, where it would be gone), so it may be overwritten.
    const { changes } = this.#run(() => this.#sql.createFlow.run({ id, data: JSON.stringify(data), expiresAt, now }));
    if (changes === 0) throw new Error(`Flow ${id} already exists`);
    return { id, version: 1, data, expiresAt };
  }

  async getFlow(id: string): Promise<StoredFlow | null> {
    const row = this.#run(() => this.#sql.getFlow.get(id, Date.now()));
    if (row === undefined) return null;
    return readFlow(id, row.version, row.data, row.expires_at, parseFlowData);
  }

  async replaceFlow(id: string, expectedVersion: number, data: JsonObject, expiresAt: number): Promise<CasOutcome> {
    const json = JSON.stringify(data);
    return this.#run(() =>
      this.#db
        .transaction((): CasOutcome => {
          const now = Date.now();
          if (this.#sql.replaceFlow.run(json, expiresAt, id, expectedVersion, now).changes === 1) return 'ok';
          return this.#sql.getFlow.get(id, now) === undefined ? 'not_found' : 'conflict';
        })
        .immediate(),
    );
  }

  async deleteFlow(id: string, expectedVersion: number): Promise<CasOutcome> {
    return this.#run(() =>
      this.#db
        .transaction((): CasOutcome => {
          const now = Date.now();
          if (this.#sql.deleteFlow.run(id, expectedVersion, now).changes === 1) return 'ok';
          return this.#sql.getFlow.get(id, now) === undefined ? 'not_found' : 'conflict';
        })
        .immediate(),
    );
  }

  async putCode(code: string, clientId: string, data: JsonObject, expiresAt: number): Promise<void> {
    this.#run(() => this.#sql.putCode.run(code, clientId, JSON.stringify(data), expiresAt));
  }

  async takeCode(code: string, clientId: string): Promise<JsonObject | null> {
    // One DELETE ... RETURNING is atomic by itself: the row goes only when all three conditions hold.
    const row = this.#run(() => this.#sql.takeCode.get(code, clientId, Date.now()));
    return row === undefined ? null : (JSON.parse(row.data) as JsonObject);
  }

  async createUser(user: NewUser, options?: NewUserOptions): Promise<User> {
    return this.#run(() => this.#users.createUser(user, options));
  }

  async getUser(id: string): Promise<User | null> {
    return this.#run(() => this.#users.getUser(id));
  }

  async listUsers(): Promise<User[]> {
    return this.#run(() => this.#users.listUsers());
  }

  async updateUser(id: string, patch: UserPatch): Promise<User | null> {
    return this.#run(() => this.#users.updateUser(id, patch));
  }

  async removeUser(id: string): Promise<boolean> {
    return this.#run(() => this.#users.removeUser(id));
  }

  async makeOwner(userId: string): Promise<MakeOwnerOutcome> {
    return this.#run(() => this.#users.makeOwner(userId));
  }

  async getOrCreateCredential(providerType: string, providerId: string | null, subject: string, data: JsonObject): Promise<Credential> {
    return this.#run(() => this.#users.getOrCreateCredential(providerType, providerId, subject, data));
  }

  async getCredential(id: string): Promise<Credential | null> {
    return this.#run(() => this.#users.getCredential(id));
  }

  async findCredential(providerType: string, providerId: string | null, subject: string): Promise<Credential | null> {
    return this.#run(() => this.#users.findCredential(providerType, providerId, subject));
  }

  async listCredentials(userId: string): Promise<Credential[]> {
    return this.#run(() => this.#users.listCredentials(userId));
  }

  async updateCredentialData(credentialId: string, data: JsonObject, expected?: JsonObject): Promise<boolean> {
    return this.#run(() => this.#users.updateCredentialData(credentialId, data, expected));
  }

  async removeCredential(credentialId: string): Promise<boolean> {
    return this.#run(() => this.#users.removeCredential(credentialId));
  }

  async changeCredentialSubject(credentialId: string, subject: string): Promise<'ok' | 'taken' | 'not_found'> {
    return this.#run(() => this.#users.changeCredentialSubject(credentialId, subject));
  }

  async linkCredential(credentialId: string, userId: string): Promise<boolean> {
    return this.#run(() => this.#users.linkCredential(credentialId, userId));
  }

  async createUserForCredential(credentialId: string, user: NewUser, options?: NewUserOptions): Promise<UserForCredential | null> {
    return this.#run(() => this.#users.createUserForCredential(credentialId, user, options));
  }

  async createRefreshToken(token: RefreshToken, maxPerUser: number, keepId?: string): Promise<RefreshTokenCreation> {
    return this.#run(() => this.#tokens.create(token, maxPerUser, keepId ?? null));
  }

  async getRefreshToken(id: string): Promise<RefreshToken | null> {
    return this.#run(() => this.#tokens.get(id));
  }

  async sessionState(refreshTokenId: string, userId: string): Promise<SessionState> {
    return this.#run(() => this.#tokens.sessionState(refreshTokenId, userId));
  }

  async findRefreshTokenByHash(tokenHash: string): Promise<RefreshToken | null> {
    return this.#run(() => this.#tokens.findByHash(tokenHash));
  }

  async listRefreshTokens(userId: string): Promise<RefreshToken[]> {
    return this.#run(() => this.#tokens.list(userId));
  }

  async touchRefreshToken(id: string, usedAt: number, usedIp: string | null, expireAt: number | null): Promise<boolean> {
    return this.#run(() => this.#tokens.touch(id, usedAt, usedIp, expireAt));
  }

  async recordRefreshTokenLogin(id: string, loggedInAt: number): Promise<boolean> {
    return this.#run(() => this.#tokens.recordLogin(id, loggedInAt));
  }

  async deleteRefreshToken(id: string): Promise<boolean> {
    return this.#run(() => this.#tokens.delete(id));
  }

  async acquireLease(set: string, member: string, limit: number, expiresAt: number): Promise<boolean> {
    return this.#run(() => this.#leases.acquire(set, member, limit, expiresAt));
  }

  async releaseLease(set: string, member: string): Promise<void> {
    this.#run(() => this.#leases.release(set, member));
  }

  async nextLeaseExpiry(set: string): Promise<number | null> {
    return this.#run(() => this.#leases.nextExpiry(set));
  }

  async listMfaSettings(userId: string): Promise<Record<string, MfaSetting>> {
    return this.#run(() => this.#mfa.list(userId));
  }

  async getMfaSetting(userId: string, moduleId: string): Promise<MfaSetting | null> {
    return this.#run(() => this.#mfa.get(userId, moduleId));
  }

  async putMfaSetting(userId: string, moduleId: string, data: JsonObject, expectedRevision?: string | null): Promise<boolean> {
    return this.#run(() => this.#mfa.put(userId, moduleId, data, expectedRevision));
  }

  async deleteMfaSetting(userId: string, moduleId: string): Promise<boolean> {
    return this.#run(() => this.#mfa.delete(userId, moduleId));
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#run(() => this.#events.publish(channel, message));
  }

  async subscribe(channel: string, listener: (message: string) => void): Promise<Unsubscribe> {
    return this.#run(() => this.#events.subscribe(channel, listener));
  }

  isAvailable(): boolean {
    return this.#db.open;
  }

  /** A read through the connection: a file locked by another process for too long answers unavailable here too. */
  async ping(): Promise<void> {
    this.#run(() => this.#db.prepare('SELECT 1').get());
  }

  /** Events are polled from the database file itself: they reach subscribers whenever the store answers at all. */
  isSubscriberUp(): boolean {
    return this.#db.open;
  }

  async close(): Promise<void> {
    if (!this.#db.open) return;
    clearInterval(this.#sweepTimer);
    this.#events.close();
    this.#db.close();
  }

  #sweep(): void {
    const now = Date.now();
    this.#sql.sweep.forEach((statement) => statement.run(now));
    this.#tokens.sweep(now);
    this.#leases.sweep(now);
    this.#events.pruneOlderThan(now - EVENT_RETENTION_MS);
  }

  #run<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      if (isBusy(error)) throw new StoreUnavailableError(undefined, { cause: error });
      throw error;
    }
  }
}

/** Prepared once per connection; the row types are what each SELECT or RETURNING clause yields. */
function prepareStatements(db: Database) {
  const query = <P extends unknown[], R>(sql: string): Statement<P, R> => db.prepare<P, R>(sql);
  const run = <P extends unknown[]>(sql: string): Statement<P> => db.prepare<P>(sql);
  return {
    createFlow: run<[{ id: string; data: string; expiresAt: number; now: number }]>(
      `INSERT INTO flows (id, version, data, expires_at) VALUES (@id, 1, @data, @expiresAt)
       ON CONFLICT (id) DO UPDATE SET version = 1, data = excluded.data, expires_at = excluded.expires_at
       WHERE flows.expires_at <= @now`,
    ),
    getFlow: query<[string, number], { version: number; data: string; expires_at: number }>(
      'SELECT version, data, expires_at FROM flows WHERE id = ? AND expires_at > ?',
    ),
    replaceFlow: run<[string, number, string, number, number]>(
      'UPDATE flows SET version = version + 1, data = ?, expires_at = ? WHERE id = ? AND version = ? AND expires_at > ?',
    ),
    deleteFlow: run<[string, number, number]>('DELETE FROM flows WHERE id = ? AND version = ? AND expires_at > ?'),
    putCode: run<[string, string, string, number]>(
      'INSERT OR REPLACE INTO codes (code, client_id, data, expires_at) VALUES (?, ?, ?, ?)',
    ),
    takeCode: query<[string, string, number], { data: string }>(
      'DELETE FROM codes WHERE code = ? AND client_id = ? AND expires_at > ? RETURNING data',
    ),
    sweep: [
      run<[number]>('DELETE FROM flows WHERE expires_at <= ?'),
      run<[number]>('DELETE FROM codes WHERE expires_at <= ?'),
      run<[number]>('DELETE FROM counters WHERE expires_at <= ?'),
    ],
  };
}
