/** Failures of a scaled-out deployment on real processes: an instance killed, Redis gone and back, an instance drained. */
import { expect } from 'chai';
import { authenticatedSocket } from '../helpers/login.js';
import { eventually, startInstances, type Instances } from '../helpers/instances.js';
import { RawClient } from '../helpers/raw-client.js';
import { readyzStatus } from '../helpers/readiness.js';
import { startRedisServer, type RunningRedis } from '../helpers/redis-server.js';
import { runFlowgate } from '../helpers/server-process.js';
import { get, init, PASSWORD_HANDLER, redeem, RIGHT, SCALE_CONFIG, step, tokensOn, usePrivateRedis, useScaledOut, WRONG } from '../helpers/scale.js';

/** "Within a few seconds of Redis returning": the reconnect backoff is capped at 2 s (+ jitter), so 5 s is generous. */
const RECOVERY_PROMISE_MS = 5_000;
/** Long enough for the instances' reconnect backoff to reach its 2 s cap, as in a real outage (a restart, a failover). */
const OUTAGE_MS = 4_000;

describe('Scale-out: an instance killed with SIGKILL mid-flow', function () {
  const { instances } = useScaledOut(2);

  it('loses nothing: the client reconnects to another instance, resumes with login_flow/get and finishes', async function () {
    const a = await instances().open(0);
    const form = await init(a);
    await step(a, form['flow_id'], WRONG);
    await instances().at(0).stop('SIGKILL');
    expect((await a.closed).code).to.equal(1006);
    const b = await instances().open(1);
    const resumed = (await get(b, form['flow_id'])) as any;
    expect(resumed.result).to.deep.include({ type: 'form', flow_id: form['flow_id'], errors: { base: 'invalid_auth' } });
    const done = (await step(b, form['flow_id'], RIGHT)) as any;
    expect(done.result.type).to.equal('create_entry');
  });
});

describe('Scale-out: Redis goes away and comes back', function () {
  this.timeout(60_000);
  let redis: RunningRedis;
  let instances: Instances;
  let clients: RawClient[];
  const during: { replies: Array<Record<string, unknown>>; health: number[] } = { replies: [], health: [] };
  const after_ = { recoveredInMs: Number.NaN, eventsInMs: Number.NaN, health: [] as number[], login: [] as unknown[] };

  before(async function () {
    redis = await startRedisServer();
    instances = await startInstances(3, redis.url, { config: SCALE_CONFIG });
    clients = [await instances.open(0), await instances.open(1), await instances.open(2)];
    const flows = await Promise.all(clients.map((client) => init(client)));
    await redis.stop();
    // Every command that needs the store, on every instance, on sockets opened before the outage.
    for (const [index, client] of clients.entries()) {
      const flowId = flows[index]!['flow_id'];
      during.replies.push(
        await client.command({ type: 'login_flow/init', handler: ['insecure_example', null], client_id: 'https://dashboard.example/' }),
        await get(client, flowId),
        await step(client, flowId, RIGHT),
        await redeem(client, 'f'.repeat(32)),
      );
      during.health.push(await readyzStatus(instances.at(index).httpUrl));
    }
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    redis = await startRedisServer({ port: redis.port });
    const back = Date.now();
    await Promise.all(
      clients.map((client) =>
        eventually(async () => (await client.command({ type: 'login_flow/init', handler: ['insecure_example', null], client_id: 'https://dashboard.example/' }))['success'] === true, 15_000, 'recovery', 20),
      ),
    );
    after_.recoveredInMs = Date.now() - back;
    for (const [index, client] of clients.entries()) {
      after_.health.push(await readyzStatus(instances.at(index).httpUrl, RECOVERY_PROMISE_MS));
      const form = await init(client);
      after_.login.push(((await step(client, form['flow_id'], RIGHT)) as any).result?.type);
    }
    // Events: each attempt revokes a fresh token on A and waits briefly for B to close its socket; the subscribers reconnect
    // on their own backoff, so the first attempts may go unheard.
    after_.eventsInMs =
      after_.recoveredInMs +
      (await eventually(
        async () => {
          const tokens = await tokensOn(clients[0]!);
          const socket = await authenticatedSocket(instances.at(1).url, String(tokens['access_token']));
          await clients[0]!.result({ type: 'auth/revoke', token: tokens['refresh_token'] });
          const code = await Promise.race([socket.closed.then((c) => c.code), new Promise((r) => setTimeout(() => r(0), 200))]);
          socket.close();
          return code === 4001;
        },
        15_000,
        'revocation events after the outage',
        0,
      ));
    console.log(
      `      after a ${OUTAGE_MS / 1000} s outage: commands served on all 3 instances ${after_.recoveredInMs} ms after Redis returned, ` +
        `revocation events ${after_.eventsInMs} ms after`,
    );
  });
  after(async function () {
    await instances?.stop();
    await redis?.stop();
  });

  it('answers unavailable to every store command while Redis is down', function () {
    expect(during.replies.map((reply) => (reply as any).error?.code)).to.deep.equal(Array(12).fill('unavailable'));
  });

  it('fails the readiness check of every instance while Redis is down', function () {
    expect(during.health).to.deep.equal([503, 503, 503]);
  });

  it('keeps every process running and every socket open', function () {
    expect(instances.all.map((instance) => instance.child.exitCode)).to.deep.equal([null, null, null]);
    expect(clients.map((client) => client.socket.readyState)).to.deep.equal([1, 1, 1]);
  });

  it(`serves again on every instance within ${RECOVERY_PROMISE_MS / 1000} s of Redis returning`, function () {
    expect(after_.recoveredInMs).to.be.below(RECOVERY_PROMISE_MS);
  });

  it(`delivers revocations between instances again within ${RECOVERY_PROMISE_MS / 1000} s of Redis returning`, function () {
    expect(after_.eventsInMs).to.be.below(RECOVERY_PROMISE_MS);
  });

  it('passes the readiness check and finishes logins after the recovery', function () {
    expect(after_.health).to.deep.equal([200, 200, 200]);
    expect(after_.login).to.deep.equal(['create_entry', 'create_entry', 'create_entry']);
  });
});

describe('Scale-out: SIGTERM drains one instance while another keeps serving', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances;
  const sent = 64;
  let replies: Array<Record<string, unknown>>;
  let flowIds: unknown[];
  let closed: { code: number; reason: string };
  let exitCode: number | null;

  before(async function () {
    const added = await runFlowgate(['user', 'add', 'dora', '--store', redis().url, '--password-stdin'], {}, undefined, 'dora-the-explorer\n');
    if (added.code !== 0) throw new Error(added.stderr);
    instances = await startInstances(2, redis().url, { config: SCALE_CONFIG });
    const a = await instances.open(0);
    flowIds = [];
    for (let i = 0; i < sent; i++) flowIds.push((await init(a, PASSWORD_HANDLER))['flow_id']);
    // One frame of 64 wrong-password steps: each costs an argon2 verify (~20 ms), so most are still queued when SIGTERM lands.
    a.send(flowIds.map((flowId, i) => ({ id: 1_000 + i, type: 'login_flow/step', flow_id: flowId, client_id: 'https://dashboard.example/', user_input: { username: 'dora', password: 'wrong' } })));
    replies = [(await a.next()) as Record<string, unknown>];
    const exited = instances.at(0).stop('SIGTERM');
    while (replies.length < sent) replies.push((await a.next(10_000)) as Record<string, unknown>);
    closed = await a.closed;
    exitCode = await exited;
  });
  after(async function () {
    await instances?.stop();
  });

  it('answers every command in flight before closing', function () {
    expect(replies.map((reply) => reply['id'])).to.deep.equal(flowIds.map((_, i) => 1_000 + i));
    expect(replies.every((reply) => (reply as any).result?.errors?.base === 'invalid_auth')).to.equal(true);
  });

  it('closes the socket with 1012 service restart and exits 0', function () {
    expect(closed).to.deep.equal({ code: 1012, reason: 'service restart' });
    expect(exitCode).to.equal(0);
  });

  it('lets the client resume every drained flow on the other instance', async function () {
    const b = await instances.open(1);
    for (const flowId of flowIds) {
      expect(((await get(b, flowId)) as any).result?.errors, String(flowId)).to.deep.equal({ base: 'invalid_auth' });
    }
    const done = (await step(b, flowIds[0], { username: 'dora', password: 'dora-the-explorer' })) as any;
    expect(done.result.type).to.equal('create_entry');
  });
});
