/**
 * Step-up, attacked with raw frames on a real server process whose privileged window is two seconds: a stolen access token of
 * an older login (or a refreshed one, or a long-lived token) cannot turn MFA off, mint long-lived tokens, change users or sign
 * everyone out; a re-authentication on the same socket lifts that, but only with the session's own user's password (and
 * second factor).
 */
import { expect } from 'chai';
import { MFA_STEP_IDS } from '@flowgate/shared';
import { eventually } from '../helpers/instances.js';
import { authenticatedSocket, TEST_CLIENT_ID } from '../helpers/login.js';
import { nextTotpCode, setUpTotp } from '../helpers/mfa.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import {
  ALICE,
  BOB,
  freshSession,
  OWNER,
  outcomeOf,
  prepareAccounts,
  reauthenticate,
  sleepPastWindow,
  startReauthentication,
  stepUpConfig,
  type Account,
} from '../helpers/step-up.js';

/** A user with TOTP set up in the test that needs it: a TOTP code is taken once per user. */
const CAROL: Account = { username: 'carol', password: 'carol-ember-thistle-53', name: 'Carol' };

describe('Step-up for privileged commands', function () {
  this.timeout(30_000);
  let server: ServerProcess;
  const sockets: RawClient[] = [];
  const track = (socket: RawClient): RawClient => {
    sockets.push(socket);
    return socket;
  };
  const session = async (account: Account) => {
    const opened = await freshSession(server.url, account);
    track(opened.socket);
    return opened;
  };
  const users = async (admin: RawClient) => (await admin.result({ type: 'config/auth/list' })) as unknown as Array<Record<string, unknown>>;
  const idOf = async (admin: RawClient, username: string) => String((await users(admin)).find((u) => u['username'] === username)?.['id']);
  const tokenNames = async (socket: RawClient) =>
    ((await socket.result({ type: 'auth/refresh_tokens' })) as unknown as Array<Record<string, unknown>>).map((t) => t['client_name']);

  before(async function () {
    const config = stepUpConfig();
    const dir = await prepareAccounts(config, [OWNER, ALICE, BOB, CAROL]);
    server = await startServerProcess({ config, dir });
  });
  afterEach(() => sockets.splice(0).forEach((socket) => socket.close()));
  after(async () => server?.stop());

  it('takes privileged commands right after the login, and answers reauth_required to each once the login is older than privileged_session_seconds', async function () {
    const { socket } = await session(OWNER);
    const bobId = await idOf(socket, BOB.username);
    expect(outcomeOf(await socket.command({ type: 'auth/long_lived_access_token', client_name: 'while-fresh', lifespan: 1 }))).to.equal('success');
    await sleepPastWindow();
    const privileged = [
      { type: 'auth/depose_mfa', mfa_module_id: 'totp' },
      { type: 'auth/setup_mfa', mfa_module_id: 'totp' },
      { type: 'auth/long_lived_access_token', client_name: 'stolen', lifespan: 3650 },
      { type: 'auth/delete_all_refresh_tokens' },
      { type: 'config/auth/create', name: 'Mallory' },
      { type: 'config/auth/update', user_id: bobId, name: 'Robert', group_ids: ['system-admin'] },
      { type: 'config/auth/delete', user_id: bobId },
      { type: 'config/auth_provider/password/create', user_id: bobId, username: 'bobby', password: 'another-long-passphrase-9' },
      { type: 'config/auth_provider/password/delete', username: BOB.username },
      { type: 'config/auth_provider/password/admin_change_password', user_id: bobId, password: 'attacker-chosen-passphrase-1' },
      { type: 'config/auth_provider/homeassistant/admin_change_username', user_id: bobId, username: 'bobby' },
    ];
    for (const command of privileged) {
      const reply = await socket.command(command);
      expect(outcomeOf(reply), command.type).to.equal('reauth_required');
      expect(String((reply['error'] as Record<string, unknown>)['message']), command.type).to.include('"reauthenticate": true');
    }
    // Nothing of it happened, and the socket still takes what is not privileged.
    expect(await tokenNames(socket)).to.not.include('stolen');
    const bob = (await users(socket)).find((u) => u['id'] === bobId);
    expect(bob).to.deep.include({ name: BOB.name, username: BOB.username, group_ids: ['system-users'] });
    expect((await users(socket)).map((u) => u['name'])).to.not.include('Mallory');
    expect(outcomeOf(await socket.command({ type: 'auth/current_user' }))).to.equal('success');
    const bobAgain = await session(BOB);
    expect(outcomeOf(await bobAgain.socket.command({ type: 'auth/current_user' }))).to.equal('success');
  });

  it('does not count a refresh as a login: a refreshed access token of an old login is still refused', async function () {
    const { socket, tokens } = await session(ALICE);
    await sleepPastWindow();
    const refreshed = await socket.result({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: TEST_CLIENT_ID });
    const again = track(await authenticatedSocket(server.url, String(refreshed['access_token'])));
    expect(outcomeOf(await again.command({ type: 'auth/long_lived_access_token', client_name: 'after-refresh', lifespan: 1 }))).to.equal('reauth_required');
    expect(outcomeOf(await again.command({ type: 'auth/depose_mfa', mfa_module_id: 'totp' }))).to.equal('reauth_required');
  });

  it('takes them on the same socket after a re-authentication with the right password, which issues no code and no session', async function () {
    const { socket, tokens } = await session(ALICE);
    await sleepPastWindow();
    expect(outcomeOf(await socket.command({ type: 'auth/long_lived_access_token', client_name: 'before-reauth', lifespan: 1 }))).to.equal('reauth_required');
    const before = (await socket.result({ type: 'auth/refresh_tokens' })) as unknown as unknown[];
    const reply = await reauthenticate(socket, ALICE);
    expect(reply['success']).to.equal(true);
    expect(reply['result']).to.deep.include({ type: 'create_entry', handler: ['password', null], result: '' });
    expect(outcomeOf(await socket.command({ type: 'auth/long_lived_access_token', client_name: 'after-reauth', lifespan: 1 }))).to.equal('success');
    // The login time belongs to the session (its refresh token), not to the socket: another socket of it is fresh too.
    const other = track(await authenticatedSocket(server.url, tokens.access_token));
    expect(outcomeOf(await other.command({ type: 'auth/long_lived_access_token', client_name: 'other-socket', lifespan: 1 }))).to.equal('success');
    // No new session came of it: only the long-lived tokens just made were added.
    expect(((await socket.result({ type: 'auth/refresh_tokens' })) as unknown as unknown[]).length).to.equal(before.length + 2);
    await eventually(async () => server.logs.some((l) => l['event'] === 'reauthenticated'), 2_000, 'the reauthenticated audit line');
  });

  it('renews nothing when the re-authentication proves another user, and answers access_denied', async function () {
    const { socket } = await session(ALICE);
    await sleepPastWindow();
    expect(outcomeOf(await reauthenticate(socket, BOB))).to.equal('access_denied');
    expect(outcomeOf(await socket.command({ type: 'auth/long_lived_access_token', client_name: 'as-bob', lifespan: 1 }))).to.equal('reauth_required');
    // A wrong password of the right user is an ordinary wrong password: the form again.
    const wrong = await reauthenticate(socket, { username: ALICE.username, password: 'not-alice-password-00' });
    expect(wrong['result']).to.deep.include({ type: 'form', errors: { base: 'invalid_auth' } });
    expect(outcomeOf(await socket.command({ type: 'auth/depose_mfa', mfa_module_id: 'totp' }))).to.equal('reauth_required');
    await eventually(async () => server.logs.some((l) => l['event'] === 'reauthentication_refused'), 2_000, 'the reauthentication_refused audit line');
  });

  it('refuses "reauthenticate": true on a socket that has not authenticated, with invalid_request', async function () {
    const { client } = await RawClient.open(server.url);
    track(client);
    expect(outcomeOf(await startReauthentication(client))).to.equal('invalid_request');
  });

  it("needs a re-authentication on a long-lived token's session, which has no login of its own", async function () {
    const { socket } = await session(ALICE);
    const token = String(await socket.result({ type: 'auth/long_lived_access_token', client_name: 'service', lifespan: 30 }));
    const service = track(await authenticatedSocket(server.url, token));
    expect(outcomeOf(await service.command({ type: 'auth/long_lived_access_token', client_name: 'from-service', lifespan: 30 }))).to.equal('reauth_required');
    expect(outcomeOf(await service.command({ type: 'auth/delete_all_refresh_tokens' }))).to.equal('reauth_required');
    expect(outcomeOf(await reauthenticate(service, ALICE))).to.equal('success');
    expect(outcomeOf(await service.command({ type: 'auth/long_lived_access_token', client_name: 'from-service', lifespan: 30 }))).to.equal('success');
  });

  it('asks a user with a second factor for it too before the session counts as fresh', async function () {
    const { socket } = await session(CAROL);
    const secret = await setUpTotp(socket);
    await sleepPastWindow();
    expect(outcomeOf(await socket.command({ type: 'auth/depose_mfa', mfa_module_id: 'totp' }))).to.equal('reauth_required');
    const afterPassword = await reauthenticate(socket, CAROL);
    const form = afterPassword['result'] as Record<string, unknown>;
    expect(form).to.deep.include({ type: 'form', step_id: MFA_STEP_IDS.code });
    // The password alone renewed nothing.
    expect(outcomeOf(await socket.command({ type: 'auth/depose_mfa', mfa_module_id: 'totp' }))).to.equal('reauth_required');
    const done = await socket.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: { code: nextTotpCode(secret) } });
    expect(done).to.deep.include({ type: 'create_entry', result: '' });
    expect(outcomeOf(await socket.command({ type: 'auth/depose_mfa', mfa_module_id: 'totp' }))).to.equal('success');
  });

  it('audits the creation of a long-lived token with its user, name, lifespan and address', async function () {
    const { socket } = await session(BOB);
    const me = await socket.result({ type: 'auth/current_user' });
    await socket.result({ type: 'auth/long_lived_access_token', client_name: 'audited-cron', lifespan: 7 });
    const audited = () => server.logs.find((l) => l['event'] === 'long_lived_token_created' && l['client_name'] === 'audited-cron');
    await eventually(async () => audited() !== undefined, 2_000, 'the long_lived_token_created audit line');
    const line = audited();
    expect(line).to.deep.include({ user_id: me['id'], client_name: 'audited-cron', lifespan_days: 7, address: '127.0.0.1' });
  });
});
