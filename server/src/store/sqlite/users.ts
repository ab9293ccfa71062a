/** Users and credentials on SQLite: the `users`, `credentials` and `meta` (owner) tables (schema.ts) behind SqliteStore's methods. */
import type { Database, Statement } from 'better-sqlite3';
import { randomId } from '../../crypto.js';
import type { Credential, JsonObject, MakeOwnerOutcome, NewUser, NewUserOptions, User, UserForCredential, UserPatch } from '../types.js';
import { toCredential, toUser, type CredentialRow, type UserRow } from './rows.js';

/** What else a user owns (refresh tokens, MFA settings): removed in removeUser's transaction, so a user and theirs go together. */
export interface UserOwned {
  deleteAllOfUser(userId: string): void;
}

/**
 * Synchronous, like better-sqlite3 itself: SqliteStore wraps every call to map SQLITE_BUSY to `unavailable`. Methods are named
 * as the Store's. Statements are prepared once, on a connection whose schema is already migrated.
 */
export class SqliteUsers {
  readonly #db: Database;
  readonly #sql: ReturnType<typeof prepareStatements>;
  readonly #owned: readonly UserOwned[];

  constructor(db: Database, owned: readonly UserOwned[]) {
    this.#db = db;
    this.#sql = prepareStatements(db);
    this.#owned = owned;
  }

  createUser(user: NewUser, options: NewUserOptions = {}): User {
    return this.#db
      .transaction((): User => {
        if (this.#sql.getUser.get(user.id) !== undefined) throw new Error(`User ${user.id} already exists`);
        return this.#insertUser(user, options);
      })
      .immediate();
  }

  /** Inside a transaction: elects the owner when asked to and no owner was ever elected, inserts, and reads the user back. */
  #insertUser(user: NewUser, options: NewUserOptions): User {
    const isOwner = options.claimOwner === true && this.#sql.claimOwner.run(user.id).changes === 1;
    const groups = JSON.stringify(user.groupIds);
    this.#sql.insertUser.run(user.id, user.name, +isOwner, +user.isActive, groups, +user.localOnly, user.createdAt);
    const row = this.#sql.getUser.get(user.id);
    if (row === undefined) throw new Error(`User ${user.id} could not be read back`);
    return toUser(row);
  }

  getUser(id: string): User | null {
    const row = this.#sql.getUser.get(id);
    return row === undefined ? null : toUser(row);
  }

  listUsers(): User[] {
    return this.#sql.listUsers.all().map(toUser);
  }

  updateUser(id: string, patch: UserPatch): User | null {
    const flagOrNull = (value: boolean | undefined): number | null => (value === undefined ? null : +value);
    const groups = patch.groupIds === undefined ? null : JSON.stringify(patch.groupIds);
    const row = this.#sql.updateUser.get(patch.name ?? null, flagOrNull(patch.isActive), groups, flagOrNull(patch.localOnly), id);
    return row === undefined ? null : toUser(row);
  }

  removeUser(id: string): boolean {
    return this.#db
      .transaction((): boolean => {
        this.#sql.removeUserCredentials.run(id);
        for (const owned of this.#owned) owned.deleteAllOfUser(id);
        return this.#sql.removeUser.run(id).changes === 1;
      })
      .immediate();
  }

  /** The owner marker (meta `owner`) moves to this user unless it names another user who still exists. */
  makeOwner(userId: string): MakeOwnerOutcome {
    return this.#db
      .transaction((): MakeOwnerOutcome => {
        if (this.#sql.getUser.get(userId) === undefined) return 'not_found';
        const owner = this.#sql.getOwner.get()?.value;
        if (owner !== undefined && owner !== userId && this.#sql.getUser.get(owner) !== undefined) return 'owner_exists';
        this.#sql.setOwner.run(userId);
        this.#sql.markOwner.run(userId);
        return 'ok';
      })
      .immediate();
  }

  getOrCreateCredential(providerType: string, providerId: string | null, subject: string, data: JsonObject): Credential {
    const providerKey = JSON.stringify(providerId);
    const row = this.#db
      .transaction(() => {
        // ON CONFLICT DO NOTHING on the UNIQUE key: whoever inserts first wins, everyone reads that row back.
        const values = [randomId(), providerType, providerId, providerKey, subject, JSON.stringify(data), Date.now()] as const;
        this.#sql.insertCredential.run(...values);
        return this.#sql.findCredential.get(providerType, providerKey, subject);
      })
      .immediate();
    if (row === undefined) throw new Error(`Credential for ${providerType} ${subject} could not be read back`);
    return toCredential(row);
  }

  getCredential(id: string): Credential | null {
    const row = this.#sql.getCredential.get(id);
    return row === undefined ? null : toCredential(row);
  }

  findCredential(providerType: string, providerId: string | null, subject: string): Credential | null {
    const row = this.#sql.findCredential.get(providerType, JSON.stringify(providerId), subject);
    return row === undefined ? null : toCredential(row);
  }

  listCredentials(userId: string): Credential[] {
    return this.#sql.listCredentials.all(userId).map(toCredential);
  }

  updateCredentialData(credentialId: string, data: JsonObject, expected?: JsonObject): boolean {
    const json = JSON.stringify(data);
    return (
      (expected === undefined
        ? this.#sql.updateCredentialData.run(json, credentialId)
        : this.#sql.replaceCredentialData.run(json, credentialId, JSON.stringify(expected))
      ).changes === 1
    );
  }

  removeCredential(credentialId: string): boolean {
    return this.#sql.removeCredential.run(credentialId).changes === 1;
  }

  changeCredentialSubject(credentialId: string, subject: string): 'ok' | 'taken' | 'not_found' {
    return this.#db
      .transaction((): 'ok' | 'taken' | 'not_found' => {
        const credential = this.#sql.getCredential.get(credentialId);
        if (credential === undefined) return 'not_found';
        if (credential.subject === subject) return 'ok';
        const key = JSON.stringify(credential.provider_id);
        if (this.#sql.findCredential.get(credential.provider_type, key, subject) !== undefined) return 'taken';
        this.#sql.changeCredentialSubject.run(subject, credentialId);
        return 'ok';
      })
      .immediate();
  }

  linkCredential(credentialId: string, userId: string): boolean {
    return this.#sql.linkCredential.run(userId, credentialId, userId, userId).changes === 1;
  }

  createUserForCredential(credentialId: string, user: NewUser, options: NewUserOptions = {}): UserForCredential | null {
    return this.#db
      .transaction((): UserForCredential | null => {
        const credential = this.#sql.getCredential.get(credentialId);
        if (credential === undefined) return null;
        if (credential.user_id !== null) {
          const linked = this.#sql.getUser.get(credential.user_id);
          return linked === undefined ? null : { user: toUser(linked), created: false };
        }
        const created = this.#insertUser(user, options);
        this.#sql.linkCredential.run(user.id, credentialId, user.id, user.id);
        return { user: created, created: true };
      })
      .immediate();
  }
}

/** The row types are what each SELECT or RETURNING clause yields. */
function prepareStatements(db: Database) {
  const query = <P extends unknown[], R>(sql: string): Statement<P, R> => db.prepare<P, R>(sql);
  const run = <P extends unknown[]>(sql: string): Statement<P> => db.prepare<P>(sql);
  const credentialColumns = 'id, provider_type, provider_id, subject, data, user_id, created_at';
  return {
    claimOwner: run<[string]>(`INSERT INTO meta (key, value) VALUES ('owner', ?) ON CONFLICT (key) DO NOTHING`),
    getOwner: query<[], { value: string }>(`SELECT value FROM meta WHERE key = 'owner'`),
    setOwner: run<[string]>(`INSERT INTO meta (key, value) VALUES ('owner', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
    markOwner: run<[string]>('UPDATE users SET is_owner = 1 WHERE id = ?'),
    // is_admin is written as 0 and never read (the schema keeps it for older files): groups decide.
    insertUser: run<[string, string, number, number, string, number, number]>(
      `INSERT INTO users (id, name, is_owner, is_admin, is_active, group_ids, local_only, created_at)
       VALUES (?, ?, ?, 0, ?, ?, ?, ?)`,
    ),
    getUser: query<[string], UserRow>('SELECT * FROM users WHERE id = ?'),
    listUsers: query<[], UserRow>('SELECT * FROM users ORDER BY created_at, id'),
    updateUser: query<[string | null, number | null, string | null, number | null, string], UserRow>(
      `UPDATE users SET name = COALESCE(?, name), is_active = COALESCE(?, is_active), group_ids = COALESCE(?, group_ids),
       local_only = COALESCE(?, local_only) WHERE id = ? RETURNING *`,
    ),
    removeUser: run<[string]>('DELETE FROM users WHERE id = ?'),
    removeUserCredentials: run<[string]>('DELETE FROM credentials WHERE user_id = ?'),
    removeCredential: run<[string]>('DELETE FROM credentials WHERE id = ?'),
    changeCredentialSubject: run<[string, string]>('UPDATE credentials SET subject = ? WHERE id = ?'),
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
  };
}
