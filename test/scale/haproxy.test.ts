/** The docker-compose topology with real processes: redis-server, three `flowgate serve` and haproxy with deploy/haproxy.cfg. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { BEHIND_HAPROXY, ensureHaproxyInstalled, HAPROXY_CFG, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { RawClient } from '../helpers/raw-client.js';
import { findFreePort } from '../helpers/redis-server.js';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { EXAMPLE_HANDLER, get, redeem, RIGHT, SCALE_CONFIG, step, usePrivateRedis, WRONG } from '../helpers/scale.js';

describe('Scale-out: three instances behind haproxy (deploy/haproxy.cfg)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  let haproxy: RunningHaproxy;
  before(async function () {
    instances = await startInstances(3, redis().url, { config: { ...SCALE_CONFIG, http: BEHIND_HAPROXY } });
    haproxy = await startHaproxy(await findFreePort(), instances.all.map((instance) => instance.port));
  });
  after(async function () {
    await haproxy?.stop();
    await instances?.stop();
  });

  it('accepts the repository config as it is (haproxy -c)', function () {
    const checked = spawnSync(ensureHaproxyInstalled(), ['-c', '-f', HAPROXY_CFG], { encoding: 'utf8' });
    expect(checked.status, checked.stderr).to.equal(0);
  });

  it('finishes a login whose every step runs on a new connection, landing on a different instance each time', async function () {
    const landed: unknown[] = [];
    /** One command on a fresh connection through haproxy, as a client that reconnects between steps does. */
    const once = async (command: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const { client, hello } = await RawClient.open(haproxy.url);
      landed.push(hello['instance']);
      try {
        return await client.command(command);
      } finally {
        client.close();
      }
    };
    // The step helpers only call command(): this stand-in runs each on its own connection.
    const viaOnce = { command: once } as unknown as RawClient;
    const form = ((await once({ type: 'login_flow/init', handler: EXAMPLE_HANDLER, client_id: TEST_CLIENT_ID })) as any).result;
    expect(((await step(viaOnce, form['flow_id'], WRONG)) as any).result.errors).to.deep.equal({ base: 'invalid_auth' });
    expect(((await get(viaOnce, form['flow_id'])) as any).result.type).to.equal('form');
    const done = (await step(viaOnce, form['flow_id'], RIGHT)) as any;
    expect(done.result.type).to.equal('create_entry');
    const tokens = (await redeem(viaOnce, done.result.result)) as any;
    expect(tokens.result.token_type).to.equal('Bearer');
    expect(new Set(landed)).to.deep.equal(new Set(instances!.all.map((instance) => instance.instanceId)));
    landed.slice(1).forEach((instance, i) => expect(instance, `connection ${i + 2}`).to.not.equal(landed[i]));
  });
});
