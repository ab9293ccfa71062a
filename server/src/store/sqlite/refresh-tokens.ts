/** Refresh tokens on SQLite: the `refresh_tokens` table (schema.ts, migration 2) behind SqliteStore's RefreshTokenStore methods. */
import type { Database, Statement } from 'better-sqlite3';
import type { RefreshToken, RefreshTokenCreation, RefreshTokenType, SessionState } from '../types.js';
import { toUser, type UserRow } from './rows.js';

interface RefreshTokenRow {
  id: string;
  user_id: string;
  client_id: string | null;
  client_name: string | null;
  type: RefreshTokenType;
  token_hash: string;
  key_salt: string;
  access_token_ttl_ms: number;
  credential_id: string | null;
  created_at: number;
  logged_in_at: number | null;
  last_used_at: number | null;
  last_used_ip: string | null;
  expire_at: number | null;
}

const toRefreshToken = (row: RefreshTokenRow): RefreshToken => ({
  id: row.id,
  userId: row.user_id,
  clientId: row.client_id,
  clientName: row.client_name,
  type: row.type,
  tokenHash: row.token_hash,
  keySalt: row.key_salt,
  accessTokenTtlMs: row.access_token_ttl_ms,
  credentialId: row.credential_id,
  createdAt: row.created_at,
  loggedInAt: row.logged_in_at,
  lastUsedAt: row.last_used_at,
  lastUsedIp: row.last_used_ip,
  expireAt: row.expire_at,
});

/** The joined row of sessionState: the token's columns (all NULL when it is missing) and the user's, prefixed `u_`. */
type SessionStateRow = { [K in keyof RefreshTokenRow]: RefreshTokenRow[K] | null } & {
  [K in keyof UserRow as `u_${K}`]: UserRow[K];
} & { u_id: string | null };

/** A row past its expire_at reads as absent everywhere; the sweep deletes it later. */
const LIVE = '(expire_at IS NULL OR expire_at > @now)';

/**
 * Synchronous, like better-sqlite3 itself: SqliteStore wraps every call to map SQLITE_BUSY to `unavailable`. Statements are
 * prepared once, on a connection whose schema is already migrated.
 */
export class SqliteRefreshTokens {
  readonly #db: Database;
  readonly #sql: ReturnType<typeof prepareStatements>;

  constructor(db: Database) {
    this.#db = db;
    this.#sql = prepareStatements(db);
  }

  /**
   * IMMEDIATE, so the checks, the evictions and the insert hold the write lock together, across processes too. Expired tokens
   * of the user go first: they read as absent, so they must not keep their name taken (nor trip the partial unique index) nor
   * count against the limit.
   */
  create(token: RefreshToken, maxPerUser: number, keepId: string | null): RefreshTokenCreation {
    return this.#db
      .transaction((): RefreshTokenCreation => {
        const now = Date.now();
        this.#sql.deleteExpiredOfUser.run({ userId: token.userId, now });
        if (
          token.type === 'long_lived_access_token' &&
          this.#sql.findLongLived.get({ userId: token.userId, clientName: token.clientName }) !== undefined
        ) {
          return { outcome: 'name_taken' };
        }
        const excess = (this.#sql.countOfUser.get(token.userId)?.count ?? 0) + 1 - maxPerUser;
        const evicted = excess > 0 ? this.#sql.leastRecentlyUsedNormal.all({ userId: token.userId, limit: excess, keepId }) : [];
        if (evicted.length < excess) return { outcome: 'limit_reached' };
        for (const { id } of evicted) this.#sql.deleteById.run(id);
        this.#sql.insert.run({
          id: token.id,
          userId: token.userId,
          clientId: token.clientId,
          clientName: token.clientName,
          type: token.type,
          tokenHash: token.tokenHash,
          keySalt: token.keySalt,
          accessTokenTtlMs: token.accessTokenTtlMs,
          credentialId: token.credentialId,
          createdAt: token.createdAt,
          loggedInAt: token.loggedInAt,
          lastUsedAt: token.lastUsedAt,
          lastUsedIp: token.lastUsedIp,
          expireAt: token.expireAt,
        });
        return { outcome: 'created', evicted: evicted.map(({ id }) => id) };
      })
      .immediate();
  }

  get(id: string): RefreshToken | null {
    const row = this.#sql.get.get({ id, now: Date.now() });
    return row === undefined ? null : toRefreshToken(row);
  }

  /** One SELECT: the token and the user joined to a one-row source, so either may be missing (all its columns NULL). */
  sessionState(id: string, userId: string): SessionState {
    const row = this.#sql.sessionState.get({ id, userId, now: Date.now() });
    if (row === undefined) return { refreshToken: null, user: null };
    const user: UserRow | null =
      row.u_id === null
        ? null
        : {
            id: row.u_id,
            name: row.u_name,
            is_owner: row.u_is_owner,
            is_admin: row.u_is_admin,
            is_active: row.u_is_active,
            group_ids: row.u_group_ids,
            local_only: row.u_local_only,
            created_at: row.u_created_at,
          };
    return { refreshToken: row.id === null ? null : toRefreshToken(row as RefreshTokenRow), user: user === null ? null : toUser(user) };
  }

  findByHash(tokenHash: string): RefreshToken | null {
    const row = this.#sql.findByHash.get({ tokenHash, now: Date.now() });
    return row === undefined ? null : toRefreshToken(row);
  }

  list(userId: string): RefreshToken[] {
    return this.#sql.list.all({ userId, now: Date.now() }).map(toRefreshToken);
  }

  /** One UPDATE: the expiry check and the write cannot be split by another writer. */
  touch(id: string, usedAt: number, usedIp: string | null, expireAt: number | null): boolean {
    return this.#sql.touch.run({ id, usedAt, usedIp, expireAt, now: Date.now() }).changes === 1;
  }

  /** One UPDATE: forward only (MAX), and only on a live row. */
  recordLogin(id: string, loggedInAt: number): boolean {
    return this.#sql.recordLogin.run({ id, loggedInAt, now: Date.now() }).changes === 1;
  }

  delete(id: string): boolean {
    return this.#sql.delete.run({ id, now: Date.now() }).changes === 1;
  }

  /** For removeUser (users.ts), inside its transaction. */
  deleteAllOfUser(userId: string): void {
    this.#sql.deleteAllOfUser.run(userId);
  }

  sweep(now: number): void {
    this.#sql.sweep.run(now);
  }
}

function prepareStatements(db: Database) {
  const query = <P extends unknown[], R>(sql: string): Statement<P, R> => db.prepare<P, R>(sql);
  const run = <P extends unknown[]>(sql: string): Statement<P> => db.prepare<P>(sql);
  return {
    insert: run<[Record<string, string | number | null>]>(
      `INSERT INTO refresh_tokens (id, user_id, client_id, client_name, type, token_hash, key_salt, access_token_ttl_ms,
         credential_id, created_at, logged_in_at, last_used_at, last_used_ip, expire_at)
       VALUES (@id, @userId, @clientId, @clientName, @type, @tokenHash, @keySalt, @accessTokenTtlMs,
         @credentialId, @createdAt, @loggedInAt, @lastUsedAt, @lastUsedIp, @expireAt)`,
    ),
    // IS, not =: a null client name collides with a null one, as it does in the Redis backend.
    findLongLived: query<[{ userId: string; clientName: string | null }], { id: string }>(
      `SELECT id FROM refresh_tokens WHERE user_id = @userId AND type = 'long_lived_access_token' AND client_name IS @clientName`,
    ),
    countOfUser: query<[string], { count: number }>('SELECT count(*) AS count FROM refresh_tokens WHERE user_id = ?'),
    // A token never used counts as used when it was created; ties go to the older id order, so the choice is deterministic.
    leastRecentlyUsedNormal: query<[{ userId: string; limit: number; keepId: string | null }], { id: string }>(
      `SELECT id FROM refresh_tokens WHERE user_id = @userId AND type = 'normal' AND id IS NOT @keepId
       ORDER BY COALESCE(last_used_at, created_at), created_at, id LIMIT @limit`,
    ),
    deleteById: run<[string]>('DELETE FROM refresh_tokens WHERE id = ?'),
    deleteExpiredOfUser: run<[{ userId: string; now: number }]>(
      'DELETE FROM refresh_tokens WHERE user_id = @userId AND expire_at <= @now',
    ),
    get: query<[{ id: string; now: number }], RefreshTokenRow>(`SELECT * FROM refresh_tokens WHERE id = @id AND ${LIVE}`),
    sessionState: query<[{ id: string; userId: string; now: number }], SessionStateRow>(
      `SELECT t.*, u.id AS u_id, u.name AS u_name, u.is_owner AS u_is_owner, u.is_admin AS u_is_admin, u.is_active AS u_is_active,
         u.group_ids AS u_group_ids, u.local_only AS u_local_only, u.created_at AS u_created_at
       FROM (SELECT @id AS wanted_token, @userId AS wanted_user) AS w
       LEFT JOIN refresh_tokens t ON t.id = w.wanted_token AND (t.expire_at IS NULL OR t.expire_at > @now)
       LEFT JOIN users u ON u.id = w.wanted_user`,
    ),
    findByHash: query<[{ tokenHash: string; now: number }], RefreshTokenRow>(
      `SELECT * FROM refresh_tokens WHERE token_hash = @tokenHash AND ${LIVE}`,
    ),
    list: query<[{ userId: string; now: number }], RefreshTokenRow>(
      `SELECT * FROM refresh_tokens WHERE user_id = @userId AND ${LIVE} ORDER BY created_at, id`,
    ),
    touch: run<[{ id: string; usedAt: number; usedIp: string | null; expireAt: number | null; now: number }]>(
      `UPDATE refresh_tokens SET last_used_at = @usedAt, last_used_ip = @usedIp, expire_at = @expireAt
       WHERE id = @id AND ${LIVE}`,
    ),
    recordLogin: run<[{ id: string; loggedInAt: number; now: number }]>(
      `UPDATE refresh_tokens SET logged_in_at = MAX(COALESCE(logged_in_at, @loggedInAt), @loggedInAt) WHERE id = @id AND ${LIVE}`,
    ),
    delete: run<[{ id: string; now: number }]>(`DELETE FROM refresh_tokens WHERE id = @id AND ${LIVE}`),
    deleteAllOfUser: run<[string]>('DELETE FROM refresh_tokens WHERE user_id = ?'),
    sweep: run<[number]>('DELETE FROM refresh_tokens WHERE expire_at <= ?'),
  };
}
