/** Redis Cluster: the store contract and a login across instances on a real local 3-master cluster. */
import { expect } from 'chai';
import { tmpdir } from 'node:os';
import { randomId } from '../../server/src/crypto.js';
import { migrateStoreLayout, openStore } from '../../server/src/store/open.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { startRedisCluster, type RunningCluster } from '../helpers/redis-cluster.js';
import { describeStoreContract, rejectionOf } from '../helpers/store-contract.js';
import { describeLoginDefenseContract } from '../helpers/store-contract-defense.js';
import { describeLeaseContract } from '../helpers/store-contract-leases.js';
import { describeMfaContract } from '../helpers/store-contract-mfa.js';
import type { OpenStoreGroup } from '../helpers/store-group.js';
import { sha256, writeOldStore } from '../helpers/store-contract-old-layout.js';
import { createCluster } from 'redis';
import { silentLogger } from '../helpers/stores.js';

describe('Redis Cluster store (redis+cluster://, 3 masters)', function () {
  this.timeout(60_000);
  let cluster: RunningCluster | undefined;
  const url = (): string => {
    if (cluster === undefined) throw new Error('the cluster is not started');
    return cluster.url;
  };
  before(async function () {
    cluster = await startRedisCluster();
  });
  after(async function () {
    await cluster?.stop();
  });

  describeStoreContract('redis cluster', () =>
    openStore(url(), { dataDir: tmpdir(), logger: silentLogger, keyPrefix: `test-${randomId(6)}` }),
  );
  // Several clients on one key prefix, as several instances: the races of these parts cross connections and masters.
  const openGroup: OpenStoreGroup = (count) => {
    const keyPrefix = `test-${randomId(6)}`;
    return Promise.all(Array.from({ length: count }, () => openStore(url(), { dataDir: tmpdir(), logger: silentLogger, keyPrefix })));
  };
  describeLeaseContract('redis cluster', openGroup);
  describeLoginDefenseContract('redis cluster', openGroup);
  describeMfaContract('redis cluster', openGroup);

  describe('migrateStoreLayout', function () {
    it('moves a store of the previous layout (all in one slot) over the masters, keeping its users and settings, revoking its tokens', async function () {
      const keyPrefix = `test-${randomId(6)}`;
      const raw = createCluster({ rootNodes: [{ url: cluster?.nodes[0]?.url ?? '' }] });
      await raw.connect();
      try {
        const old = await writeOldStore(raw, keyPrefix);
        const report = await migrateStoreLayout(url(), { dataDir: tmpdir(), logger: silentLogger, keyPrefix });
        expect(report).to.include("moved 2 users, 1 credentials, 2 refresh tokens, 1 users' MFA settings and 3 login defense records; removed 16 old keys");
        // Their signing keys were stored in clear: revoked, wherever in the cluster they were moved to.
        expect(report).to.include('revoked 2 refresh tokens stored with their signing key in clear');
        const store = await openStore(url(), { dataDir: tmpdir(), logger: silentLogger, keyPrefix });
        try {
          expect(await store.findRefreshTokenByHash(sha256(old.refreshSecret))).to.equal(null);
          expect(await store.listRefreshTokens(old.alice)).to.deep.equal([]);
          const state = await store.sessionState(old.longLivedTokenId, old.alice);
          expect(state.refreshToken).to.equal(null);
          expect(state.user).to.deep.include({ id: old.alice, isOwner: true });
          const credential = await store.findCredential('password', null, 'alice');
          expect(credential?.userId).to.equal(old.alice);
          expect((await store.listUsers()).map((u) => u.id)).to.deep.equal([old.alice, old.bob]);
          expect(await store.getMfaSetting(old.alice, 'totp')).to.deep.include({ revision: '0a1b2c' });
          expect(await store.loginDefense.isBanned('192.0.2.9')).to.equal(true);
        } finally {
          await store.close();
        }
      } finally {
        await raw.close();
      }
    });
  });

  describe('openStore', function () {
    it('describes a cluster URL without its password', async function () {
      const store = await openStore(`redis+cluster://flowgate:hunter2@${url().slice('redis+cluster://'.length)}`, {
        dataDir: tmpdir(),
        logger: silentLogger,
      });
      await store.close();
      expect(store.description).to.equal(url().replace('redis+cluster://', 'redis+cluster://flowgate:***@'));
    });

    it('refuses a database number in a cluster URL', async function () {
      const error = await rejectionOf(openStore(`${url()}/2`, { dataDir: tmpdir(), logger: silentLogger }));
      expect((error as Error).message).to.match(/^Invalid store URL ".*": .*no database number/);
    });
  });

  describe('three instances on the cluster', function () {
    let instances: Instances;
    before(async function () {
      instances = await startInstances(3, url());
    });
    after(async function () {
      await instances.stop();
    });

    it('starts a flow on one instance, steps it on a second, finishes it on the third and redeems the code on the first', async function () {
      const a = await instances.open(0);
      const b = await instances.open(1);
      const c = await instances.open(2);
      const form = await a.result({ type: 'login_flow/init', handler: ['insecure_example', null], client_id: TEST_CLIENT_ID });
      const step = (client: typeof a, password: string) =>
        client.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: { username: 'alice', password } });
      expect((await step(b, 'nope'))['errors']).to.deep.equal({ base: 'invalid_auth' });
      const done = await step(c, 'wonderland');
      expect(done['type']).to.equal('create_entry');
      const tokens = await a.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: TEST_CLIENT_ID });
      expect(tokens['token_type']).to.equal('Bearer');
    });

    it('closes a socket on one instance when its refresh token is revoked on another', async function () {
      const a = await instances.open(0);
      const form = await a.result({ type: 'login_flow/init', handler: ['insecure_example', null], client_id: TEST_CLIENT_ID });
      const done = await a.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: { username: 'alice', password: 'wonderland' } });
      const tokens = await a.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: TEST_CLIENT_ID });
      const b = await instances.open(1);
      b.send({ type: 'auth', access_token: tokens['access_token'] });
      expect(await b.next()).to.deep.include({ type: 'auth_ok' });
      await instances.open(2).then((c) => c.result({ type: 'auth/revoke', token: tokens['refresh_token'] }));
      expect(await b.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
    });
  });
});
