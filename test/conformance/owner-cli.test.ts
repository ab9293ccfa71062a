/**
 * Only the operator makes the owner (issue 20, point 10), black-box: a real server on an empty embedded store, real logins
 * through insecure_example and command_line over raw frames, and the real `flowgate user` command on the same store. Whoever
 * reaches a fresh deployment's login page first must not own it.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { eventually } from '../helpers/instances.js';
import { scriptFolder, writeScript } from '../helpers/login-scripts.js';
import { authenticatedSocket, loginCode, TEST_CLIENT_ID } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { runFlowgate, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

type Reply = Record<string, any>;
const EXAMPLE: [string, null] = ['insecure_example', null];
const COMMAND_LINE: [string, null] = ['command_line', null];

/** insecure_example's alice and bob, and a command_line program that accepts carol / carol-password. */
function providerConfig(dir: string, extra: ReadonlyArray<Record<string, unknown>> = []): Record<string, unknown> {
  const program = writeScript(dir, 'check-login.sh', '[ "$username" = carol ] && [ "$password" = carol-password ]');
  return {
    auth_providers: [
      { type: 'insecure_example', users: [{ username: 'alice', password: 'wonderland', name: 'Alice' }, { username: 'bob', password: 'builder', name: 'Bob' }] },
      { type: 'command_line', command: program },
      ...extra,
    ],
  };
}

describe('Only the operator makes the owner (process)', function () {
  this.timeout(30_000);
  let dir: string;
  let server: ServerProcess;

  const start = async (config: Record<string, unknown>): Promise<void> => {
    server = await startServerProcess({ config, dir });
  };
  afterEach(async () => server?.stop());
  beforeEach(function () {
    dir = scriptFolder();
  });

  const flowgate = (args: string[], input?: string) => runFlowgate(['user', ...args, '--config', join(dir, 'flowgate.yaml')], {}, dir, input);

  /** Logs in through `handler` and returns `auth/current_user` on a socket signed in with the tokens. */
  async function loginAs(handler: [string, null], user: { username: string; password: string }): Promise<Reply> {
    const { client } = await RawClient.open(server.url);
    try {
      const code = await loginCode(client, handler, user);
      const tokens = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID });
      const socket = await authenticatedSocket(server.url, String(tokens['access_token']));
      try {
        return await socket.result({ type: 'auth/current_user' });
      } finally {
        socket.close();
      }
    } finally {
      client.close();
    }
  }

  const hint = (startsWith: string) => server.logs.find((entry) => String(entry['msg']).startsWith(startsWith));

  it('makes neither owner nor administrator of the first login through insecure_example or command_line on an empty store', async function () {
    await start(providerConfig(dir));
    expect(await loginAs(EXAMPLE, { username: 'alice', password: 'wonderland' })).to.deep.include({ name: 'Alice', is_owner: false, is_admin: false });
    expect(await loginAs(COMMAND_LINE, { username: 'carol', password: 'carol-password' })).to.deep.include({ is_owner: false, is_admin: false });
  });

  it('says at start, on an empty store, how the operator makes the owner', async function () {
    await start(providerConfig(dir));
    await eventually(async () => hint('No users yet') !== undefined, 5_000, 'the hint');
    expect(hint('No users yet')).to.deep.include({
      level: 40,
      msg:
        'No users yet, so no owner (a login never makes one): let people log in through insecure_example, command_line first, ' +
        'then make one of them the owner with  npx flowgate user promote <username> --owner',
    });
    await loginAs(EXAMPLE, { username: 'alice', password: 'wonderland' });
    await server.stop();
    await start(providerConfig(dir));
    await eventually(async () => hint('No owner yet') !== undefined, 5_000, 'the hint once users exist');
    expect(hint('No owner yet')?.['msg']).to.equal(
      'No owner yet (a login never makes one): make one of them the owner with  npx flowgate user promote <username> --owner, ' +
        'or add one with  npx flowgate user add <username> --owner',
    );
  });

  it('makes a user who logged in through a provider the owner with user promote --owner, and refuses a second owner', async function () {
    await start(providerConfig(dir));
    const alice = await loginAs(EXAMPLE, { username: 'alice', password: 'wonderland' });
    await loginAs(COMMAND_LINE, { username: 'carol', password: 'carol-password' });
    // Before: alice is not an administrator, so an admin command is refused.
    const { client } = await RawClient.open(server.url);
    const code = await loginCode(client, EXAMPLE, { username: 'alice', password: 'wonderland' });
    const tokens = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID });
    client.close();
    const socket = await authenticatedSocket(server.url, String(tokens['access_token']));
    try {
      expect(((await socket.command({ type: 'config/auth/list' })) as Reply)['error']?.code).to.equal('unauthorized');

      const promoted = await flowgate(['promote', 'alice', '--owner']);
      expect(promoted).to.deep.equal({ code: 0, stdout: 'Promoted "alice" (owner, admin).\n', stderr: '' });
      // The same socket sees it at its next command: the owner, an administrator.
      expect(await socket.result({ type: 'auth/current_user' })).to.deep.include({ id: alice['id'], is_owner: true, is_admin: true });
      expect(((await socket.command({ type: 'config/auth/list' })) as Reply)['success']).to.equal(true);
    } finally {
      socket.close();
    }

    const second = await flowgate(['promote', 'carol', '--owner']);
    expect(second.code).to.equal(1);
    expect(second.stdout).to.equal('');
    expect(second.stderr).to.equal(
      `flowgate: "Alice" (user ${String(alice['id'])}) is the owner already, and there is one owner: another can be made the owner only once that user is removed\n`,
    );
    expect(await loginAs(COMMAND_LINE, { username: 'carol', password: 'carol-password' })).to.deep.include({ is_owner: false, is_admin: false });
  });

  it('hands ownership over: user remove takes the owner who logs in through a provider, then another is promoted', async function () {
    await start(providerConfig(dir));
    await loginAs(EXAMPLE, { username: 'alice', password: 'wonderland' });
    const carol = await loginAs(COMMAND_LINE, { username: 'carol', password: 'carol-password' });
    expect((await flowgate(['promote', 'alice', '--owner'])).code).to.equal(0);
    expect(await flowgate(['remove', 'alice'])).to.deep.equal({ code: 0, stdout: 'Removed user "alice".\n', stderr: '' });
    // By id, as the refusal of an ambiguous name suggests.
    expect(await flowgate(['promote', String(carol['id']), '--owner'])).to.deep.include({ code: 0, stdout: `Promoted "${String(carol['id'])}" (owner, admin).\n` });
    expect(await loginAs(COMMAND_LINE, { username: 'carol', password: 'carol-password' })).to.deep.include({ is_owner: true, is_admin: true });
  });

  it('makes an administrator with user promote --admin, finding the user by a login username or the display name', async function () {
    await start(providerConfig(dir));
    await loginAs(COMMAND_LINE, { username: 'carol', password: 'carol-password' });
    await loginAs(EXAMPLE, { username: 'bob', password: 'builder' });
    expect(await flowgate(['promote', 'CAROL', '--admin'])).to.deep.equal({ code: 0, stdout: 'Promoted "CAROL" (admin).\n', stderr: '' });
    expect(await loginAs(COMMAND_LINE, { username: 'carol', password: 'carol-password' })).to.deep.include({ is_owner: false, is_admin: true });
    // bob's display name is Bob; insecure_example compares usernames exactly, and the display name is found folded.
    expect((await flowgate(['promote', 'Bob', '--admin'])).code).to.equal(0);
    expect(await loginAs(EXAMPLE, { username: 'bob', password: 'builder' })).to.deep.include({ is_owner: false, is_admin: true });
  });

  it('refuses user promote for an unknown user, and without a role to give', async function () {
    await start(providerConfig(dir));
    expect(await flowgate(['promote', 'mallory', '--owner'])).to.deep.equal({ code: 1, stdout: '', stderr: 'flowgate: No user "mallory"\n' });
    const bare = await flowgate(['promote', 'mallory']);
    expect(bare.code).to.equal(2);
    expect(bare.stderr).to.match(/^flowgate: .*--owner/);
  });

  it('adds the owner with user add --owner once logins made users, and refuses --owner while there is one', async function () {
    const password = { type: 'password', argon2: { memory_kib: 1024, time_cost: 1 } };
    await start(providerConfig(dir, [password]));
    await loginAs(EXAMPLE, { username: 'alice', password: 'wonderland' });
    const added = await flowgate(['add', 'olive', '--owner', '--password-stdin'], 'owl-and-panther-7\n');
    expect(added).to.deep.equal({ code: 0, stdout: 'Added user "olive" (owner, admin).\n', stderr: '' });
    const again = await flowgate(['add', 'oscar', '--owner', '--password-stdin'], 'otter-and-panther-7\n');
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/^flowgate: "olive" \(user [0-9a-f]+\) is the owner already/);
    // Nothing was created by the refused add: oscar cannot log in.
    expect((await flowgate(['passwd', 'oscar', '--password-stdin'], 'otter-and-panther-8\n')).stderr).to.equal('flowgate: No user "oscar"\n');
  });

  it('makes the first user that user add adds the owner, even after logins made users', async function () {
    const password = { type: 'password', argon2: { memory_kib: 1024, time_cost: 1 } };
    await start(providerConfig(dir, [password]));
    await loginAs(EXAMPLE, { username: 'alice', password: 'wonderland' });
    expect(await flowgate(['add', 'olive', '--password-stdin'], 'owl-and-panther-7\n')).to.deep.include({ code: 0, stdout: 'Added user "olive" (owner, admin).\n' });
    expect(await flowgate(['add', 'oscar', '--password-stdin'], 'otter-and-panther-7\n')).to.deep.include({ code: 0, stdout: 'Added user "oscar".\n' });
  });
});
