/**
 * The one fold of usernames: what the password and command_line providers key their credentials and the login limits by. Here,
 * below every layer, so that the store's migrations fold stored subjects exactly as logins fold typed ones.
 */

/**
 * The username a login or an account is keyed by, HA's `strip().casefold()` with Unicode's full case folding: trimmed,
 * NFKC-normalised (full-width and compatibility forms fold to one spelling), then upper- and lower-cased, which folds what
 * lower-casing alone keeps apart (`Straße` and `STRASSE`, `ﬁ` and `fi`, final and medial sigma), then NFKC again for the
 * forms folding produced. Where it differs from Python's casefold it only merges more (dotless `ı` with `i`): never two
 * accounts that HA would keep as one. Passwords are never normalised.
 */
export function normalizeUsername(username: string): string {
  return username.trim().normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}
