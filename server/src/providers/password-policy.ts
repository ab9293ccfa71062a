/**
 * The rule a new password must pass (`flowgate user add|passwd`, `change_password`, `admin_change_password`, a new password
 * login): long enough, and not one of the passwords attackers try first. Hashes made before the rule keep logging in.
 */
import { ServiceError } from '../errors.js';

/** NIST SP 800-63B's minimum for a password the user chose, counted in code points (what a person counts as characters). */
export const MIN_PASSWORD_CODE_POINTS = 8;

/**
 * zxcvbn's ranked list of common passwords (`@zxcvbn-ts/language-common`, about 49,000 from leaked sets, all lower-case), as
 * a set. Loaded on the first check rather than at startup: about 40 ms and 4 MB once, which a server that never sets a
 * password never pays; a check is then one lookup.
 */
let commonPasswords: Promise<ReadonlySet<string>> | undefined;

function loadCommonPasswords(): Promise<ReadonlySet<string>> {
  if (commonPasswords === undefined) {
    commonPasswords = import('@zxcvbn-ts/language-common').then(({ dictionary }) => new Set(dictionary['passwords-common']));
    // A failed load is not remembered, so the next check tries again rather than failing forever.
    commonPasswords.catch(() => {
      commonPasswords = undefined;
    });
  }
  return commonPasswords;
}

/** Why `password` may not be set (a sentence for the person choosing it), or null when it may. */
export async function weakPasswordReason(password: string): Promise<string | null> {
  if ([...password].length < MIN_PASSWORD_CODE_POINTS) {
    return `This password is too short: use at least ${MIN_PASSWORD_CODE_POINTS} characters`;
  }
  // The list is lower-case, and `Password` or `PASSWORD` is guessed as early as `password`.
  if ((await loadCommonPasswords()).has(password.toLowerCase())) {
    return 'This password is among the most common ones, which attackers try first: choose another';
  }
  return null;
}

/** Throws `weak_password` with the reason when `password` may not be set. */
export async function assertStrongPassword(password: string): Promise<void> {
  const reason = await weakPasswordReason(password);
  if (reason !== null) throw new ServiceError('weak_password', reason);
}
