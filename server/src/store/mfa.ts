/** The store's part of multi-factor login: each user's settings per MFA module (a TOTP secret, a notify target, recovery hashes). */
import type { JsonObject } from './types.js';

/** A module's settings for one user, with the revision a compare-and-set names (opaque; it changes on every write). */
export interface MfaSetting {
  readonly data: JsonObject;
  readonly revision: string;
}

export interface MfaStore {
  /** Every module the user has settings for, by module id. */
  listMfaSettings(userId: string): Promise<Record<string, MfaSetting>>;
  getMfaSetting(userId: string, moduleId: string): Promise<MfaSetting | null>;
  /**
   * Writes the user's settings of a module. Without `expectedRevision` it creates or replaces them; with a revision, only if
   * the stored settings still have it (a compare-and-set: a TOTP time step or a recovery code is used once, even when two
   * instances check the same code at once); with null, only if there are none. False when the condition failed.
   */
  putMfaSetting(userId: string, moduleId: string, data: JsonObject, expectedRevision?: string | null): Promise<boolean>;
  /** False when there was nothing to delete. */
  deleteMfaSetting(userId: string, moduleId: string): Promise<boolean>;
}
