/** Login defense on SQLite: counters (the `counters` table), bans and shared secrets, each attempt in one IMMEDIATE transaction. */
import type { Database } from 'better-sqlite3';
import type {
  AttemptCounter,
  AttemptCounters,
  AttemptReservation,
  AttemptSettlement,
  Ban,
  LimitedCounter,
  LoginDefenseStore,
  Settled,
} from '../login-defense.js';

/** A ban count has no window (Home Assistant's never decays): its row simply never expires. */
const NEVER = Number.MAX_SAFE_INTEGER;
const COUNTER_NAMES: readonly LimitedCounter[] = ['address', 'account', 'device'];

/** The keys in the shared `counters` table, apart from any other counter's. */
const failuresKey = (name: LimitedCounter, counter: AttemptCounter): string => `login-defense:failures:${name}:${counter.key}`;
const banCountKey = (ban: string): string => `login-defense:ban-count:${ban}`;

export class SqliteLoginDefense implements LoginDefenseStore {
  readonly #db: Database;
  readonly #sql: ReturnType<typeof prepareStatements>;

  /** `run` maps SQLITE_BUSY (another process holding the lock too long) to the store's `unavailable`. */
  constructor(
    db: Database,
    private readonly run: <T>(operation: () => T) => T,
  ) {
    this.#db = db;
    this.#sql = prepareStatements(db);
  }

  async reserveAttempt(ban: string | null, counters: AttemptCounters): Promise<AttemptReservation> {
    return this.run(() => this.#db.transaction(() => this.#check(ban, counters, true)).immediate());
  }

  async checkAttempt(ban: string | null, counters: AttemptCounters): Promise<AttemptReservation> {
    return this.run(() => this.#check(ban, counters, false));
  }

  async settleAttempt(ban: string, counters: AttemptCounters, settlement: AttemptSettlement, banThreshold: number): Promise<Settled> {
    const nothing: Settled = { banned: false, lockedOut: [] };
    return this.run(() =>
      this.#db
        .transaction((): Settled => {
          const now = Date.now();
          const applied = COUNTER_NAMES.flatMap((name) => {
            const counter = counters[name];
            return counter === null || counter.limit <= 0 ? [] : [{ name, key: failuresKey(name, counter) }];
          });
          if (settlement === 'release') {
            for (const { key } of applied) this.#sql.giveBack.run(key, now);
            return nothing;
          }
          if (settlement === 'success') {
            this.#sql.remove.run(failuresKey('address', counters.address));
            if (counters.device !== null) this.#sql.remove.run(failuresKey('device', counters.device));
            this.#sql.remove.run(banCountKey(ban));
            for (const { name, key } of applied) if (name === 'account') this.#sql.giveBack.run(key, now);
            return nothing;
          }
          const lockedOut = applied
            .filter(({ name, key }) => this.#sql.get.get(key, now)?.value === counters[name]?.limit)
            .map(({ name }) => name);
          if (banThreshold <= 0) return { banned: false, lockedOut };
          const count = this.#sql.increment.get({ key: banCountKey(ban), expiresAt: NEVER, now })?.value ?? 0;
          if (count < banThreshold) return { banned: false, lockedOut };
          this.#sql.ban.run(ban, now);
          this.#sql.remove.run(banCountKey(ban));
          return { banned: true, lockedOut };
        })
        .immediate(),
    );
  }

  async isBanned(address: string): Promise<boolean> {
    return this.run(() => this.#sql.isBanned.get(address) !== undefined);
  }

  async listBans(): Promise<Ban[]> {
    return this.run(() => this.#sql.listBans.all().map((row) => ({ address: row.address, bannedAt: row.banned_at })));
  }

  async removeBan(address: string): Promise<boolean> {
    return this.run(() => this.#sql.unban.run(address).changes === 1);
  }

  async sharedSecret(name: string, candidate: string): Promise<string> {
    return this.run(() => {
      this.#sql.putSecret.run(`secret:${name}`, candidate);
      return this.#sql.getSecret.get(`secret:${name}`)?.value ?? candidate;
    });
  }

  /** Inside the caller's transaction (or a single read), as the Redis script does it. */
  #check(ban: string | null, counters: AttemptCounters, count: boolean): AttemptReservation {
    const now = Date.now();
    if (ban !== null && this.#sql.isBanned.get(ban) !== undefined) return { outcome: 'banned' };
    let limited: { counter: LimitedCounter; retryAfterMs: number } | null = null;
    for (const name of COUNTER_NAMES) {
      const counter = counters[name];
      if (counter === null || counter.limit <= 0) continue;
      const row = this.#sql.get.get(failuresKey(name, counter), now);
      if (row !== undefined && row.value >= counter.limit && (limited === null || row.expires_at - now > limited.retryAfterMs)) {
        limited = { counter: name, retryAfterMs: row.expires_at - now };
      }
    }
    if (limited !== null) return { outcome: 'limited', ...limited };
    const filled: LimitedCounter[] = [];
    if (count) {
      for (const name of COUNTER_NAMES) {
        const counter = counters[name];
        if (counter === null || counter.limit <= 0) continue;
        const counted = this.#sql.increment.get({ key: failuresKey(name, counter), expiresAt: now + counter.windowMs, now });
        if (counted?.value === counter.limit) filled.push(name);
      }
    }
    return { outcome: 'reserved', filled };
  }
}

function prepareStatements(db: Database) {
  return {
    get: db.prepare<[string, number], { value: number; expires_at: number }>(
      'SELECT value, expires_at FROM counters WHERE key = ? AND expires_at > ?',
    ),
    // An expired row restarts at 1 with a new window, as the store's incrementCounter does.
    increment: db.prepare<[{ key: string; expiresAt: number; now: number }], { value: number }>(
      `INSERT INTO counters (key, value, expires_at) VALUES (@key, 1, @expiresAt)
       ON CONFLICT (key) DO UPDATE SET
         value = CASE WHEN counters.expires_at <= @now THEN 1 ELSE counters.value + 1 END,
         expires_at = CASE WHEN counters.expires_at <= @now THEN excluded.expires_at ELSE counters.expires_at END
       RETURNING value`,
    ),
    // Never below zero, and an expired row is left for the sweeper rather than revived.
    giveBack: db.prepare<[string, number]>('UPDATE counters SET value = value - 1 WHERE key = ? AND value > 0 AND expires_at > ?'),
    remove: db.prepare<[string]>('DELETE FROM counters WHERE key = ?'),
    ban: db.prepare<[string, number]>('INSERT INTO bans (address, banned_at) VALUES (?, ?) ON CONFLICT (address) DO NOTHING'),
    isBanned: db.prepare<[string], { address: string }>('SELECT address FROM bans WHERE address = ?'),
    listBans: db.prepare<[], { address: string; banned_at: number }>('SELECT address, banned_at FROM bans ORDER BY banned_at, address'),
    unban: db.prepare<[string]>('DELETE FROM bans WHERE address = ?'),
    putSecret: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
    getSecret: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
  };
}
