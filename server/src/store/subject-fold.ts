/**
 * Folding the subjects of `command_line` credentials, which were stored as typed and are now keyed by the folded username
 * (usernames.ts) as password credentials always were: one plan for both backends' migrations. Of the credentials whose
 * subjects fold alike, the oldest is kept (moved to the fold) and the others are dropped with their sessions, each logged; one
 * that no user has yet (its login's code was never exchanged) is never kept over one that has a user.
 */
import { normalizeUsername } from '../usernames.js';
import type { Credential } from './types.js';

/** The provider types whose subjects are folded usernames now but were kept as typed before (HA's command_line keeps them so). */
export const FOLDED_SUBJECT_PROVIDERS: ReadonlySet<string> = new Set(['command_line']);

export interface SubjectFold {
  /** The credentials to move to their folded subject: each the oldest of its fold, its subject not folded yet. */
  readonly renames: ReadonlyArray<{ readonly credential: Credential; readonly subject: string }>;
  /** The credentials to drop (with the refresh tokens they opened), each with the one kept in its place. */
  readonly dropped: ReadonlyArray<{ readonly credential: Credential; readonly kept: Credential }>;
}

/** The one kept first: a credential with a user before one without (a login whose code was never exchanged), then the oldest. */
const keptFirst = (a: Credential, b: Credential): number =>
  Number(a.userId === null) - Number(b.userId === null) || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** What the migration does to `credentials` (any mix of providers; only FOLDED_SUBJECT_PROVIDERS' are touched). */
export function planSubjectFold(credentials: readonly Credential[]): SubjectFold {
  const groups = new Map<string, Credential[]>();
  for (const credential of credentials) {
    if (!FOLDED_SUBJECT_PROVIDERS.has(credential.providerType)) continue;
    const key = JSON.stringify([credential.providerType, credential.providerId, normalizeUsername(credential.subject)]);
    groups.set(key, [...(groups.get(key) ?? []), credential]);
  }
  const renames: Array<SubjectFold['renames'][number]> = [];
  const dropped: Array<SubjectFold['dropped'][number]> = [];
  for (const group of groups.values()) {
    const [kept, ...others] = [...group].sort(keptFirst);
    if (kept === undefined) continue;
    const subject = normalizeUsername(kept.subject);
    if (kept.subject !== subject) renames.push({ credential: kept, subject });
    for (const credential of others) dropped.push({ credential, kept });
  }
  return { renames, dropped };
}

/** The log line of a dropped credential, for the operator: which login was lost, which user it belonged to, what was kept. */
export function describeDropped({ credential, kept }: SubjectFold['dropped'][number]): string {
  const provider = credential.providerId === null ? credential.providerType : `${credential.providerType} (${credential.providerId})`;
  return (
    `${provider} usernames are now compared without case: "${credential.subject}" (credential ${credential.id}, user ` +
    `${credential.userId ?? 'none'}) is the same username as the older "${kept.subject}" (credential ${kept.id}, user ` +
    `${kept.userId ?? 'none'}), which is kept as "${normalizeUsername(kept.subject)}"; "${credential.subject}" was removed with the ` +
    'sessions it opened, and its user ' +
    'was left as it was, without this login'
  );
}
