/**
 * The embedded store's file and folder, created readable by their owner only: the database holds password hashes, MFA
 * secrets and the login counters, and SQLite would create it 0644 (its `-wal` and `-shm` files copy the database's mode).
 */
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StoreLogger } from '../types.js';

/** rwx for the owner only: no other account on the machine may list or enter the store's folder. */
export const PRIVATE_FOLDER_MODE = 0o700;
/** rw for the owner only. */
export const PRIVATE_FILE_MODE = 0o600;
/** The group and other bits: any of them set means someone besides the owner may read (or enter). */
const SHARED_BITS = 0o077;

/**
 * Creates the database's folder (0700) and an empty database file (0600) when they are missing, before SQLite opens it (an
 * empty file is an empty database to SQLite). An existing file keeps its mode, since an operator may have opened it on
 * purpose (a backup account's group), but one that others may read is told in the log with the command that closes it (the
 * folder is not: a `sqlite:` path may well sit in a shared one). Windows has no such modes: there nothing is checked.
 */
export function preparePrivateDatabaseFile(path: string, logger: StoreLogger): void {
  mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_FOLDER_MODE });
  // `a`: created when missing, left as it is when present (never truncated); the mode applies only to a new file.
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  if (process.platform === 'win32') return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & SHARED_BITS) !== 0) {
    const octal = (bits: number): string => bits.toString(8).padStart(3, '0');
    logger.warn({ path, mode: octal(mode) }, `${path} may be read by other users of this machine (mode ${octal(mode)}): run chmod ${octal(PRIVATE_FILE_MODE)} on it`);
  }
}
