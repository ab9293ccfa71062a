/**
 * A Redis store written with key layout 1 (earlier builds of Flowgate: the directory under `{directory}`, login defense under
 * `{login-defense}`) moves to the current layout with `flowgate store migrate`, or by itself at a server's start, and keeps
 * working: passwords log in, users, MFA settings, the owner, bans and counters are intact; its refresh tokens, whose signing
 * keys it held in clear, are revoked (and the old device-token key removed); a second migration changes nothing.
 */
import { expect } from 'chai';
import { tmpdir } from 'node:os';
import { createClient } from 'redis';
import { openStore } from '../../server/src/store/open.js';
import { authenticatedSocket, loginCode, TEST_CLIENT_ID } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { startRedisServer, type RunningRedis } from '../helpers/redis-server.js';
import { runFlowgate, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { OLD_PASSWORD, writeOldStore, type OldStore } from '../helpers/store-contract-old-layout.js';
import { silentLogger } from '../helpers/stores.js';

type Raw = ReturnType<typeof createClient>;

const PASSWORD_CONFIG = { auth_providers: [{ type: 'password', argon2: { memory_kib: 1024, time_cost: 1, parallelism: 1 } }] };

/** Every key with its type and value: what "changes nothing" compares. */
async function snapshot(raw: Raw): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {};
  for (const key of (await raw.keys('flowgate:*')).sort()) {
    const type = await raw.type(key);
    if (type === 'hash') result[key] = await raw.hGetAll(key);
    else if (type === 'set') result[key] = (await raw.sMembers(key)).sort();
    else if (type === 'zset') result[key] = await raw.zRangeWithScores(key, 0, -1);
    else result[key] = await raw.get(key);
  }
  return result;
}

/**
 * What a person with the old store's tokens and password can do on a server of this version: the tokens (keys in clear) no
 * longer refresh nor authenticate; the password logs in, as the owner, to a session that names its password credential.
 */
async function expectOldStoreServed(server: ServerProcess, old: OldStore): Promise<void> {
  const { client } = await RawClient.open(server.url);
  const refreshed = await client.command({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: old.refreshSecret, client_id: TEST_CLIENT_ID });
  expect(refreshed['success'], JSON.stringify(refreshed)).to.equal(false);
  const { client: longLived } = await RawClient.open(server.url);
  longLived.send({ type: 'auth', access_token: old.longLivedAccessToken });
  expect(await longLived.next()).to.deep.include({ type: 'auth_invalid' });
  const code = await loginCode(client, ['password', null], { username: 'alice', password: OLD_PASSWORD });
  const tokens = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID });
  const fresh = await authenticatedSocket(server.url, String(tokens['access_token']));
  expect(await fresh.result({ type: 'auth/current_user' })).to.deep.include({ id: old.alice, name: 'Alice', is_owner: true, is_admin: true });
  const sessions = (await fresh.result({ type: 'auth/refresh_tokens' })) as unknown as Array<Record<string, unknown>>;
  expect(sessions.map((s) => s['id'])).to.not.include.members([old.normalTokenId, old.longLivedTokenId]);
  expect(new Set(sessions.map((s) => s['auth_provider_type']))).to.deep.equal(new Set(['password']));
  for (const open of [client, longLived, fresh]) open.close();
}

describe('Redis key layout migration', function () {
  this.timeout(60_000);
  let redis: RunningRedis;
  let raw: Raw;
  const servers: ServerProcess[] = [];
  before(async function () {
    redis = await startRedisServer();
    raw = createClient({ url: redis.url });
    await raw.connect();
  });
  beforeEach(async function () {
    await raw.flushAll();
  });
  afterEach(async function () {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });
  after(async function () {
    await raw.close();
    await redis.stop();
  });

  describe('flowgate store migrate', function () {
    it('moves every old key and revokes the old tokens, then a server serves the old users, passwords, MFA settings, owner and bans', async function () {
      const old = await writeOldStore(raw);
      const first = await runFlowgate(['store', 'migrate', '--store', redis.url]);
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stdout, first.stdout).to.include(
        "moved 2 users, 1 credentials, 2 refresh tokens, 1 users' MFA settings and 3 login defense records; removed 16 old keys; " +
          'revoked 2 refresh tokens stored with their signing key in clear (their users log in again)',
      );
      expect(await raw.keys('flowgate:default:{directory}:*')).to.deep.equal([]);
      // Nothing of the old tokens is left to sign with: no token hash, no index entry, no alias naming them.
      expect(await raw.keys('flowgate:default:*refresh-token*')).to.deep.equal([]);
      expect(await raw.keys('flowgate:default:{login-defense}:*')).to.deep.equal([]);

      const store = await openStore(redis.url, { dataDir: tmpdir(), logger: silentLogger });
      try {
        expect((await store.listUsers()).map((u) => [u.id, u.isOwner])).to.deep.equal([[old.alice, true], [old.bob, false]]);
        expect(await store.getMfaSetting(old.alice, 'totp')).to.deep.equal({ revision: '0a1b2c', data: { secret: 'JBSWY3DPEHPK3PXP' } });
        expect(await store.loginDefense.isBanned('192.0.2.9')).to.equal(true);
        expect((await store.loginDefense.listBans()).map((b) => b.address)).to.deep.equal(['192.0.2.9']);
        // The device-token key was kept in clear too: removed (device tokens are now signed with a key derived from secret_key).
        expect(await store.loginDefense.sharedSecret('device-token-key', 'another')).to.equal('another');
        const counted = { key: '192.0.2.10', limit: 2, windowMs: 60_000 };
        expect(await store.loginDefense.checkAttempt(null, { address: counted, account: null, device: null })).to.include({ outcome: 'limited' });
      } finally {
        await store.close();
      }
      const server = await startServerProcess({ config: PASSWORD_CONFIG, store: redis.url });
      servers.push(server);
      await expectOldStoreServed(server, old);
    });

    it('changes nothing when run again', async function () {
      await writeOldStore(raw);
      expect((await runFlowgate(['store', 'migrate', '--store', redis.url])).code).to.equal(0);
      const before = await snapshot(raw);
      const again = await runFlowgate(['store', 'migrate', '--store', redis.url]);
      expect(again.stdout).to.include(
        "moved 0 users, 0 credentials, 0 refresh tokens, 0 users' MFA settings and 0 login defense records; removed 0 old keys; revoked 0 refresh tokens",
      );
      expect(await snapshot(raw)).to.deep.equal(before);
    });
  });

  describe('a server starting on an old store', function () {
    it('migrates it at start, once when two instances start together, and serves it', async function () {
      const old = await writeOldStore(raw);
      const started = await Promise.all([0, 1].map(() => startServerProcess({ config: PASSWORD_CONFIG, store: redis.url })));
      servers.push(...started);
      await expectOldStoreServed(started[1]!, old);
      await expectOldStoreServed(started[0]!, old);
      const migrations = started.flatMap((server) => server.logs.filter((line) => String(line['msg']).startsWith('store migrated to')));
      expect(migrations).to.have.length(1);
      // One warning that counts the sessions signed out, for the operator.
      expect(migrations[0]).to.deep.include({ level: 40 });
      expect(String(migrations[0]?.['msg'])).to.include('revoked 2 refresh tokens stored with their signing key in clear');
      expect(await raw.get('flowgate:default:{layout}:version')).to.equal('3');
    });
  });
});
