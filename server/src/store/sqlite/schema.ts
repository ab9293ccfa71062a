/** The SQLite file's schema, its migrations (tracked in PRAGMA user_version) and the connection settings that make it shareable. */
import type { Database } from 'better-sqlite3';
import { foldCredentialSubjects } from './fold-subjects.js';

/**
 * How long a writer waits for another process's write transaction (the CLI adding a user while the server runs) before giving
 * up with SQLITE_BUSY, which the store reports as `unavailable`. Write transactions here last microseconds.
 */
export const BUSY_TIMEOUT_MS = 5_000;

/** Append only: each entry moves the file from user_version N to N + 1. Never edit one that has shipped. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE flows (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX flows_expires_at ON flows (expires_at);

  CREATE TABLE codes (
    code TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX codes_expires_at ON codes (expires_at);

  CREATE TABLE counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX counters_expires_at ON counters (expires_at);

  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_owner INTEGER NOT NULL,
    is_admin INTEGER NOT NULL,
    is_active INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  -- provider_key is JSON of the provider id: NULLs are distinct in a UNIQUE index, and a null provider id must not be.
  CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    provider_type TEXT NOT NULL,
    provider_id TEXT,
    provider_key TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    user_id TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (provider_type, provider_key, subject)
  ) STRICT;
  CREATE INDEX credentials_user_id ON credentials (user_id);

  -- One-off facts, such as which user was elected owner (kept after that user is removed: the first user ever is the owner).
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;

  -- AUTOINCREMENT so pruning the newest row never lets an id be reused, which would hide an event from a poller's cursor.
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    channel TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX events_created_at ON events (created_at);
  `,
  `
  -- A NULL expire_at never expires (long-lived tokens). The partial unique index backs up the long-lived client name rule that
  -- createRefreshToken checks in its transaction (where, unlike in a UNIQUE index, a NULL name also collides with a NULL name).
  CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    client_id TEXT,
    client_name TEXT,
    type TEXT NOT NULL CHECK (type IN ('normal', 'long_lived_access_token')),
    token_hash TEXT NOT NULL,
    jwt_key TEXT NOT NULL,
    access_token_ttl_ms INTEGER NOT NULL,
    credential_id TEXT,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    last_used_ip TEXT,
    expire_at INTEGER
  ) STRICT;
  CREATE UNIQUE INDEX refresh_tokens_token_hash ON refresh_tokens (token_hash);
  CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
  CREATE UNIQUE INDEX refresh_tokens_long_lived_name ON refresh_tokens (user_id, client_name)
    WHERE type = 'long_lived_access_token';
  CREATE INDEX refresh_tokens_expire_at ON refresh_tokens (expire_at) WHERE expire_at IS NOT NULL;
  `,
  `
  -- Bounded sets of expiring members (leases.ts): "at most N at once per set", shared by every process on the file.
  CREATE TABLE leases (
    set_name TEXT NOT NULL,
    member TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (set_name, member)
  ) STRICT;
  CREATE INDEX leases_expires_at ON leases (expires_at);
  `,
  `
  -- Home Assistant's ip_bans.yaml, shared by every process on the file (login-defense.ts). Bans never expire.
  CREATE TABLE bans (
    address TEXT PRIMARY KEY,
    banned_at INTEGER NOT NULL
  ) STRICT;
  `,
  `
  -- Each user's settings per MFA module (mfa.ts). The revision is random, so settings deposed and set up again never get back
  -- a revision that a stale compare-and-set still holds.
  CREATE TABLE mfa_settings (
    user_id TEXT NOT NULL,
    module_id TEXT NOT NULL,
    data TEXT NOT NULL,
    revision TEXT NOT NULL,
    PRIMARY KEY (user_id, module_id)
  ) STRICT;
  `,
  `
  -- Home Assistant's groups and local-only users. is_admin stays for files older Flowgates may still open, but is no longer
  -- read: an administrator is a member of system-admin (or the owner), and existing admins become members here.
  ALTER TABLE users ADD COLUMN group_ids TEXT NOT NULL DEFAULT '["system-users"]';
  ALTER TABLE users ADD COLUMN local_only INTEGER NOT NULL DEFAULT 0;
  UPDATE users SET group_ids = '["system-admin"]' WHERE is_admin = 1;
  `,
  `
  -- Step-up: when the person behind a refresh token last logged in (code exchange or re-authentication; refreshes do not move
  -- it). NULL for tokens stored before: unknown, so never recent enough for a privileged command.
  ALTER TABLE refresh_tokens ADD COLUMN logged_in_at INTEGER;
  `,
  `
  -- Signing keys are derived from the server's secret_key and a salt per token (secrets/server-secret.ts), never stored. The
  -- tokens that kept their key in clear are revoked, since a copy of this file signs for them (their users log in again; the
  -- notice below counts them for the log), and so is the device-token key: device tokens signed with it no longer verify.
  DELETE FROM refresh_tokens;
  ALTER TABLE refresh_tokens DROP COLUMN jwt_key;
  ALTER TABLE refresh_tokens ADD COLUMN key_salt TEXT NOT NULL DEFAULT '';
  DELETE FROM meta WHERE key = 'secret:device-token-key';
  `,
  `
  -- command_line credentials are keyed by the folded username, as password credentials always were: the subjects stored as
  -- typed are folded by this migration's code step (CODE_STEPS below: SQL has no Unicode case folding).
  `,
];

/** The migration that revokes the refresh tokens which kept their signing key in clear. */
const DERIVED_KEYS_MIGRATION = MIGRATIONS.findIndex((migration) => migration.includes('DROP COLUMN jwt_key'));

/**
 * What the operator must be told before a migration runs (it is logged as a warning), by the migration's index; null when
 * there is nothing to say.
 */
const NOTICES: ReadonlyMap<number, (db: Database) => string | null> = new Map([
  [
    DERIVED_KEYS_MIGRATION,
    (db: Database) => {
      const live = db.prepare<[number], { count: number }>(
        'SELECT count(*) AS count FROM refresh_tokens WHERE expire_at IS NULL OR expire_at > ?',
      ).get(Date.now())?.count ?? 0;
      return live === 0
        ? null
        : `revoked ${live} refresh tokens stored with their signing key in clear (before secret_key): their users log in again`;
    },
  ],
]);

/** The migration that folds command_line subjects (store/subject-fold.ts). */
const FOLDED_SUBJECTS_MIGRATION = MIGRATIONS.findIndex((migration) => migration.includes('keyed by the folded username'));

/**
 * What a migration does beyond its SQL, by the migration's index: run after it, in the same transaction; returns the notices
 * to log.
 */
const CODE_STEPS: ReadonlyMap<number, (db: Database) => string[]> = new Map([[FOLDED_SUBJECTS_MIGRATION, foldCredentialSubjects]]);

/** Settings for every connection; busy_timeout first, since switching to WAL itself needs a lock another process may hold. */
export function configureConnection(db: Database): void {
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // WAL lets readers run alongside the one writer, so the CLI and a running server can share the file.
  db.pragma('journal_mode = WAL');
  // Safe with WAL (a power loss may drop the last commits, never corrupt the file) and avoids an fsync per write.
  db.pragma('synchronous = NORMAL');
}

/**
 * Brings the file to the latest schema; IMMEDIATE so two processes opening a new file at once migrate it only once. Returns
 * the notices of the migrations it ran (NOTICES), for the caller to log.
 */
export function migrate(db: Database): string[] {
  return db.transaction(() => {
    const current = Number(db.pragma('user_version', { simple: true }));
    if (current > MIGRATIONS.length) {
      throw new Error(
        `The database ${db.name} has schema version ${current}, newer than this Flowgate knows (${MIGRATIONS.length}): upgrade Flowgate`,
      );
    }
    const notices: string[] = [];
    for (let index = current; index < MIGRATIONS.length; index += 1) {
      const notice = NOTICES.get(index)?.(db);
      if (notice !== undefined && notice !== null) notices.push(notice);
      db.exec(MIGRATIONS[index] ?? '');
      notices.push(...(CODE_STEPS.get(index)?.(db) ?? []));
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
    return notices;
  }).immediate();
}
