/** Authorization codes: what a finished login flow hands the client, to exchange for tokens. */
import { randomId } from '../crypto.js';
import type { CodeStore, JsonObject } from '../store/types.js';

/** A code is valid this long after the flow finished (OAuth 2.0 4.1.2 recommends at most 10 minutes; HA uses 10). */
export const AUTHORIZATION_CODE_TTL_MS = 10 * 60 * 1000;

export interface CodeExtras {
  /** The account the login proved, for the device token the exchange hands out (null: none). */
  readonly deviceAccount?: string | null;
  /** The `redirect_uri` the login flow was started with (null: none), which an exchange that names one must repeat. */
  readonly redirectUri?: string | null;
  readonly now?: number;
}

/** Stores a new single-use code bound to `clientId` and proving `credentialId`; returns the code. */
export async function issueAuthorizationCode(
  store: CodeStore,
  clientId: string,
  credentialId: string,
  { deviceAccount = null, redirectUri = null, now = Date.now() }: CodeExtras = {},
): Promise<string> {
  const code = randomId();
  const data = { credential_id: credentialId, issued_at: now, device_account: deviceAccount, redirect_uri: redirectUri };
  await store.putCode(code, clientId, data, now + AUTHORIZATION_CODE_TTL_MS);
  return code;
}

/**
 * RFC 6749 4.1.3's check of a code's `redirect_uri`: the one given at the exchange must be identical to the flow's (a flow that
 * had none takes none). Giving none is accepted, since Home Assistant's clients never send it; the authorize page sends the code
 * nowhere but the flow's own redirect URI. A code stored before codes kept their redirect URI passes.
 */
export function redirectUriMatches(data: JsonObject, given: string | undefined): boolean {
  if (given === undefined || !('redirect_uri' in data)) return true;
  return data['redirect_uri'] === given;
}
