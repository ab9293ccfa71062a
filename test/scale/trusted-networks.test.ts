/**
 * trusted_networks as people and attackers meet it: two real instances on one real Redis, behind a trusted proxy at 127.0.0.1
 * (X-Forwarded-For believed from it only), clients connecting from other loopback addresses or "from" the proxy's networks.
 */
import { tmpdir } from 'node:os';
import { expect } from 'chai';
import { GROUP_ID_ADMIN, GROUP_ID_USER } from '@flowgate/shared';
import { openStore } from '../../server/src/store/open.js';
import type { User } from '../../server/src/store/types.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { redeem, usePrivateRedis } from '../helpers/scale.js';
import { silentLogger } from '../helpers/stores.js';

const MAIN: Array<string | null> = ['trusted_networks', null];
const KIOSK: Array<string | null> = ['trusted_networks', 'kiosk'];
const PROXY = '127.0.0.1';
/** Behind the proxy: a network both providers' configs name (main: 192.168.10.0/24, kiosk: 10.9.0.0/16). */
const OFFICE = '192.168.10.5';
const KIOSK_ADDRESS = '10.9.1.1';
const OUTSIDE = '203.0.113.9';

type Reply = Record<string, any>;

/** Where a socket comes from: its own source address, and the X-Forwarded-For it sends (believed from the proxy only). */
interface From {
  readonly peer: string;
  readonly forwardedFor?: string;
}
const direct = (peer: string): From => ({ peer });
const viaProxy = (client: string): From => ({ peer: PROXY, forwardedFor: client });

describe('trusted_networks across instances', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  const users: Record<'owner' | 'alice' | 'bob' | 'carol', User> = {} as never;
  const clients: RawClient[] = [];

  before(async function () {
    // The users exist before the servers start: this provider never creates one.
    const store = await openStore(redis().url, { dataDir: tmpdir(), logger: silentLogger });
    try {
      const add = (id: string, name: string, groupIds: string[], isActive = true) =>
        store.createUser({ id, name, isActive, groupIds, localOnly: false, createdAt: Date.now() });
      users.owner = await add('owner-0001', 'Owner', [GROUP_ID_ADMIN]);
      users.alice = await add('alice-0002', 'Alice', [GROUP_ID_USER]);
      users.bob = await add('bob-0003', 'Bob', [GROUP_ID_USER]);
      users.carol = await add('carol-0004', 'Carol', [GROUP_ID_USER], false);
    } finally {
      await store.close();
    }
    const config = {
      http: { use_x_forwarded_for: true, trusted_proxies: [PROXY] },
      // Many sockets from one address, by design of these tests; the caps are tested in connection-limits.test.ts.
      websocket: { max_flow_starts_per_minute: 0, max_unauthenticated_sockets_per_address: 0 },
      auth_providers: [
        {
          type: 'trusted_networks',
          trusted_networks: ['127.0.0.0/8', '192.168.10.0/24'],
          trusted_users: { '127.0.0.2': [users.alice.id, { group: GROUP_ID_ADMIN }] },
        },
        {
          type: 'trusted_networks',
          id: 'kiosk',
          name: 'Kiosk',
          trusted_networks: ['10.9.0.0/16'],
          trusted_users: { '10.9.0.0/16': [users.alice.id] },
          allow_bypass_login: true,
        },
      ],
    };
    instances = await startInstances(2, redis().url, { config });
  });
  afterEach(function () {
    for (const client of clients.splice(0)) client.close();
  });
  after(async function () {
    await instances?.stop();
  });

  async function open(instance: number, from: From): Promise<RawClient> {
    const headers = from.forwardedFor === undefined ? {} : { 'X-Forwarded-For': from.forwardedFor };
    const { client } = await RawClient.open(instances!.at(instance).url, { localAddress: from.peer, headers });
    clients.push(client);
    return client;
  }

  async function init(instance: number, from: From, handler = MAIN): Promise<Reply> {
    const client = await open(instance, from);
    return client.result({ type: 'login_flow/init', handler, client_id: TEST_CLIENT_ID });
  }

  async function step(instance: number, from: From, flowId: unknown, user: string): Promise<Reply> {
    const client = await open(instance, from);
    return client.command({ type: 'login_flow/step', flow_id: flowId, client_id: TEST_CLIENT_ID, user_input: { user } });
  }

  /** The tokens a finished login's code is exchanged for, on `instance`, and the name of the user they open a session as. */
  async function tokensFor(instance: number, from: From, code: unknown): Promise<{ tokens: Reply; name: unknown }> {
    const client = await open(instance, from);
    const reply: Reply = await redeem(client, code);
    expect(reply['success'], JSON.stringify(reply)).to.equal(true);
    const tokens: Reply = reply['result'];
    const session = await open(instance, from);
    session.send({ type: 'auth', access_token: tokens['access_token'] });
    expect(await session.next()).to.deep.include({ type: 'auth_ok' });
    return { tokens, name: (await session.result({ type: 'auth/current_user' }))['name'] };
  }

  const offered = (form: Reply): string[] => form['data_schema'][0].options.map(([id]: [string, string]) => id);

  it('logs in from a trusted network as a user picked among those it allows, the answer taken by another instance', async function () {
    const from = direct('127.0.0.2');
    const form = await init(0, from);
    expect(form).to.deep.include({ type: 'form', step_id: 'init' });
    expect(form['data_schema']).to.deep.equal([
      { name: 'user', type: 'select', required: true, options: [[users.alice.id, 'Alice'], [users.owner.id, 'Owner']] },
    ]);
    // Bob exists and is active, but this address may not pick him: sending his id does not log in as him.
    const refused: Reply = await step(1, from, form['flow_id'], users.bob.id);
    expect(refused['result']).to.deep.include({ type: 'form', errors: { user: 'invalid_option' } });
    const done: Reply = await step(1, from, form['flow_id'], users.alice.id);
    expect(done['result']).to.deep.include({ type: 'create_entry' });
    expect((await tokensFor(0, from, done['result'].result)).name).to.equal('Alice');
  });

  it('offers every active user, never an inactive one, where no trusted_users network applies (also through the proxy)', async function () {
    for (const from of [direct('127.0.0.3'), viaProxy(OFFICE)]) {
      const form = await init(0, from);
      expect(offered(form), JSON.stringify(from)).to.deep.equal([users.alice.id, users.bob.id, users.owner.id]);
      const inactive: Reply = await step(1, from, form['flow_id'], users.carol.id);
      expect(inactive['result']).to.deep.include({ errors: { user: 'invalid_option' } });
    }
  });

  it('with allow_bypass_login and one allowed user, logs in at once', async function () {
    const from = viaProxy(KIOSK_ADDRESS);
    const done = await init(1, from, KIOSK);
    expect(done).to.deep.include({ type: 'create_entry' });
    expect((await tokensFor(0, from, done['result'])).name).to.equal('Alice');
  });

  it('is listed by auth/providers only to callers on a trusted network (HA hides it from the others)', async function () {
    const listed = async (from: From): Promise<unknown[]> => {
      const providers = (await (await open(1, from)).result({ type: 'auth/providers' })) as unknown as Array<{ type: string; id: unknown }>;
      return providers.filter((p) => p.type === 'trusted_networks').map((p) => p.id);
    };
    expect(await listed(viaProxy(OFFICE))).to.have.length.above(0);
    expect(await listed(viaProxy(OUTSIDE))).to.deep.equal([]);
    expect(await listed(direct(PROXY))).to.deep.equal([]);
  });

  it('aborts with not_allowed from outside, from the proxy itself, and for a forged X-Forwarded-For', async function () {
    // 127.0.0.5 is no proxy: its header is refused before any socket opens (400), so it cannot claim the kiosk's network.
    const forged = await open(0, { peer: '127.0.0.5', forwardedFor: KIOSK_ADDRESS }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(forged).to.match(/400/);
    const attempts: Array<[From, Array<string | null>]> = [
      [viaProxy(OUTSIDE), MAIN],
      [viaProxy(OUTSIDE), KIOSK],
      // The proxy's own address is in 127.0.0.0/8, yet a proxy forwards everyone: never trusted as a client.
      [direct(PROXY), MAIN],
      // Through the proxy, the right-most entry it did not add is the client: a forged one further left changes nothing.
      [viaProxy(`${KIOSK_ADDRESS}, ${OUTSIDE}`), KIOSK],
    ];
    for (const [from, handler] of attempts) {
      expect(await init(0, from, handler), JSON.stringify([from, handler])).to.deep.include({ type: 'abort', reason: 'not_allowed' });
    }
  });

  it('refuses to refresh its tokens from outside the trusted networks, on every instance', async function () {
    const office = viaProxy(OFFICE);
    const form = await init(0, office);
    const done: Reply = await step(1, office, form['flow_id'], users.bob.id);
    const { tokens } = await tokensFor(1, office, done['result'].result);
    const refresh = async (instance: number, from: From): Promise<Reply> =>
      (await open(instance, from)).command({
        type: 'auth/token',
        grant_type: 'refresh_token',
        refresh_token: tokens['refresh_token'],
        client_id: TEST_CLIENT_ID,
      });
    expect((await refresh(0, viaProxy('192.168.10.6')))['success']).to.equal(true);
    for (const [instance, from] of [[0, viaProxy(OUTSIDE)], [1, direct(PROXY)]] as const) {
      const refused = await refresh(instance, from);
      expect(refused['error'], JSON.stringify(from)).to.deep.include({ code: 'access_denied' });
    }
    // The refusal revoked nothing: from the office the same refresh token still works.
    expect((await refresh(1, office))['success']).to.equal(true);
  });
});
