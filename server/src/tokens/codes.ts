/** Authorization codes: what a finished login flow hands the client, to exchange for tokens. */
import { randomId } from '../crypto.js';
import type { CodeStore } from '../store/types.js';

/** A code is valid this long after the flow finished (OAuth 2.0 4.1.2 recommends at most 10 minutes; HA uses 10). */
export const AUTHORIZATION_CODE_TTL_MS = 10 * 60 * 1000;

export interface CodeExtras {
  /** The account the login proved, for the device token the exchange hands out (null: none). */
  readonly deviceAccount?: string | null;
  readonly now?: number;
}

/** Stores a new single-use code bound to `clientId` and proving `credentialId`; returns the code. */
export async function issueAuthorizationCode(
  store: CodeStore,
  clientId: string,
  credentialId: string,
  { deviceAccount = null, now = Date.now() }: CodeExtras = {},
): Promise<string> {
  const code = randomId();
  const data = { credential_id: credentialId, issued_at: now, device_account: deviceAccount };
  await store.putCode(code, clientId, data, now + AUTHORIZATION_CODE_TTL_MS);
  return code;
}
