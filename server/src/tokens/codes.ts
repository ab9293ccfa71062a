/** Authorization codes: what a finished login flow hands the client, to exchange for tokens. */
import { randomId } from '../crypto.js';
import type { CodeStore } from '../store/types.js';

/** A code is valid this long after the flow finished (OAuth 2.0 4.1.2 recommends at most 10 minutes; HA uses 10). */
export const AUTHORIZATION_CODE_TTL_MS = 10 * 60 * 1000;

/** Stores a new single-use code bound to `clientId` and proving `credentialId`; returns the code. */
export async function issueAuthorizationCode(
  store: CodeStore,
  clientId: string,
  credentialId: string,
  now: number = Date.now(),
): Promise<string> {
  const code = randomId();
  await store.putCode(code, clientId, { credential_id: credentialId, issued_at: now }, now + AUTHORIZATION_CODE_TTL_MS);
  return code;
}
