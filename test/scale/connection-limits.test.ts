/** Connection limits on real instances: unauthenticated sockets per address (local 429, shared 1013), max_sockets, max unauthenticated time. */
import { expect } from 'chai';
import { connect } from 'node:net';
import { eventually, startInstances, type Instances } from '../helpers/instances.js';
import { RawClient } from '../helpers/raw-client.js';
import { SCALE_CONFIG, tokensOn, usePrivateRedis } from '../helpers/scale.js';

/** The status of a refused upgrade (ws reports "Unexpected server response: 429"), or 101 when the socket opened. */
async function upgradeStatus(url: string, localAddress = '127.0.0.1'): Promise<{ status: number; client?: RawClient }> {
  try {
    const { client } = await RawClient.open(url, { localAddress });
    return { status: 101, client };
  } catch (error) {
    const status = /Unexpected server response: (\d+)/.exec(String(error))?.[1];
    if (status === undefined) throw error;
    return { status: Number(status) };
  }
}

/** Opens `count` sockets from `localAddress` (hello consumed); they are closed by `closeAll`. */
async function openMany(url: string, count: number, localAddress: string, into: RawClient[]): Promise<void> {
  for (let i = 0; i < count; i++) into.push((await RawClient.open(url, { localAddress })).client);
}

/** True when `client` is still open `ms` from now (nothing closed it meanwhile). */
const staysOpen = (client: RawClient, ms: number): Promise<boolean> =>
  Promise.race([client.closed.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), ms))]);

/** Makes the real Redis hold every client's commands for `ms` (CLIENT PAUSE): a store that is up but does not answer. */
async function pauseRedis(port: number, ms: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('data', () => resolve());
    socket.write(`CLIENT PAUSE ${ms} ALL\r\n`);
  });
  socket.end();
}

describe('Connection limits', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const held: RawClient[] = [];
  afterEach(async function () {
    const closing = held.splice(0);
    closing.forEach((client) => client.close());
    await Promise.all(closing.map((client) => client.closed));
  });

  /** Instances of a describe, on the suite's Redis, with `websocket` settings over SCALE_CONFIG. */
  function useInstances(count: number, websocket: Record<string, unknown>): () => Instances {
    let instances: Instances | undefined;
    before(async function () {
      // SCALE_CONFIG turns the per-address socket cap off for load generators; here it is the subject, at its default.
      const config = { ...SCALE_CONFIG, websocket: { max_flow_starts_per_minute: 0, ...websocket } };
      instances = await startInstances(count, redis().url, { config });
    });
    after(async function () {
      await instances?.stop();
    });
    return () => instances!;
  }

  describe('unauthenticated sockets per address, default limit (50), one instance', function () {
    const instances = useInstances(1, {});

    it('refuses the 51st with 429, while another address still gets in, and has room again once one closes', async function () {
      const url = instances().at(0).url;
      await openMany(url, 50, '127.0.0.2', held);
      expect((await upgradeStatus(url, '127.0.0.2')).status).to.equal(429);
      const other = await upgradeStatus(url, '127.0.0.3');
      expect(other.status).to.equal(101);
      held.push(other.client!);
      const first = held.shift()!;
      first.close();
      await first.closed;
      await eventually(async () => {
        const retry = await upgradeStatus(url, '127.0.0.2');
        if (retry.client !== undefined) held.push(retry.client);
        return retry.status === 101;
      }, 2_000, 'a place freed by a closed socket');
    });
  });

  describe('unauthenticated sockets per address shared by two instances (limit 3)', function () {
    const instances = useInstances(2, { max_unauthenticated_sockets_per_address: 3 });

    it('closes with 1013 the sockets another instance would put over the limit', async function () {
      await openMany(instances().at(0).url, 3, '127.0.0.4', held);
      // Instance 1 holds none of them, so it upgrades; the shared lease then says no.
      const { client } = await RawClient.open(instances().at(1).url, { localAddress: '127.0.0.4' });
      held.push(client);
      expect(await client.closed).to.deep.equal({ code: 1013, reason: 'too many unauthenticated sockets from this address' });
      for (const kept of held.slice(0, 3)) expect(await staysOpen(kept, 50)).to.equal(true);
    });

    it('gives the place back when a socket authenticates', async function () {
      await openMany(instances().at(0).url, 3, '127.0.0.5', held);
      // Tokens from another address, so that logging in costs 127.0.0.5 no socket.
      const { client: minter } = await RawClient.open(instances().at(0).url, { localAddress: '127.0.0.6' });
      held.push(minter);
      const tokens = await tokensOn(minter);
      const first = held[0]!;
      first.send({ type: 'auth', access_token: tokens['access_token'] });
      expect(await first.next()).to.deep.include({ type: 'auth_ok' });
      const { client } = await RawClient.open(instances().at(1).url, { localAddress: '127.0.0.5' });
      held.push(client);
      expect(await staysOpen(client, 500)).to.equal(true);
    });
  });

  describe('sockets per instance (max_sockets 3)', function () {
    const instances = useInstances(1, { max_sockets: 3 });

    it('answers 503 at the upgrade past the limit, whatever the address', async function () {
      const url = instances().at(0).url;
      await openMany(url, 2, '127.0.0.7', held);
      await openMany(url, 1, '127.0.0.8', held);
      expect((await upgradeStatus(url, '127.0.0.9')).status).to.equal(503);
      const response = await fetch(`${instances().at(0).httpUrl}/healthz`);
      expect(response.status, 'plain HTTP is not a socket').to.equal(200);
    });
  });

  describe('max_unauthenticated_seconds (1.5 s)', function () {
    const instances = useInstances(1, { max_unauthenticated_seconds: 1.5 });

    it('closes an unauthenticated socket that keeps pinging, and leaves an authenticated one open', async function () {
      const url = instances().at(0).url;
      const { client: busy } = await RawClient.open(url, { localAddress: '127.0.0.10' });
      const { client: authed } = await RawClient.open(url, { localAddress: '127.0.0.11' });
      held.push(busy, authed);
      const tokens = await tokensOn(authed);
      authed.send({ type: 'auth', access_token: tokens['access_token'] });
      expect(await authed.next()).to.deep.include({ type: 'auth_ok' });
      const started = Date.now();
      let id = 0;
      const pinger = setInterval(() => {
        busy.send({ id: (id += 1), type: 'ping' });
        busy.socket.ping();
      }, 200);
      try {
        expect(await busy.closed).to.deep.equal({ code: 4000, reason: 'authentication timeout' });
      } finally {
        clearInterval(pinger);
      }
      expect(Date.now() - started).to.be.within(1_000, 3_000);
      expect(await staysOpen(authed, 500)).to.equal(true);
    });
  });

  describe('when the store does not answer (store_timeout_ms 300)', function () {
    let instances: Instances | undefined;
    before(async function () {
      instances = await startInstances(1, redis().url, {
        config: { ...SCALE_CONFIG, store_timeout_ms: 300, websocket: { ...SCALE_CONFIG.websocket, max_unauthenticated_sockets_per_address: 3 } },
      });
    });
    after(async function () {
      await instances?.stop();
    });

    it('lets the socket in without waiting for the lease, and logs that the limit was not checked', async function () {
      const pausedMs = 2_000;
      await pauseRedis(redis().port, pausedMs);
      const started = Date.now();
      const { client } = await RawClient.open(instances!.at(0).url, { localAddress: '127.0.0.12' });
      held.push(client);
      expect(Date.now() - started, 'the hello does not wait for the store').to.be.below(250);
      expect(await staysOpen(client, 800)).to.equal(true);
      await eventually(
        async () => instances!.at(0).logs.some((line) => line['msg'] === 'unauthenticated socket limit not checked: the store did not answer'),
        2_000,
        'the warning',
      );
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, pausedMs - (Date.now() - started))));
    });
  });
});
