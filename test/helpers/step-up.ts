/**
 * Step-up for tests: a server whose privileged window is a couple of seconds, its accounts made with `flowgate user add` (the
 * first is the owner), and password logins and re-authentications over raw sockets.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { authenticatedSocket, TEST_CLIENT_ID, type Tokens } from './login.js';
import { RawClient } from './raw-client.js';
import { runFlowgate } from './server-process.js';

/**
 * `privileged_session_seconds` of these servers: long enough for a login, its exchange and one command on a loaded 2-core
 * machine, short enough that a test waits it out in a moment.
 */
export const WINDOW_SECONDS = 2;
/** How long a test waits for a login to leave the window. */
const PAST_WINDOW_MS = WINDOW_SECONDS * 1000 + 300;

export const PASSWORD_HANDLER = ['password', null];

export interface Account {
  readonly username: string;
  readonly password: string;
  readonly name: string;
}

/** The owner (an administrator), and two users who are not. Passwords long and uncommon enough for any password policy. */
export const OWNER: Account = { username: 'olive', password: 'olive-quartz-lantern-81', name: 'Olive Owner' };
export const ALICE: Account = { username: 'alice', password: 'alice-meadow-harbor-27', name: 'Alice' };
export const BOB: Account = { username: 'bob', password: 'bob-granite-willow-64', name: 'Bob' };

/** The password provider with argon2 cheap enough for tests, TOTP, and the short privileged window. */
export function stepUpConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    auth_providers: [{ type: 'password', argon2: { memory_kib: 1024, time_cost: 1, parallelism: 1 } }],
    mfa_modules: [{ type: 'totp' }],
    privileged_session_seconds: WINDOW_SECONDS,
    ...extra,
  };
}

/** A folder with `config` written to flowgate.yaml and `accounts` added in order (on `store`, else the embedded one there). */
export async function prepareAccounts(config: Record<string, unknown>, accounts: readonly Account[], store?: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-step-up-'));
  const configPath = join(dir, 'flowgate.yaml');
  writeFileSync(configPath, stringify(config));
  for (const account of accounts) {
    const args = ['user', 'add', account.username, '--name', account.name, '--password-stdin', '--config', configPath];
    const added = await runFlowgate([...args, ...(store === undefined ? [] : ['--store', store])], {}, dir, `${account.password}\n`);
    if (added.code !== 0) throw new Error(`flowgate user add ${account.username} failed: ${added.stderr}`);
  }
  return dir;
}

export const sleepPastWindow = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, PAST_WINDOW_MS));

/** A password login of `account` on a fresh socket, exchanged: the tokens (the login time of their session is now). */
export async function passwordTokens(url: string, account: Account): Promise<Tokens> {
  const { client } = await RawClient.open(url);
  try {
    const form = await client.result({ type: 'login_flow/init', handler: PASSWORD_HANDLER, client_id: TEST_CLIENT_ID });
    const done = await client.result({
      type: 'login_flow/step',
      flow_id: form['flow_id'],
      client_id: TEST_CLIENT_ID,
      user_input: { username: account.username, password: account.password },
    });
    if (done['type'] !== 'create_entry') throw new Error(`the login of ${account.username} did not finish: ${JSON.stringify(done)}`);
    const exchange = { type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: TEST_CLIENT_ID };
    return (await client.result(exchange)) as unknown as Tokens;
  } finally {
    client.close();
  }
}

/** A socket authenticated as `account` right after its login, with the tokens. */
export async function freshSession(url: string, account: Account): Promise<{ socket: RawClient; tokens: Tokens }> {
  const tokens = await passwordTokens(url, account);
  return { socket: await authenticatedSocket(url, tokens.access_token), tokens };
}

/** `login_flow/init` with `"reauthenticate": true` on `socket`: the raw reply. */
export function startReauthentication(socket: RawClient): Promise<Record<string, unknown>> {
  return socket.command({ type: 'login_flow/init', handler: PASSWORD_HANDLER, client_id: TEST_CLIENT_ID, reauthenticate: true });
}

/** A whole re-authentication on `socket` with `account`'s password: the raw reply to the password step. */
export async function reauthenticate(socket: RawClient, account: Pick<Account, 'username' | 'password'>): Promise<Record<string, unknown>> {
  const started = await startReauthentication(socket);
  if (started['success'] !== true) throw new Error(`the re-authentication did not start: ${JSON.stringify(started)}`);
  const form = started['result'] as Record<string, unknown>;
  return socket.command({
    type: 'login_flow/step',
    flow_id: form['flow_id'],
    client_id: TEST_CLIENT_ID,
    user_input: { username: account.username, password: account.password },
  });
}

/** The error code of a reply, or `success` when it succeeded. */
export function outcomeOf(reply: Record<string, unknown>): string {
  if (reply['success'] === true) return 'success';
  return String((reply['error'] as Record<string, unknown> | undefined)?.['code']);
}
