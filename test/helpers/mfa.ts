/** MFA for client tests: a config with example users and MFA modules, and TOTP set up for a user over a raw socket. */
import { authenticator } from 'otplib';
import { authenticatedSocket, loginCode, TEST_CLIENT_ID } from './login.js';
import { RawClient } from './raw-client.js';

export interface ExampleUser {
  readonly username: string;
  readonly password: string;
  readonly name: string;
}

/** One example user per name (password `<name>-password`), so that each test logs in as its own: a TOTP code is used once per user. */
export function exampleUsers(...usernames: string[]): ExampleUser[] {
  return usernames.map((username) => ({ username, password: `${username}-password`, name: `${username.charAt(0).toUpperCase()}${username.slice(1)}` }));
}

export function mfaConfig(users: readonly ExampleUser[], modules: ReadonlyArray<Record<string, unknown>> = [{ type: 'totp' }]): Record<string, unknown> {
  return { auth_providers: [{ type: 'insecure_example', users }], mfa_modules: modules };
}

/** The TOTP code of `secret` now, as an authenticator app shows it. */
export function totpCode(secret: string): string {
  return authenticator.generate(secret);
}

/** One TOTP time step. */
const TOTP_STEP_MS = 30_000;

/**
 * The code of the next time step: what a login right after the setup types, since the setup used the current step (each step
 * is taken once) and the login window takes one step either side.
 */
export function nextTotpCode(secret: string): string {
  return authenticator.clone({ epoch: Date.now() + TOTP_STEP_MS }).generate(secret);
}

/** A socket of `user` authenticated after a password-only login (so before any MFA is set up); the first login creates the user. */
export async function signedInSocket(url: string, user: ExampleUser, handler: [string, string | null] = ['insecure_example', null]): Promise<RawClient> {
  const { client } = await RawClient.open(url);
  try {
    const code = await loginCode(client, handler, { username: user.username, password: user.password });
    const tokens = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID });
    return await authenticatedSocket(url, String(tokens['access_token']));
  } finally {
    client.close();
  }
}

/**
 * Sets up TOTP on `socket` with a code computed from the `code` placeholder, and returns the secret. The setup accepts no
 * code from another time step, so one that straddled a step boundary is tried again once.
 */
export async function setUpTotp(socket: RawClient, moduleId = 'totp'): Promise<string> {
  for (let tries = 0; tries < 2; tries++) {
    const form = await socket.result({ type: 'auth/setup_mfa', mfa_module_id: moduleId });
    const secret = String((form['description_placeholders'] as Record<string, string>)['code']);
    const done = await socket.result({ type: 'auth/setup_mfa', flow_id: form['flow_id'], user_input: { code: totpCode(secret) } });
    if (done['type'] === 'create_entry') return secret;
  }
  throw new Error('TOTP setup refused two fresh codes');
}

/** Sets up recovery codes on `socket` and returns them. */
export async function setUpRecovery(socket: RawClient, moduleId = 'recovery'): Promise<string[]> {
  const form = await socket.result({ type: 'auth/setup_mfa', mfa_module_id: moduleId });
  const done = await socket.result({ type: 'auth/setup_mfa', flow_id: form['flow_id'], user_input: {} });
  return (done['data'] as { codes: string[] }).codes;
}

/** Logs `user` in with the password, sets up TOTP over the socket and returns the secret. */
export async function setUpTotpOverSocket(url: string, user: ExampleUser): Promise<string> {
  const socket = await signedInSocket(url, user);
  try {
    return await setUpTotp(socket);
  } finally {
    socket.close();
  }
}
