/**
 * User management over the socket on real server processes sharing one real Redis: admin-only commands, a user made on one
 * instance logging in on another, deactivation closing sockets everywhere, local-only users, and the owner's protections.
 */
import { expect } from 'chai';
import { ADMIN_COMMAND_TYPES } from '@flowgate/shared';
import { stringify } from 'yaml';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { RawClient } from '../helpers/raw-client.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { runFlowgate } from '../helpers/server-process.js';

const PASSWORD = { type: 'password', argon2: { memory_kib: 1024, time_cost: 1 } };
const CONFIG = {
  auth_providers: [PASSWORD],
  // The tests below speak for clients at other addresses through a trusted proxy (this host), as a load balancer would.
  http: { use_x_forwarded_for: true, trusted_proxies: ['127.0.0.1', '::1'] },
  login_limits: { address_failures: 0 },
};
const OWNER = { username: 'owner', password: 'owner-secret' };
/** An address outside every private range: a local-only user is refused from it. */
const PUBLIC_ADDRESS = '203.0.113.7';

type Reply = Record<string, unknown> & { success?: boolean; error?: { code: string; message: string }; result?: unknown };

describe('User management over the socket (3 instances, one Redis)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances;
  let ownerSocket: RawClient;

  /** A socket on instance `index` that speaks for a client at `address` (X-Forwarded-For through the trusted proxy). */
  async function openAs(index: number, address?: string): Promise<RawClient> {
    const headers = address === undefined ? {} : { 'x-forwarded-for': address };
    const { client } = await RawClient.open(instances.at(index).url, { headers });
    return client;
  }

  /** Logs in with the password provider on `client`; the step's reply (a create_entry with the code, or an error). */
  async function passwordLogin(client: RawClient, user: { username: string; password: string }): Promise<Reply> {
    const form = await client.result({ type: 'login_flow/init', handler: ['password', null], client_id: TEST_CLIENT_ID });
    return (await client.command({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: user })) as Reply;
  }

  /** A full login on instance `index` (as `address`), then an authenticated socket there; returns it and the tokens. */
  async function signIn(index: number, user: { username: string; password: string }, address?: string) {
    const client = await openAs(index, address);
    try {
      const done = await passwordLogin(client, user);
      if (done.success !== true) throw new Error(`login failed: ${JSON.stringify(done)}`);
      const code = (done.result as Record<string, unknown>)['result'];
      const tokens = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID });
      const headers = address === undefined ? {} : { 'x-forwarded-for': address };
      const { client: socket } = await RawClient.open(instances.at(index).url, { headers });
      socket.send({ type: 'auth', access_token: tokens['access_token'] });
      const reply = (await socket.next()) as Record<string, unknown>;
      if (reply['type'] !== 'auth_ok') throw new Error(`auth failed: ${JSON.stringify(reply)}`);
      return { socket, tokens };
    } finally {
      client.close();
    }
  }

  /** The owner creates a user with a password over the socket (HA's frontend: config/auth/create, then the password login). */
  async function createUser(name: string, username: string, password: string, extra: Record<string, unknown> = {}): Promise<string> {
    const created = (await ownerSocket.result({ type: 'config/auth/create', name, ...extra })) as { user: { id: string } };
    await ownerSocket.result({ type: 'config/auth_provider/password/create', user_id: created.user.id, username, password });
    return created.user.id;
  }

  before(async function () {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-admin-'));
    const configPath = join(dir, 'flowgate.yaml');
    writeFileSync(configPath, stringify(CONFIG));
    const added = await runFlowgate(['user', 'add', OWNER.username, '--password-stdin', '--config', configPath, '--store', redis().url], {}, dir, `${OWNER.password}\n`);
    expect(added.code, added.stderr).to.equal(0);
    instances = await startInstances(3, redis().url, { config: CONFIG });
    ownerSocket = (await signIn(0, OWNER)).socket;
  });
  after(async function () {
    ownerSocket?.close();
    await instances?.stop();
  });

  it('refuses every admin command to a user who is not an administrator, with unauthorized', async function () {
    await createUser('Mallory', 'mallory', 'mallory-secret');
    const { socket } = await signIn(1, { username: 'mallory', password: 'mallory-secret' });
    try {
      const owner = ((await socket.result({ type: 'auth/current_user' })) as { id: string }).id;
      const payloads: Record<string, Record<string, unknown>> = {
        create: { user_id: owner, username: 'x', password: 'y' },
        delete: { username: 'owner' },
        admin_change_password: { user_id: owner, password: 'taken-over' },
        admin_change_username: { user_id: owner, username: 'pwned' },
      };
      const body = (type: string): Record<string, unknown> => {
        if (type === 'config/auth/list') return {};
        if (type === 'config/auth/create') return { name: 'Eve', group_ids: ['system-admin'] };
        if (type === 'config/auth/update') return { user_id: owner, group_ids: ['system-admin'] };
        if (type === 'config/auth/delete') return { user_id: owner };
        return payloads[type.slice(type.lastIndexOf('/') + 1)] ?? {};
      };
      expect(ADMIN_COMMAND_TYPES).to.have.length(12);
      for (const type of ADMIN_COMMAND_TYPES) {
        const reply = (await socket.command({ type, ...body(type) })) as Reply;
        expect(reply.success, type).to.equal(false);
        expect(reply.error?.code, type).to.equal('unauthorized');
      }
      // Nothing changed: still not an admin, and the owner's password still works.
      expect(await socket.result({ type: 'auth/current_user' })).to.deep.include({ is_admin: false });
      const check = await openAs(2);
      expect((await passwordLogin(check, OWNER)).success).to.equal(true);
      check.close();
    } finally {
      socket.close();
    }
  });

  it('lets a user the owner created on one instance log in on another at once, as a non-admin', async function () {
    const id = await createUser('Bob Builder', 'Bob', 'builder-secret');
    const { socket } = await signIn(2, { username: 'bob', password: 'builder-secret' });
    try {
      expect(await socket.result({ type: 'auth/current_user' })).to.deep.include({ id, name: 'Bob Builder', is_admin: false, is_owner: false });
      const listed = (await ownerSocket.result({ type: 'config/auth/list' })) as unknown as Array<Record<string, unknown>>;
      expect(listed.find((user) => user['id'] === id)).to.deep.include({
        username: 'bob',
        name: 'Bob Builder',
        is_active: true,
        is_admin: false,
        local_only: false,
        system_generated: false,
        group_ids: ['system-users'],
        credentials: [{ type: 'password' }],
      });
    } finally {
      socket.close();
    }
  });

  it('closes a deactivated user\u2019s sockets on every instance with 4001, and refuses its next login', async function () {
    const id = await createUser('Carol', 'carol', 'carol-secret');
    const sessions = await Promise.all([0, 1, 2].map((index) => signIn(index, { username: 'carol', password: 'carol-secret' })));
    const closes = sessions.map(({ socket }) => socket.closed);
    const updated = (await ownerSocket.result({ type: 'config/auth/update', user_id: id, is_active: false })) as { user: Record<string, unknown> };
    expect(updated.user).to.deep.include({ is_active: false });
    for (const close of await Promise.all(closes)) expect(close.code).to.equal(4001);
    const client = await openAs(1);
    const refused = await passwordLogin(client, { username: 'carol', password: 'carol-secret' });
    // Answered as a wrong password would be (the reason is only in the audit log): the answer must not say the password was right.
    expect((refused.result as Record<string, unknown>)['errors']).to.deep.equal({ base: 'invalid_auth' });
    // Nor does a token minted before the deactivation get a new access token.
    const refreshed = (await client.command({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: sessions[0]?.tokens['refresh_token'], client_id: TEST_CLIENT_ID })) as Reply;
    expect(refreshed.success).to.equal(false);
    client.close();
  });

  it('keeps a local-only user out from a public address at login, at auth and at refresh, and lets it in from a private one', async function () {
    const id = await createUser('Dave', 'dave', 'dave-secret', { local_only: true });
    const outside = await openAs(0, PUBLIC_ADDRESS);
    const refused = await passwordLogin(outside, { username: 'dave', password: 'dave-secret' });
    expect((refused.result as Record<string, unknown>)['errors']).to.deep.equal({ base: 'invalid_auth' });
    outside.close();
    const { socket, tokens } = await signIn(1, { username: 'dave', password: 'dave-secret' }, '192.168.1.20');
    expect(await socket.result({ type: 'auth/current_user' })).to.deep.include({ id });
    socket.close();
    // The same token, carried to a public address: auth_invalid, and no new access token.
    const { client: remote } = await RawClient.open(instances.at(2).url, { headers: { 'x-forwarded-for': PUBLIC_ADDRESS } });
    remote.send({ type: 'auth', access_token: tokens['access_token'] });
    expect(await remote.next()).to.deep.include({ type: 'auth_invalid' });
    const other = await openAs(2, PUBLIC_ADDRESS);
    const refreshed = (await other.command({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: tokens['refresh_token'], client_id: TEST_CLIENT_ID })) as Reply;
    expect(refreshed.error?.code).to.equal('access_denied');
    other.close();
  });

  it('makes a user local-only while it is connected from outside: its next command is refused and the socket closed', async function () {
    const id = await createUser('Erin', 'erin', 'erin-secret');
    const { socket } = await signIn(1, { username: 'erin', password: 'erin-secret' }, PUBLIC_ADDRESS);
    await ownerSocket.result({ type: 'config/auth/update', user_id: id, local_only: true });
    expect(((await socket.command({ type: 'auth/current_user' })) as Reply).error?.code).to.equal('unauthorized');
    expect((await socket.closed).code).to.equal(4001);
  });

  it('refuses to deactivate, demote or delete the owner, and to delete oneself', async function () {
    const me = ((await ownerSocket.result({ type: 'auth/current_user' })) as { id: string }).id;
    const refusal = async (message: Record<string, unknown>) => ((await ownerSocket.command(message)) as Reply).error?.code;
    expect(await refusal({ type: 'config/auth/update', user_id: me, is_active: false })).to.equal('cannot_deactivate_owner');
    expect(await refusal({ type: 'config/auth/update', user_id: me, group_ids: ['system-users'] })).to.equal('cannot_demote_owner');
    expect(await refusal({ type: 'config/auth/delete', user_id: me })).to.equal('no_delete_self');
    expect(await ownerSocket.result({ type: 'auth/current_user' })).to.deep.include({ is_owner: true, is_admin: true });
  });

  it('gives an administrator the admin commands, but not the owner\u2019s password', async function () {
    const id = await createUser('Frank', 'frank', 'frank-secret', { group_ids: ['system-admin'] });
    const { socket } = await signIn(2, { username: 'frank', password: 'frank-secret' });
    try {
      expect(await socket.result({ type: 'auth/current_user' })).to.deep.include({ id, is_admin: true });
      const owner = ((await ownerSocket.result({ type: 'auth/current_user' })) as { id: string }).id;
      expect(((await socket.command({ type: 'config/auth_provider/homeassistant/admin_change_password', user_id: owner, password: 'x' })) as Reply).error?.code).to.equal('unauthorized');
      expect(((await socket.command({ type: 'config/auth/delete', user_id: owner })) as Reply).error?.code).to.equal('cannot_deactivate_owner');
      // Through HA's alias, on another instance: renames a user and resets its password.
      const grace = await createUser('Grace', 'grace', 'grace-secret');
      await socket.result({ type: 'config/auth_provider/homeassistant/admin_change_username', user_id: grace, username: 'Grace.H' });
      await socket.result({ type: 'config/auth_provider/homeassistant/admin_change_password', user_id: grace, password: 'new-grace' });
      const client = await openAs(0);
      expect((await passwordLogin(client, { username: 'grace', password: 'grace-secret' })).result).to.deep.include({ type: 'form' });
      expect((await passwordLogin(client, { username: 'grace.h', password: 'new-grace' })).result).to.deep.include({ type: 'create_entry' });
      client.close();
      // Demoted, the same socket loses the admin commands at once.
      await ownerSocket.result({ type: 'config/auth/update', user_id: id, group_ids: ['system-users'] });
      expect(((await socket.command({ type: 'config/auth/list' })) as Reply).error?.code).to.equal('unauthorized');
    } finally {
      socket.close();
    }
  });

  it('deletes a user: its sockets close everywhere and its username is free again', async function () {
    const id = await createUser('Heidi', 'heidi', 'heidi-secret');
    const { socket } = await signIn(1, { username: 'heidi', password: 'heidi-secret' });
    expect(await ownerSocket.result({ type: 'config/auth/delete', user_id: id })).to.equal(null);
    expect((await socket.closed).code).to.equal(4001);
    expect(((await ownerSocket.command({ type: 'config/auth/delete', user_id: id })) as Reply).error?.code).to.equal('not_found');
    await createUser('Heidi again', 'heidi', 'other-secret');
  });

  it('changes one\u2019s own password with the current one, and counts wrong current passwords like failed logins', async function () {
    await createUser('Ivan', 'ivan', 'ivan-secret');
    const { socket } = await signIn(0, { username: 'ivan', password: 'ivan-secret' }, '198.51.100.9');
    try {
      const change = (current: string) => socket.command({ type: 'config/auth_provider/password/change_password', current_password: current, new_password: 'ivan-new' });
      expect(((await change('wrong')) as Reply).error?.code).to.equal('invalid_current_password');
      expect(await socket.result({ type: 'config/auth_provider/password/change_password', current_password: 'ivan-secret', new_password: 'ivan-new' })).to.equal(null);
      const client = await openAs(1);
      expect((await passwordLogin(client, { username: 'ivan', password: 'ivan-new' })).result).to.deep.include({ type: 'create_entry' });
      client.close();
      // The account limit (20 failures an hour by default) stops guessing through a stolen session.
      const codes = new Set<string | undefined>();
      for (let i = 0; i < 21; i++) codes.add(((await change(`guess-${i}`)) as Reply).error?.code);
      expect([...codes]).to.include('rate_limited');
    } finally {
      socket.close();
    }
  });

  it('deletes only the tokens of the type asked for with auth/delete_all_refresh_tokens, keeping the current one when told', async function () {
    await createUser('Judy', 'judy', 'judy-secret');
    const { socket } = await signIn(0, { username: 'judy', password: 'judy-secret' });
    const other = await signIn(1, { username: 'judy', password: 'judy-secret' });
    await socket.result({ type: 'auth/long_lived_access_token', client_name: 'cron', lifespan: 30 });
    await socket.result({ type: 'auth/delete_all_refresh_tokens', token_type: 'long_lived_access_token' });
    const left = (await socket.result({ type: 'auth/refresh_tokens' })) as unknown as Array<{ type: string }>;
    expect(left.map((t) => t.type).sort()).to.deep.equal(['normal', 'normal']);
    await socket.result({ type: 'auth/delete_all_refresh_tokens', token_type: 'normal', delete_current_token: false });
    expect((await other.socket.closed).code).to.equal(4001);
    expect(((await socket.result({ type: 'auth/refresh_tokens' })) as unknown as unknown[]).length).to.equal(1);
    socket.close();
  });

  it('answers invalid_format for a group that does not exist', async function () {
    const reply = (await ownerSocket.command({ type: 'config/auth/create', name: 'Zed', group_ids: ['root'] })) as Reply;
    expect(reply.error?.code).to.equal('invalid_format');
  });
});

