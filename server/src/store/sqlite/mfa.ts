/** MFA settings on SQLite: the `mfa_settings` table (schema.ts) behind SqliteStore's MfaStore methods. */
import type { Database } from 'better-sqlite3';
import { randomId } from '../../crypto.js';
import type { MfaSetting } from '../mfa.js';
import type { JsonObject } from '../types.js';

interface SettingRow {
  module_id: string;
  data: string;
  revision: string;
}

const toSetting = (row: SettingRow): MfaSetting => ({ data: JSON.parse(row.data) as JsonObject, revision: row.revision });

/**
 * Synchronous, like better-sqlite3 itself: SqliteStore wraps every call to map SQLITE_BUSY to `unavailable`. Each write is one
 * statement, which SQLite runs atomically under the file's write lock, across processes too: the compare-and-set needs no
 * transaction around it.
 */
export class SqliteMfaSettings {
  readonly #sql: ReturnType<typeof prepareStatements>;

  constructor(db: Database) {
    this.#sql = prepareStatements(db);
  }

  list(userId: string): Record<string, MfaSetting> {
    const settings: Record<string, MfaSetting> = {};
    for (const row of this.#sql.list.all(userId)) settings[row.module_id] = toSetting(row);
    return settings;
  }

  get(userId: string, moduleId: string): MfaSetting | null {
    const row = this.#sql.get.get(userId, moduleId);
    return row === undefined ? null : toSetting(row);
  }

  put(userId: string, moduleId: string, data: JsonObject, expectedRevision?: string | null): boolean {
    const json = JSON.stringify(data);
    const revision = randomId();
    if (expectedRevision === undefined) return this.#sql.upsert.run(userId, moduleId, json, revision).changes === 1;
    if (expectedRevision === null) return this.#sql.insertIfAbsent.run(userId, moduleId, json, revision).changes === 1;
    return this.#sql.replaceIfRevision.run(json, revision, userId, moduleId, expectedRevision).changes === 1;
  }

  delete(userId: string, moduleId: string): boolean {
    return this.#sql.delete.run(userId, moduleId).changes === 1;
  }

  /** Called inside removeUser's transaction, so a user and their settings go together. */
  deleteAllOfUser(userId: string): void {
    this.#sql.deleteAllOfUser.run(userId);
  }
}

function prepareStatements(db: Database) {
  return {
    list: db.prepare<[string], SettingRow>('SELECT module_id, data, revision FROM mfa_settings WHERE user_id = ? ORDER BY module_id'),
    get: db.prepare<[string, string], SettingRow>('SELECT module_id, data, revision FROM mfa_settings WHERE user_id = ? AND module_id = ?'),
    upsert: db.prepare<[string, string, string, string]>(
      `INSERT INTO mfa_settings (user_id, module_id, data, revision) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, module_id) DO UPDATE SET data = excluded.data, revision = excluded.revision`,
    ),
    insertIfAbsent: db.prepare<[string, string, string, string]>(
      `INSERT INTO mfa_settings (user_id, module_id, data, revision) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, module_id) DO NOTHING`,
    ),
    replaceIfRevision: db.prepare<[string, string, string, string, string]>(
      'UPDATE mfa_settings SET data = ?, revision = ? WHERE user_id = ? AND module_id = ? AND revision = ?',
    ),
    delete: db.prepare<[string, string]>('DELETE FROM mfa_settings WHERE user_id = ? AND module_id = ?'),
    deleteAllOfUser: db.prepare<[string]>('DELETE FROM mfa_settings WHERE user_id = ?'),
  };
}
