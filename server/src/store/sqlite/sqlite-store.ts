/** The embedded Store on one SQLite file (better-sqlite3): the zero-setup default, safe for a CLI and a server sharing the file. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { randomId } from '../../crypto.js';
import {
  StoreUnavailableError,
  type CasOutcome,
  type Credential,
  type JsonObject,
  type RefreshToken,
  type RefreshTokenCreation,
  type Store,
  type StoredFlow,
  type StoreLogger,
  type Unsubscribe,
  type User,
  type UserForCredential,
} from '../types.js';
import { EVENT_RETENTION_MS, SqliteEventBus } from './event-bus.js';
import { SqliteLoginDefense } from './login-defense.js';
import { SqliteLeases } from './leases.js';
import { SqliteRefreshTokens } from './refresh-tokens.js';
import { configureConnection, migrate } from './schema.js';
import { toCredential, toUser, type CredentialRow, type UserRow } from './rows.js';

/** Expired rows already read as absent; sweeping only reclaims their space, so it can be lazy. */
export const SWEEP_INTERVAL_MS = 30_000;

export interface SqliteStoreOptions {
  /** Absolute path of the database file; its directory is created when missing. */
  readonly path: string;
  readonly logger: StoreLogger;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  mkdirSync(dirname(options.path), { recursive: true });
  const db = new BetterSqlite3(options.path);
  try {
    configureConnection(db);
    migrate(db);
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

/** Every method is synchronous underneath (better-sqlite3); `async` turns throws into rejections as the contract expects. */
export class SqliteStore implements Store {
  readonly description: string;
  readonly #db: Database;
  readonly #events: SqliteEventBus;
  readonly #sweepTimer: NodeJS.Timeout;
  readonly #sql: ReturnType<typeof prepareStatements>;
  readonly #tokens: SqliteRefreshTokens;
  readonly #leases: SqliteLeases;
  readonly loginDefense: SqliteLoginDefense;

  constructor(db: Database, logger: StoreLogger) {
    this.#db = db;
    this.description = `sqlite:${db.name}`;
    this.#sql = prepareStatements(db);
    this.#tokens = new SqliteRefreshTokens(db);
    this.#leases = new SqliteLeases(db);
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
    return { id, version: row.version, data: JSON.parse(row.data) as JsonObject, expiresAt: row.expires_at };
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

  async createUser(user: Omit<User, 'isOwner'>): Promise<User> {
    return this.#run(() =>
      this.#db
        .transaction((): User => {
          if (this.#sql.getUser.get(user.id) !== undefined) throw new Error(`User ${user.id} already exists`);
          const isOwner = this.#sql.claimOwner.run(user.id).changes === 1;
          const created = { ...user, isOwner };
          this.#sql.insertUser.run(user.id, user.name, +isOwner, +user.isAdmin, +user.isActive, user.createdAt);
          return created;
        })
        .immediate(),
    );
  }

  async getUser(id: string): Promise<User | null> {
    const row = this.#run(() => this.#sql.getUser.get(id));
    return row === undefined ? null : toUser(row);
  }

  async listUsers(): Promise<User[]> {
    return this.#run(() => this.#sql.listUsers.all()).map(toUser);
  }

  async updateUser(id: string, patch: Partial<Pick<User, 'name' | 'isAdmin' | 'isActive'>>): Promise<User | null> {
    const flagOrNull = (value: boolean | undefined): number | null => (value === undefined ? null : +value);
    const row = this.#run(() =>
      this.#sql.updateUser.get(patch.name ?? null, flagOrNull(patch.isAdmin), flagOrNull(patch.isActive), id),
    );
    return row === undefined ? null : toUser(row);
  }

  async removeUser(id: string): Promise<boolean> {
    return this.#run(() =>
      this.#db
        .transaction((): boolean => {
          this.#sql.removeUserCredentials.run(id);
          this.#tokens.deleteAllOfUser(id);
          return this.#sql.removeUser.run(id).changes === 1;
        })
        .immediate(),
    );
  }

  async getOrCreateCredential(
    providerType: string,
    providerId: string | null,
    subject: string,
    data: JsonObject,
  ): Promise<Credential> {
    const providerKey = JSON.stringify(providerId);
    const row = this.#run(() =>
      this.#db
        .transaction(() => {
          // ON CONFLICT DO NOTHING on the UNIQUE key: whoever inserts first wins, everyone reads that row back.
          const values = [randomId(), providerType, providerId, providerKey, subject, JSON.stringify(data), Date.now()] as const;
          this.#sql.insertCredential.run(...values);
          return this.#sql.findCredential.get(providerType, providerKey, subject);
        })
        .immediate(),
    );
    if (row === undefined) throw new Error(`Credential for ${providerType} ${subject} could not be read back`);
    return toCredential(row);
  }

  async getCredential(id: string): Promise<Credential | null> {
    const row = this.#run(() => this.#sql.getCredential.get(id));
    return row === undefined ? null : toCredential(row);
  }

  async findCredential(providerType: string, providerId: string | null, subject: string): Promise<Credential | null> {
    const row = this.#run(() => this.#sql.findCredential.get(providerType, JSON.stringify(providerId), subject));
    return row === undefined ? null : toCredential(row);
  }

  async listCredentials(userId: string): Promise<Credential[]> {
    return this.#run(() => this.#sql.listCredentials.all(userId)).map(toCredential);
  }

  async updateCredentialData(credentialId: string, data: JsonObject, expected?: JsonObject): Promise<boolean> {
    const json = JSON.stringify(data);
    return this.#run(
      () =>
        (expected === undefined
          ? this.#sql.updateCredentialData.run(json, credentialId)
          : this.#sql.replaceCredentialData.run(json, credentialId, JSON.stringify(expected))
        ).changes === 1,
    );
  }

  async linkCredential(credentialId: string, userId: string): Promise<boolean> {
    return this.#run(() => this.#sql.linkCredential.run(userId, credentialId, userId, userId).changes === 1);
  }

  async createUserForCredential(credentialId: string, user: Omit<User, 'isOwner'>): Promise<UserForCredential | null> {
    return this.#run(() =>
      this.#db
        .transaction((): UserForCredential | null => {
          const credential = this.#sql.getCredential.get(credentialId);
          if (credential === undefined) return null;
          if (credential.user_id !== null) {
            const linked = this.#sql.getUser.get(credential.user_id);
            return linked === undefined ? null : { user: toUser(linked), created: false };
          }
          const isOwner = this.#sql.claimOwner.run(user.id).changes === 1;
          const created = { ...user, isOwner, isAdmin: user.isAdmin || isOwner };
          this.#sql.insertUser.run(user.id, user.name, +isOwner, +created.isAdmin, +user.isActive, user.createdAt);
          this.#sql.linkCredential.run(user.id, credentialId, user.id, user.id);
          return { user: created, created: true };
        })
        .immediate(),
    );
  }

  async createRefreshToken(token: RefreshToken, maxPerUser: number, keepId?: string): Promise<RefreshTokenCreation> {
    return this.#run(() => this.#tokens.create(token, maxPerUser, keepId ?? null));
  }

  async getRefreshToken(id: string): Promise<RefreshToken | null> {
    return this.#run(() => this.#tokens.get(id));
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

  async deleteRefreshToken(id: string): Promise<boolean> {
    return this.#run(() => this.#tokens.delete(id));
  }

  async acquireLease(set: string, member: string, limit: number, expiresAt: number): Promise<boolean> {
    return this.#run(() => this.#leases.acquire(set, member, limit, expiresAt));
  }

  async releaseLease(set: string, member: string): Promise<void> {
    this.#run(() => this.#leases.release(set, member));
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
  const credentialColumns = 'id, provider_type, provider_id, subject, data, user_id, created_at';
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
    claimOwner: run<[string]>(`INSERT INTO meta (key, value) VALUES ('owner', ?) ON CONFLICT (key) DO NOTHING`),
    insertUser: run<[string, string, number, number, number, number]>(
      'INSERT INTO users (id, name, is_owner, is_admin, is_active, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    getUser: query<[string], UserRow>('SELECT * FROM users WHERE id = ?'),
    listUsers: query<[], UserRow>('SELECT * FROM users ORDER BY created_at, id'),
    updateUser: query<[string | null, number | null, number | null, string], UserRow>(
      `UPDATE users SET name = COALESCE(?, name), is_admin = COALESCE(?, is_admin), is_active = COALESCE(?, is_active)
       WHERE id = ? RETURNING *`,
    ),
    removeUser: run<[string]>('DELETE FROM users WHERE id = ?'),
    removeUserCredentials: run<[string]>('DELETE FROM credentials WHERE user_id = ?'),
    insertCredential: run<[string, string, string | null, string, string, string, number]>(
      `INSERT INTO credentials (id, provider_type, provider_id, provider_key, subject, data, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider_type, provider_key, subject) DO NOTHING`,
    ),
    findCredential: query<[string, string, string], CredentialRow>(
      `SELECT ${credentialColumns} FROM credentials WHERE provider_type = ? AND provider_key = ? AND subject = ?`,
    ),
    getCredential: query<[string], CredentialRow>(`SELECT ${credentialColumns} FROM credentials WHERE id = ?`),
    listCredentials: query<[string], CredentialRow>(
      `SELECT ${credentialColumns} FROM credentials WHERE user_id = ? ORDER BY created_at, id`,
    ),
    updateCredentialData: run<[string, string]>('UPDATE credentials SET data = ? WHERE id = ?'),
    replaceCredentialData: run<[string, string, string]>('UPDATE credentials SET data = ? WHERE id = ? AND data = ?'),
    // Binds only an unbound credential (or re-binds to the same user), and only to a user that exists.
    linkCredential: run<[string, string, string, string]>(
      `UPDATE credentials SET user_id = ?
       WHERE id = ? AND (user_id IS NULL OR user_id = ?) AND EXISTS (SELECT 1 FROM users WHERE id = ?)`,
    ),
    sweep: [
      run<[number]>('DELETE FROM flows WHERE expires_at <= ?'),
      run<[number]>('DELETE FROM codes WHERE expires_at <= ?'),
      run<[number]>('DELETE FROM counters WHERE expires_at <= ?'),
    ],
  };
}
