/** Drives a whole login over a raw socket: flow, code, tokens (for tests that need an authenticated socket). */
import { RawClient } from './raw-client.js';

export const TEST_CLIENT_ID = 'https://dashboard.example/';

export interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
  readonly token_type: string;
  readonly expires_in: number;
  readonly device_token?: string;
}

/** Runs the insecure_example (or any username/password) flow and returns the authorization code. */
export async function loginCode(
  client: RawClient,
  handler: [string, string | null] = ['insecure_example', null],
  user: { username: string; password: string } = { username: 'alice', password: 'wonderland' },
  clientId = TEST_CLIENT_ID,
): Promise<string> {
  const form = await client.result({ type: 'login_flow/init', handler, client_id: clientId });
  const done = await client.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: clientId, user_input: user });
  if (done['type'] !== 'create_entry') throw new Error(`login did not finish: ${JSON.stringify(done)}`);
  return String(done['result']);
}

export async function loginTokens(client: RawClient, clientId = TEST_CLIENT_ID): Promise<Tokens> {
  const code = await loginCode(client, undefined, undefined, clientId);
  return (await client.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: clientId })) as unknown as Tokens;
}

/** Opens a socket and authenticates it with `accessToken`; returns it once `auth_ok` arrived. */
export async function authenticatedSocket(url: string, accessToken: string): Promise<RawClient> {
  const { client } = await RawClient.open(url);
  client.send({ type: 'auth', access_token: accessToken });
  const reply = (await client.next()) as Record<string, unknown>;
  if (reply['type'] !== 'auth_ok') throw new Error(`expected auth_ok, got ${JSON.stringify(reply)}`);
  return client;
}
