/**
 * Attacks on accounts through user management, on two real server processes sharing one real Redis: an administrator taking
 * the owner's account over, sessions that outlive a password change, and weak passwords at every place one is set.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { addPasswordUser } from '../../server/src/providers/password-accounts.js';
import { openStore } from '../../server/src/store/open.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { authenticatedSocket, loginCode, TEST_CLIENT_ID, type Tokens } from '../helpers/login.js';
import { RawClient, type Closed } from '../helpers/raw-client.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { runFlowgate } from '../helpers/server-process.js';
import { silentLogger } from '../helpers/stores.js';

const ARGON2 = { memory_kib: 1024, time_cost: 1 };
/** Address limits off: every login here comes from 127.0.0.1, wrong ones on purpose. */
const CONFIG = { auth_providers: [{ type: 'password', argon2: ARGON2 }], login_limits: { address_failures: 0 } };
/** Through the environment, so the same config also starts a server that predates `secret_key` (to see these tests fail there). */
const ENV = { FLOWGATE_SECRET_KEY: randomBytes(32).toString('hex') };
const PASSWORD_HANDLER: [string, null] = ['password', null];
/** How long a revoked socket may take to close on another instance (pub/sub, well under a second in practice). */
const CLOSE_WITHIN_MS = 5_000;

const TOO_SHORT = 'This password is too short: use at least 8 characters';
const COMMON = 'This password is among the most common ones, which attackers try first: choose another';
/** Each with the reason it is refused: top of the common list, 8 digits, short, a case variant, 7 emoji (14 UTF-16 units). */
const WEAK: ReadonlyArray<readonly [string, string]> = [
  ['password', COMMON],
  ['12345678', COMMON],
  ['short', TOO_SHORT],
  ['PassWord', COMMON],
  ['\u{1F431}'.repeat(7), TOO_SHORT],
];
/** The CLI, a process per try, gets the first three (each reason once, and the list checked past its first entry). */
const WEAK_AT_CLI = WEAK.slice(0, 3);

type Account = { username: string; password: string };
type Reply = Record<string, unknown> & { success?: boolean; error?: { code: string; message: string } };
interface Signed {
  readonly socket: RawClient;
  readonly tokens: Tokens;
}

describe('Account hardening: the owner, password changes, weak passwords (2 instances, one Redis)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances;
  let dir: string;
  let configPath: string;
  /** The owner's password: a test that changes it through the CLI keeps this up to date. */
  const owner: Account = { username: 'olivia', password: 'olivia-owns-this-place' };
  let ownerId: string;
  let ownerSocket: RawClient;
  const opened: RawClient[] = [];

  /** `flowgate user ...` on the suite's store, as the operator on the server's machine. */
  const cli = (args: string[], input?: string) => runFlowgate(['user', ...args, '--config', configPath, '--store', redis().url], ENV, dir, input);

  async function open(index: number): Promise<RawClient> {
    const { client } = await RawClient.open(instances.at(index).url);
    opened.push(client);
    return client;
  }

  /** The last step's result type of a password login on instance `index` (`create_entry` when the password is right). */
  async function loginResult(index: number, account: Account): Promise<unknown> {
    const client = await open(index);
    const form = await client.result({ type: 'login_flow/init', handler: PASSWORD_HANDLER, client_id: TEST_CLIENT_ID });
    const done = await client.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: account });
    client.close();
    return done['type'];
  }

  /** A full login on instance `index`, then a socket authenticated there with its access token. */
  async function signIn(index: number, account: Account): Promise<Signed> {
    const client = await open(index);
    const code = await loginCode(client, PASSWORD_HANDLER, account);
    const tokens = (await client.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID })) as unknown as Tokens;
    client.close();
    const socket = await authenticatedSocket(instances.at(index).url, tokens.access_token);
    opened.push(socket);
    return { socket, tokens };
  }

  /** A socket on instance `index` authenticated with a new long-lived token of `signed`'s user. */
  async function longLivedSocket(index: number, signed: Signed): Promise<{ socket: RawClient; accessToken: string }> {
    const accessToken = String(await signed.socket.result({ type: 'auth/long_lived_access_token', client_name: 'Kiosk', lifespan: 30 }));
    const socket = await authenticatedSocket(instances.at(index).url, accessToken);
    opened.push(socket);
    return { socket, accessToken };
  }

  /** A user with a password login, made by the owner over the socket; its id. */
  async function createUser(name: string, account: Account, extra: Record<string, unknown> = {}): Promise<string> {
    const created = (await ownerSocket.result({ type: 'config/auth/create', name, ...extra })) as { user: { id: string } };
    await ownerSocket.result({ type: 'config/auth_provider/password/create', user_id: created.user.id, ...account });
    return created.user.id;
  }

  /** How the socket closed, or null when it was still open after CLOSE_WITHIN_MS. */
  function closedSoon(socket: RawClient): Promise<Closed | null> {
    return Promise.race([socket.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), CLOSE_WITHIN_MS))]);
  }

  /** Whether the refresh token still gets an access token (asked on instance `index`). */
  async function refreshes(index: number, tokens: Tokens): Promise<boolean> {
    const client = await open(index);
    const reply = (await client.command({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: TEST_CLIENT_ID })) as Reply;
    client.close();
    return reply.success === true;
  }

  /** What `auth` with this access token answers on a new socket of instance `index`. */
  async function authAnswer(index: number, accessToken: string): Promise<unknown> {
    const client = await open(index);
    client.send({ type: 'auth', access_token: accessToken });
    const reply = (await client.next()) as Record<string, unknown>;
    client.close();
    return reply['type'];
  }

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'flowgate-hardening-'));
    configPath = join(dir, 'flowgate.yaml');
    writeFileSync(configPath, stringify(CONFIG));
    const added = await cli(['add', owner.username, '--name', 'Olivia Owner', '--password-stdin'], `${owner.password}\n`);
    expect(added.code, added.stderr).to.equal(0);
    instances = await startInstances(2, redis().url, { config: CONFIG, env: ENV });
  });
  beforeEach(async function () {
    ownerSocket = (await signIn(0, owner)).socket;
    ownerId = String((await ownerSocket.result({ type: 'auth/current_user' }))['id']);
  });
  afterEach(function () {
    for (const client of opened.splice(0)) client.close();
  });
  after(async function () {
    await instances?.stop();
  });

  describe('the owner, protected from administrators', function () {
    it('answers unauthorized to an administrator deleting or re-creating the owner\u2019s password login; the owner\u2019s password still logs in, and the CLI may change it', async function () {
      const mallory = { username: 'mallory', password: 'mallory-is-an-admin' };
      await createUser('Mallory', mallory, { group_ids: ['system-admin'] });
      const { socket } = await signIn(1, mallory);
      const chosen = { username: 'olivia-by-mallory', password: 'mallory-chose-this' };
      for (const prefix of ['config/auth_provider/password/', 'config/auth_provider/homeassistant/']) {
        const attempts: Array<Record<string, unknown>> = [
          { type: `${prefix}delete`, username: owner.username },
          { type: `${prefix}create`, user_id: ownerId, ...chosen },
          { type: `${prefix}admin_change_password`, user_id: ownerId, password: chosen.password },
          { type: `${prefix}admin_change_username`, user_id: ownerId, username: chosen.username },
        ];
        for (const attempt of attempts) {
          const reply = (await socket.command(attempt)) as Reply;
          expect(reply.error?.code, String(attempt['type'])).to.equal('unauthorized');
        }
      }
      expect(await loginResult(0, owner)).to.equal('create_entry');
      expect(await loginResult(1, chosen)).to.equal('form');
      // The operator on the server's machine is trusted with the owner's password.
      const renewed = 'olivia-reset-by-the-operator';
      const passwd = await cli(['passwd', owner.username, '--password-stdin'], `${renewed}\n`);
      expect(passwd.code, passwd.stderr).to.equal(0);
      owner.password = renewed;
      expect(await loginResult(1, owner)).to.equal('create_entry');
    });

    it('answers unauthorized to an administrator changing the owner\u2019s name, groups or flags, and lets the owner change them', async function () {
      const trent = { username: 'trent', password: 'trent-is-an-admin' };
      await createUser('Trent', trent, { group_ids: ['system-admin'] });
      const { socket } = await signIn(1, trent);
      const ownerEntry = async () =>
        ((await socket.result({ type: 'config/auth/list' })) as unknown as Array<Record<string, unknown>>).find((user) => user['id'] === ownerId);
      const before = await ownerEntry();
      expect(before).to.deep.include({ name: 'Olivia Owner', local_only: false, is_active: true });
      const patches = [{ name: 'Not the owner' }, { local_only: true }, { group_ids: ['system-admin', 'system-read-only'] }, { is_active: true }];
      for (const patch of patches) {
        const reply = (await socket.command({ type: 'config/auth/update', user_id: ownerId, ...patch })) as Reply;
        expect(reply.error?.code, JSON.stringify(patch)).to.equal('unauthorized');
      }
      expect(await ownerEntry()).to.deep.equal(before);
      // The owner may (this socket is on 127.0.0.1, a local address, so local_only leaves it be).
      const renamed = (await ownerSocket.result({ type: 'config/auth/update', user_id: ownerId, name: 'Olivia O.', local_only: true })) as { user: object };
      expect(renamed.user).to.deep.include({ name: 'Olivia O.', local_only: true });
      await ownerSocket.result({ type: 'config/auth/update', user_id: ownerId, name: 'Olivia Owner', local_only: false });
    });
  });

  describe('a password change ends the user\u2019s other sessions on every instance', function () {
    it('closes the user\u2019s other sockets with 4001 after change_password, long-lived token included, and keeps the session that asked', async function () {
      const paul = { username: 'paul', password: 'paul-first-password' };
      await createUser('Paul', paul);
      const asking = await signIn(0, paul);
      const other = await signIn(1, paul);
      const kiosk = await longLivedSocket(1, other);
      const closes = [closedSoon(other.socket), closedSoon(kiosk.socket)];
      const changed = { ...paul, password: 'paul-second-password' };
      expect(await asking.socket.result({ type: 'config/auth_provider/password/change_password', current_password: paul.password, new_password: changed.password })).to.equal(null);
      expect((await Promise.all(closes)).map((closed) => closed?.code)).to.deep.equal([4001, 4001]);
      expect(await refreshes(0, other.tokens)).to.equal(false);
      expect(await authAnswer(0, kiosk.accessToken)).to.equal('auth_invalid');
      // The session that changed the password lives on: its socket answers and its refresh token refreshes.
      expect(await asking.socket.result({ type: 'auth/current_user' })).to.deep.include({ name: 'Paul' });
      expect(await refreshes(1, asking.tokens)).to.equal(true);
      expect([await loginResult(1, paul), await loginResult(1, changed)]).to.deep.equal(['form', 'create_entry']);
    });

    it('refuses, after change_password, a code that a login with the old password got before it, on another instance', async function () {
      const ruth = { username: 'ruth', password: 'ruth-first-password' };
      await createUser('Ruth', ruth);
      const asking = await signIn(0, ruth);
      const thief = await open(1);
      const stolenCode = await loginCode(thief, PASSWORD_HANDLER, ruth);
      const changed = { ...ruth, password: 'ruth-second-password' };
      expect(await asking.socket.result({ type: 'config/auth_provider/password/change_password', current_password: ruth.password, new_password: changed.password })).to.equal(null);
      const exchanged = (await thief.command({ type: 'auth/token', grant_type: 'authorization_code', code: stolenCode, client_id: TEST_CLIENT_ID })) as Reply;
      expect(exchanged.error?.code).to.equal('invalid_grant');
      expect(exchanged.error?.message).to.contain('password of its login was changed');
      // A login with the new password exchanges its code as usual.
      const fresh = await signIn(1, changed);
      expect(await fresh.socket.result({ type: 'auth/current_user' })).to.deep.include({ name: 'Ruth' });
    });

    it('closes every socket of the user with 4001 after admin_change_password, long-lived token included', async function () {
      const rita = { username: 'rita', password: 'rita-first-password' };
      const id = await createUser('Rita', rita);
      const sessions = [await signIn(0, rita), await signIn(1, rita)];
      const kiosk = await longLivedSocket(1, sessions[0]!);
      const closes = [...sessions.map(({ socket }) => closedSoon(socket)), closedSoon(kiosk.socket)];
      expect(await ownerSocket.result({ type: 'config/auth_provider/password/admin_change_password', user_id: id, password: 'rita-reset-by-olivia' })).to.equal(null);
      expect((await Promise.all(closes)).map((closed) => closed?.code)).to.deep.equal([4001, 4001, 4001]);
      expect([await refreshes(0, sessions[0]!.tokens), await refreshes(1, sessions[1]!.tokens)]).to.deep.equal([false, false]);
      expect(await authAnswer(0, kiosk.accessToken)).to.equal('auth_invalid');
    });

    it('closes every socket of the user with 4001 after flowgate user passwd, long-lived token included', async function () {
      const sam = { username: 'sam', password: 'sam-first-password' };
      await createUser('Sam', sam);
      const sessions = [await signIn(0, sam), await signIn(1, sam)];
      const kiosk = await longLivedSocket(0, sessions[1]!);
      const closes = [...sessions.map(({ socket }) => closedSoon(socket)), closedSoon(kiosk.socket)];
      const passwd = await cli(['passwd', sam.username, '--password-stdin'], 'sam-reset-by-the-operator\n');
      expect(passwd.code, passwd.stderr).to.equal(0);
      expect((await Promise.all(closes)).map((closed) => closed?.code)).to.deep.equal([4001, 4001, 4001]);
      expect([await refreshes(1, sessions[0]!.tokens), await refreshes(0, sessions[1]!.tokens)]).to.deep.equal([false, false]);
      expect(await authAnswer(1, kiosk.accessToken)).to.equal('auth_invalid');
    });
  });

  describe('weak passwords are refused where a password is set', function () {
    it('refuses them to flowgate user add with the reason, adding nobody', async function () {
      for (const [password, reason] of WEAK_AT_CLI) {
        const added = await cli(['add', 'weakling', '--password-stdin'], `${password}\n`);
        expect({ code: added.code, stderr: added.stderr }, password).to.deep.equal({ code: 1, stderr: `flowgate: ${reason}\n` });
      }
      const listed = await cli(['list']);
      expect(listed.stdout).not.to.contain('weakling');
    });

    it('refuses them to flowgate user passwd, while a weak password set before the rule still logs in', async function () {
      // A hash made before this release, written as the store has it.
      const store = await openStore(redis().url, { dataDir: tmpdir(), logger: silentLogger });
      const legacy = { username: 'legacy', password: 'password' };
      try {
        await addPasswordUser(store, { argon2: ARGON2 }, legacy);
      } finally {
        await store.close();
      }
      expect(await loginResult(0, legacy)).to.equal('create_entry');
      for (const [password, reason] of WEAK_AT_CLI) {
        const passwd = await cli(['passwd', legacy.username, '--password-stdin'], `${password}\n`);
        expect({ code: passwd.code, stderr: passwd.stderr }, password).to.deep.equal({ code: 1, stderr: `flowgate: ${reason}\n` });
      }
      expect(await loginResult(1, legacy)).to.equal('create_entry');
    });

    it('refuses them to change_password with weak_password, keeping the current password', async function () {
      const uma = { username: 'uma', password: 'uma-keeps-this-one' };
      await createUser('Uma', uma);
      const { socket } = await signIn(1, uma);
      for (const [password, reason] of WEAK) {
        const reply = await socket.command({ type: 'config/auth_provider/password/change_password', current_password: uma.password, new_password: password });
        expect(reply, password).to.deep.include({ success: false, error: { code: 'weak_password', message: reason } });
      }
      expect(await loginResult(0, uma)).to.equal('create_entry');
    });

    it('refuses them to admin_change_password with weak_password, keeping the user\u2019s password', async function () {
      const vic = { username: 'vic', password: 'vic-keeps-this-one' };
      const id = await createUser('Vic', vic);
      for (const [password, reason] of WEAK) {
        const reply = await ownerSocket.command({ type: 'config/auth_provider/homeassistant/admin_change_password', user_id: id, password });
        expect(reply, password).to.deep.include({ success: false, error: { code: 'weak_password', message: reason } });
      }
      expect(await loginResult(1, vic)).to.equal('create_entry');
    });

    it('refuses them to config/auth_provider/password/create with weak_password, leaving the user without a login', async function () {
      const created = (await ownerSocket.result({ type: 'config/auth/create', name: 'Walt' })) as { user: { id: string } };
      for (const [password, reason] of WEAK) {
        const reply = await ownerSocket.command({ type: 'config/auth_provider/password/create', user_id: created.user.id, username: 'walt', password });
        expect(reply, password).to.deep.include({ success: false, error: { code: 'weak_password', message: reason } });
      }
      const listed = (await ownerSocket.result({ type: 'config/auth/list' })) as unknown as Array<Record<string, unknown>>;
      expect(listed.find((user) => user['id'] === created.user.id)).to.deep.include({ username: null, credentials: [] });
    });
  });
});
