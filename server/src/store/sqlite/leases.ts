/** Lease sets on SQLite: the `leases` table (schema.ts) behind SqliteStore's LeaseStore methods. */
import type { Database } from 'better-sqlite3';

/** Synchronous, like better-sqlite3 itself: SqliteStore wraps every call to map SQLITE_BUSY to `unavailable`. */
export class SqliteLeases {
  readonly #db: Database;
  readonly #sql: ReturnType<typeof prepareStatements>;

  constructor(db: Database) {
    this.#db = db;
    this.#sql = prepareStatements(db);
  }

  /** IMMEDIATE, so the count and the insert hold the write lock together, across processes too. */
  acquire(set: string, member: string, limit: number, expiresAt: number): boolean {
    if (limit <= 0) return false;
    return this.#db
      .transaction((): boolean => {
        const now = Date.now();
        this.#sql.dropExpired.run(set, now);
        if (expiresAt <= now) {
          this.#sql.release.run(set, member);
          return false;
        }
        const present = this.#sql.find.get(set, member) !== undefined;
        if (!present && (this.#sql.count.get(set)?.count ?? 0) >= limit) return false;
        this.#sql.upsert.run(set, member, expiresAt);
        return true;
      })
      .immediate();
  }

  release(set: string, member: string): void {
    this.#sql.release.run(set, member);
  }

  nextExpiry(set: string): number | null {
    return this.#sql.nextExpiry.get(set, Date.now())?.expires_at ?? null;
  }

  /** Expired rows never count (acquire drops them first); this only reclaims the space of sets nobody asks for again. */
  sweep(now: number): void {
    this.#sql.sweep.run(now);
  }
}

function prepareStatements(db: Database) {
  return {
    dropExpired: db.prepare<[string, number]>('DELETE FROM leases WHERE set_name = ? AND expires_at <= ?'),
    find: db.prepare<[string, string], { found: number }>('SELECT 1 AS found FROM leases WHERE set_name = ? AND member = ?'),
    count: db.prepare<[string], { count: number }>('SELECT COUNT(*) AS count FROM leases WHERE set_name = ?'),
    upsert: db.prepare<[string, string, number]>(
      `INSERT INTO leases (set_name, member, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (set_name, member) DO UPDATE SET expires_at = excluded.expires_at`,
    ),
    release: db.prepare<[string, string]>('DELETE FROM leases WHERE set_name = ? AND member = ?'),
    // MIN of no rows is NULL: a set with no live member.
    nextExpiry: db.prepare<[string, number], { expires_at: number | null }>(
      'SELECT MIN(expires_at) AS expires_at FROM leases WHERE set_name = ? AND expires_at > ?',
    ),
    sweep: db.prepare<[number]>('DELETE FROM leases WHERE expires_at <= ?'),
  };
}
