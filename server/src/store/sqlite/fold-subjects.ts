/** The SQLite side of folding command_line subjects (store/subject-fold.ts): one schema migration's code step, in its transaction. */
import type { Database } from 'better-sqlite3';
import { describeDropped, FOLDED_SUBJECT_PROVIDERS, planSubjectFold } from '../subject-fold.js';
import { toCredential, type CredentialRow } from './rows.js';

/**
 * Folds every command_line credential's subject; of those that fold alike the oldest is kept, the others are deleted with the
 * refresh tokens they opened (first, so the kept one can take the folded subject under the UNIQUE key). Returns a notice per
 * dropped credential, for the log.
 */
export function foldCredentialSubjects(db: Database): string[] {
  const types = [...FOLDED_SUBJECT_PROVIDERS];
  const rows = db
    .prepare<string[], CredentialRow>(
      `SELECT id, provider_type, provider_id, subject, data, user_id, created_at FROM credentials
       WHERE provider_type IN (${types.map(() => '?').join(', ')})`,
    )
    .all(...types);
  const { renames, dropped } = planSubjectFold(rows.map(toCredential));
  const dropTokens = db.prepare<[string]>('DELETE FROM refresh_tokens WHERE credential_id = ?');
  const dropCredential = db.prepare<[string]>('DELETE FROM credentials WHERE id = ?');
  const rename = db.prepare<[string, string]>('UPDATE credentials SET subject = ? WHERE id = ?');
  for (const { credential } of dropped) {
    dropTokens.run(credential.id);
    dropCredential.run(credential.id);
  }
  for (const { credential, subject } of renames) rename.run(subject, credential.id);
  return dropped.map(describeDropped);
}
