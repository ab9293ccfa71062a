/**
 * A blocked login is not a success (issue 20, point 9), attacked black-box: two real instances on one real Redis sharing the
 * login counters, clients at public addresses through a trusted proxy, raw frames. An attacker who holds a deactivated (or
 * local-only) user's password must neither clear the counters of the address it guesses from, nor learn that the password was
 * right: the answer, and what the limits do next, are those of a wrong password.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { openStore } from '../../server/src/store/open.js';
import type { Store } from '../../server/src/store/types.js';
import { eventually, startInstances, type Instances } from '../helpers/instances.js';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { runFlowgate } from '../helpers/server-process.js';
import { silentLogger } from '../helpers/stores.js';

const CONFIG = {
  auth_providers: [{ type: 'password', argon2: { memory_kib: 1024, time_cost: 1 } }],
  // Each test speaks from public addresses of its own through this host, a trusted proxy, so its counters are its own.
  http: { use_x_forwarded_for: true, trusted_proxies: ['127.0.0.1', '::1'] },
  websocket: { max_flow_starts_per_minute: 0, max_unauthenticated_sockets_per_address: 0 },
};
/** The default limit: the 10th failed step within 10 minutes locks the address. */
const ADDRESS_FAILURES = 10;

type Reply = Record<string, any>;
interface Login {
  readonly username: string;
  readonly password: string;
}

/** A reply without what differs between any two flows (ids, expiry), so two answers can be compared whole. */
function shape(reply: Reply): Reply {
  const { id: _id, ...rest } = reply;
  if (rest['result'] === undefined) return rest;
  const { flow_id: _flow, expires_at: _expires, ...result } = rest['result'];
  return { ...rest, result };
}

describe('Blocked logins and the login limits (2 instances, one Redis)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances;
  let store: Store;
  const users: Record<'dora' | 'lou' | 'wendy', Login> = {
    dora: { username: 'dora', password: 'dormouse-treacle-7' },
    lou: { username: 'lou', password: 'lobster-quadrille-7' },
    wendy: { username: 'wendy', password: 'walrus-carpenter-7' },
  };

  /** One login attempt on its own socket, on instance `at`, for a client at `address`: init, then one step; the step's reply. */
  async function attempt(at: number, address: string, login: Login): Promise<Reply> {
    const { client } = await RawClient.open(instances.at(at).url, { headers: { 'x-forwarded-for': address } });
    try {
      const init = await client.command({ type: 'login_flow/init', handler: ['password', null], client_id: TEST_CLIENT_ID });
      if (init['success'] !== true) return init;
      return await client.command({ type: 'login_flow/step', flow_id: (init['result'] as Reply)['flow_id'], client_id: TEST_CLIENT_ID, user_input: login });
    } finally {
      client.close();
    }
  }

  const wrong = (login: Login): Login => ({ ...login, password: `${login.password}-not` });

  /** The replies to `count` wrong guesses at `login` from `address`, alternating instances. */
  async function guesses(address: string, login: Login, count: number): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < count; i += 1) replies.push(await attempt(i % 2, address, wrong(login)));
    return replies;
  }

  const userIdOf = async (username: string): Promise<string> => String((await store.findCredential('password', null, username))?.userId);

  before(async function () {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-blocked-'));
    const configPath = join(dir, 'flowgate.yaml');
    writeFileSync(configPath, stringify(CONFIG));
    // The owner first, so that the users under test are ordinary ones.
    for (const [username, password] of [['olive', 'owl-and-panther-7'], ...Object.values(users).map((u) => [u.username, u.password])]) {
      const added = await runFlowgate(['user', 'add', username!, '--password-stdin', '--config', configPath, '--store', redis().url], {}, dir, `${password}\n`);
      expect(added.code, added.stderr).to.equal(0);
    }
    instances = await startInstances(2, redis().url, { config: CONFIG });
    store = await openStore(redis().url, { dataDir: dir, logger: silentLogger });
  });
  after(async function () {
    await store?.close();
    await instances?.stop();
  });

  it("answers a deactivated user's right password as a wrong one, and it does not clear the address's failures", async function () {
    expect((await attempt(0, '203.0.113.10', users.dora))['result']?.type, 'dora logs in while active').to.equal('create_entry');
    await store.updateUser(await userIdOf('dora'), { isActive: false });

    // From one address: 9 failures, the right password, then the next attempt. From another: the same with a wrong password.
    const attacked = [...(await guesses('203.0.113.11', users.dora, ADDRESS_FAILURES - 1)), await attempt(1, '203.0.113.11', users.dora)];
    const control = await guesses('203.0.113.12', users.dora, ADDRESS_FAILURES);
    expect(attacked.map(shape)).to.deep.equal(control.map(shape));
    expect(shape(attacked[ADDRESS_FAILURES - 1]!)).to.deep.include({ success: true });
    expect(attacked[ADDRESS_FAILURES - 1]!['result']).to.deep.include({ type: 'form', step_id: 'init', errors: { base: 'invalid_auth' } });

    // The address is locked now, as after 10 wrong passwords: even an active user's right password from it is refused.
    for (const address of ['203.0.113.11', '203.0.113.12']) {
      const next = await attempt(0, address, users.wendy);
      expect(next['error']?.code, `${address}: ${JSON.stringify(next)}`).to.equal('rate_limited');
    }
    // The audit log tells the operator why the right password was refused.
    await eventually(
      async () => instances.at(1).logs.some((line) => line['event'] === 'login_failed' && line['username'] === 'dora' && line['reason'] === 'user_inactive'),
      5_000,
      'the audit line with reason user_inactive',
    );
  });

  it("answers a local-only user's right password from a public address as a wrong one, and it does not clear the address's failures", async function () {
    await store.updateUser(await userIdOf('lou'), { localOnly: true });
    // The password is right: from this host (a local address) lou logs in.
    expect((await attempt(1, '10.1.2.3', users.lou))['result']?.type, 'lou logs in from a local address').to.equal('create_entry');

    const attacked = [...(await guesses('198.51.100.21', users.lou, ADDRESS_FAILURES - 1)), await attempt(0, '198.51.100.21', users.lou)];
    const control = await guesses('198.51.100.22', users.lou, ADDRESS_FAILURES);
    expect(attacked.map(shape)).to.deep.equal(control.map(shape));
    expect(attacked[ADDRESS_FAILURES - 1]!['result']).to.deep.include({ type: 'form', errors: { base: 'invalid_auth' } });
    for (const address of ['198.51.100.21', '198.51.100.22']) {
      const next = await attempt(1, address, users.wendy);
      expect(next['error']?.code, `${address}: ${JSON.stringify(next)}`).to.equal('rate_limited');
    }
    await eventually(
      async () => instances.at(0).logs.some((line) => line['event'] === 'login_failed' && line['username'] === 'lou' && line['reason'] === 'user_local_only'),
      5_000,
      'the audit line with reason user_local_only',
    );
  });
});
