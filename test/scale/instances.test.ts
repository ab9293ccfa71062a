/** Three real instances on one Redis behave as one server: flows, codes, tokens and CLI users cross instances. */
import { expect } from 'chai';
import { authenticatedSocket } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { runFlowgate } from '../helpers/server-process.js';
import { get, init, PASSWORD_HANDLER, redeem, RIGHT, step, tokensOn, useScaledOut, WRONG } from '../helpers/scale.js';

describe('Scale-out: three instances on one Redis', function () {
  const { redis, instances } = useScaledOut(3);

  it('announces a different instance id from each process in the hello', async function () {
    const hellos = await Promise.all(instances().all.map((instance) => RawClient.open(instance.url)));
    hellos.forEach(({ client }) => client.close());
    const announced = hellos.map(({ hello }) => hello['instance']);
    expect(announced).to.deep.equal(instances().all.map((instance) => instance.instanceId));
    expect(new Set(announced).size).to.equal(3);
  });

  it('starts a flow on A, reads it on B and finishes it on C', async function () {
    const [a, b, c] = [await instances().open(0), await instances().open(1), await instances().open(2)];
    const form = await init(a);
    expect(((await step(a, form['flow_id'], WRONG)) as any).result.errors).to.deep.equal({ base: 'invalid_auth' });
    const read = (await get(b, form['flow_id'])) as any;
    expect(read.result).to.deep.include({ type: 'form', flow_id: form['flow_id'], errors: { base: 'invalid_auth' } });
    const done = (await step(c, form['flow_id'], RIGHT)) as any;
    expect(done.result.type).to.equal('create_entry');
  });

  it('redeems on B a code issued on A, once', async function () {
    const [a, b] = [await instances().open(0), await instances().open(1)];
    const form = await init(a);
    const done = (await step(a, form['flow_id'], RIGHT)) as any;
    expect(((await redeem(b, done.result.result)) as any).success).to.equal(true);
    expect(((await redeem(a, done.result.result)) as any).error.code).to.equal('invalid_grant');
  });

  it('authenticates on A with an access token issued on B', async function () {
    const tokens = await tokensOn(await instances().open(1));
    const socket = await authenticatedSocket(instances().at(0).url, String(tokens['access_token']));
    try {
      expect(await socket.result({ type: 'auth/current_user' })).to.deep.include({ name: 'Alice Liddell' });
    } finally {
      socket.close();
    }
  });

  it('refreshes on C a refresh token issued on A', async function () {
    const tokens = await tokensOn(await instances().open(0));
    const c = await instances().open(2);
    const refreshed = await c.result({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: tokens['refresh_token'], client_id: 'https://dashboard.example/' });
    expect(refreshed).to.have.property('access_token');
  });

  it('logs in on every instance a user the CLI added while they run', async function () {
    const added = await runFlowgate(['user', 'add', 'carol', '--store', redis().url, '--password-stdin'], {}, undefined, 'rabbit-hole\n');
    expect(added.code, added.stderr).to.equal(0);
    for (let i = 0; i < 3; i++) {
      const client = await instances().open(i);
      const form = await init(client, PASSWORD_HANDLER);
      const done = (await step(client, form['flow_id'], { username: 'carol', password: 'rabbit-hole' })) as any;
      expect(done.result.type, `instance ${i}`).to.equal('create_entry');
    }
  });
});
