/**
 * Key layout 3, on Redis: command_line credentials are keyed by the folded username (store/subject-fold.ts). Their subjects,
 * stored as typed before, are folded here; of those that fold alike the oldest is kept and the others are removed with the
 * refresh tokens they opened, each reported for the log.
 */
import { redisCall, type FlowgateRedis } from './client.js';
import { describeDropped, FOLDED_SUBJECT_PROVIDERS, planSubjectFold } from '../subject-fold.js';
import type { Credential } from '../types.js';
import { RedisCredentials } from './credentials.js';
import type { RedisKeys } from './keys.js';
import { RedisRefreshTokens } from './refresh-tokens.js';
import { RedisUsers } from './users.js';

/** Users whose credentials are read together: enough to hide the round trips of a large directory, few enough not to flood Redis. */
const USERS_AT_ONCE = 64;

export interface SubjectFoldReport {
  /** Credentials moved to their folded subject. */
  readonly folded: number;
  /** One line per credential removed (describeDropped), or left unfolded because its fold is held by another. */
  readonly dropped: readonly string[];
}

/**
 * Folds the subjects of the credentials bound to users (every such credential is in its user's set, which the user index
 * reaches in a cluster too). A credential bound to no user is left alone, unless it holds the folded subject a kept one moves
 * to: then it goes (it proves a login whose code was never exchanged, and its next login makes it again).
 */
export async function foldCredentialSubjects(client: FlowgateRedis, keys: RedisKeys): Promise<SubjectFoldReport> {
  const call = <T>(run: () => Promise<T>): Promise<T> => redisCall(run, client);
  const users = new RedisUsers(client, keys);
  // No layout gate: this runs inside the migration that the gate waits for.
  const credentials = new RedisCredentials(client, keys, users, (run) => run());
  const tokens = new RedisRefreshTokens(client, keys);
  const ids = await call(() => client.zRange(keys.userIndex(), 0, -1));
  const found: Credential[] = [];
  for (let i = 0; i < ids.length; i += USERS_AT_ONCE) {
    for (const listed of await Promise.all(ids.slice(i, i + USERS_AT_ONCE).map((id) => credentials.listCredentials(id)))) {
      found.push(...listed.filter((credential) => FOLDED_SUBJECT_PROVIDERS.has(credential.providerType)));
    }
  }
  const { renames, dropped } = planSubjectFold(found);
  for (const { credential } of dropped) {
    if (credential.userId !== null) {
      for (const token of await tokens.list(credential.userId)) if (token.credentialId === credential.id) await tokens.delete(token.id);
    }
    await credentials.removeCredential(credential.id);
  }
  let folded = 0;
  const unfolded: string[] = [];
  for (const { credential, subject } of renames) {
    let outcome = await credentials.changeCredentialSubject(credential.id, subject);
    const holder = outcome === 'taken' ? await credentials.findCredential(credential.providerType, credential.providerId, subject) : null;
    if (holder !== null && holder.userId === null && (await credentials.removeCredential(holder.id))) {
      outcome = await credentials.changeCredentialSubject(credential.id, subject);
    }
    if (outcome === 'ok') folded += 1;
    else if (outcome === 'taken') {
      const held = `"${subject}" is held by credential ${holder?.id ?? 'unknown'}`;
      unfolded.push(`${credential.providerType} credential ${credential.id} ("${credential.subject}") was not folded: ${held}`);
    }
  }
  return { folded, dropped: [...dropped.map(describeDropped), ...unfolded] };
}
