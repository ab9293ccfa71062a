/** Redis Sentinel: the store contract, and two real instances through a failover, on a local master, replica and 3 sentinels. */
import { expect } from 'chai';
import { tmpdir } from 'node:os';
import { randomId } from '../../server/src/crypto.js';
import { openStore } from '../../server/src/store/open.js';
import { parseSentinelUrl } from '../../server/src/store/redis/sentinel.js';
import { eventually, startInstances, type Instances } from '../helpers/instances.js';
import { authenticatedSocket } from '../helpers/login.js';
import type { RawClient } from '../helpers/raw-client.js';
import { readyzStatus } from '../helpers/readiness.js';
import { findFreePort } from '../helpers/redis-server.js';
import { redisCommand, startRedisSentinel, type RedisAddress, type RunningSentinel } from '../helpers/redis-sentinel.js';
import { get, init, redeem, RIGHT, SCALE_CONFIG, step, tokensOn, WRONG } from '../helpers/scale.js';
import { describeStoreContract, rejectionOf } from '../helpers/store-contract.js';
import { silentLogger } from '../helpers/stores.js';

/** Sentinels hold the master down after 1 s of silence, then elect a leader and promote the replica: a few seconds at most. */
const FAILOVER_TIMEOUT_MS = 15_000;
/** Instances notice a new master within their 2 s topology scan (or at once, on a sentinel event) and reconnect. */
const RECOVERY_PROMISE_MS = 5_000;
/** A call during the outage is refused at once; holding it until a master answers again would take over a second. */
const FAIL_FAST_MS = 1_000;

const open = (url: string) => openStore(url, { dataDir: tmpdir(), logger: silentLogger, keyPrefix: `test-${randomId(6)}` });

describe('Redis Sentinel store (redis+sentinel://, a master, a replica, 3 sentinels)', function () {
  this.timeout(60_000);
  let sentinel: RunningSentinel | undefined;
  const deployment = (): RunningSentinel => {
    if (sentinel === undefined) throw new Error('the sentinel deployment is not started');
    return sentinel;
  };
  before(async function () {
    sentinel = await startRedisSentinel();
  });
  after(async function () {
    await sentinel?.stop();
  });

  describeStoreContract('redis sentinel', () => open(deployment().url));

  describe('store URL', function () {
    it('lists sentinels (26379 by default) and names the master; credentials are for the master', function () {
      expect(parseSentinelUrl('redis+sentinel://flowgate:p%40ss@sentinel-a,10.0.0.2:26380/my%20master')).to.deep.equal({
        username: 'flowgate',
        password: 'p@ss',
        sentinels: [
          { host: 'sentinel-a', port: 26379 },
          { host: '10.0.0.2', port: 26380 },
        ],
        masterName: 'my master',
        description: 'redis+sentinel://flowgate:***@sentinel-a,10.0.0.2:26380/my%20master',
      });
    });

    it('describes a sentinel URL without its password', async function () {
      const port = await findFreePort();
      const url = `redis+sentinel://flowgate:hunter2@127.0.0.1:${port}/flowgate`;
      const store = await openStore(url, { dataDir: tmpdir(), logger: silentLogger });
      await store.close();
      expect(store.description).to.equal(`redis+sentinel://flowgate:***@127.0.0.1:${port}/flowgate`);
    });

    it('refuses a URL without a master name, and TLS, in one line without the password', async function () {
      const missing = await rejectionOf(open('redis+sentinel://flowgate:hunter2@127.0.0.1:26379'));
      expect((missing as Error).message).to.match(/^Invalid store URL "redis\+sentinel:\/\/flowgate:\*\*\*@[^"]+": .*master name is missing$/);
      const tls = await rejectionOf(open('rediss+sentinel://flowgate:hunter2@127.0.0.1:26379/flowgate'));
      expect((tls as Error).message).to.equal(
        'Invalid store URL "rediss+sentinel://flowgate:***@127.0.0.1:26379/flowgate": ' +
          'TLS through Sentinel (rediss+sentinel://) is not supported; use redis+sentinel:// on a private network',
      );
    });
  });

  describe('two instances while the master is SIGKILLed and the replica promoted', function () {
    let instances: Instances;
    let oldMaster: RedisAddress;
    let newMaster: RedisAddress;
    const before_ = { replicated: 0 };
    const during = { replies: [] as Array<Record<string, unknown>>, slowestReplyMs: 0, health: [] as number[] };
    const after_ = {
      promotedInMs: Number.NaN,
      servingInMs: [] as number[],
      eventsInMs: Number.NaN,
      resumed: {} as Record<string, unknown>,
      finished: {} as Record<string, unknown>,
      redeemed: {} as Record<string, unknown>,
      health: [] as number[],
      watchedOpen: false,
      watchedClosed: undefined as unknown,
      noscript: 0,
    };

    before(async function () {
      instances = await startInstances(2, deployment().url, { config: SCALE_CONFIG });
      const a = await instances.open(0);
      const b = await instances.open(1);
      // Before the failover: a flow one (wrong) step in, started on A, and a socket on B authenticated by a login on A.
      const flowId = (await init(a))['flow_id'];
      await step(a, flowId, WRONG);
      const tokens = await tokensOn(a);
      const watched = await authenticatedSocket(instances.at(1).url, String(tokens['access_token']));

      // Replication is asynchronous: a write the replica has not received when the master dies is lost by Redis, whatever
      // the client. WAIT until the replica acknowledged everything, so that the checks below are about Flowgate.
      oldMaster = await deployment().master();
      before_.replicated = Number(await redisCommand(oldMaster.port, ['WAIT', '1', '5000']));
      const info = String(await redisCommand(oldMaster.port, ['INFO', 'server']));
      const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
      process.kill(pid, 'SIGKILL');
      const killedAt = Date.now();

      // During: every instance answers `unavailable` (at once, not when a master is back) and fails its health check.
      for (const [index, client] of [a, b].entries()) {
        const { reply, slowestMs } = await waitForUnavailable(client, flowId);
        during.slowestReplyMs = Math.max(during.slowestReplyMs, slowestMs);
        during.replies.push(reply);
        during.health.push(await readyzStatus(instances.at(index).httpUrl));
      }

      newMaster = await deployment().waitForNewMaster(oldMaster, FAILOVER_TIMEOUT_MS);
      after_.promotedInMs = Date.now() - killedAt;
      after_.servingInMs = await Promise.all(
        [a, b].map(async (client) => {
          const serving = async (): Promise<boolean> => (await get(client, flowId))['success'] === true;
          await eventually(serving, FAILOVER_TIMEOUT_MS, 'serving after the failover', 50);
          return Date.now() - killedAt;
        }),
      );

      // The flow started on A before the failover is read and finished on B; the code is redeemed on B.
      after_.resumed = await get(b, flowId);
      after_.finished = await step(b, flowId, RIGHT);
      after_.redeemed = await redeem(b, (after_.finished as any).result?.result);
      after_.health = await Promise.all(instances.all.map((instance) => readyzStatus(instance.httpUrl, RECOVERY_PROMISE_MS)));

      // Events: each subscriber moves to the new master on its own schedule, so the first attempts may go unheard (delivery is
      // at most once). Once a fresh revocation crosses from A to B, the one of the login made before the failover must too.
      await eventually(async () => revocationCrosses(instances, a), FAILOVER_TIMEOUT_MS, 'revocation events', 0);
      after_.eventsInMs = Date.now() - killedAt;
      after_.watchedOpen = watched.socket.readyState === 1;
      await a.result({ type: 'auth/revoke', token: tokens['refresh_token'] });
      const stillOpen = new Promise((resolve) => setTimeout(() => resolve('still open'), 5_000));
      after_.watchedClosed = await Promise.race([watched.closed, stillOpen]);

      // The promoted replica had none of the Lua scripts cached: the instances' EVALSHAs met NOSCRIPT and fell back to EVAL.
      const errors = String(await redisCommand(newMaster.port, ['INFO', 'errorstats']));
      after_.noscript = Number(/errorstat_NOSCRIPT:count=(\d+)/.exec(errors)?.[1] ?? 0);

      const serving = after_.servingInMs.map((ms) => ms - after_.promotedInMs);
      console.log(
        `      master SIGKILLed: sentinels promoted the replica after ${after_.promotedInMs} ms; ` +
          `both instances served again ${Math.max(...after_.servingInMs)} ms after the kill (${serving.join(' / ')} ms after the promotion), ` +
          `revocation events after ${after_.eventsInMs} ms; calls during the outage answered within ${during.slowestReplyMs} ms`,
      );
    });
    after(async function () {
      await instances?.stop();
    });

    it('fails over to the replica, which had acknowledged every write', function () {
      expect(before_.replicated).to.equal(1);
      expect(newMaster).to.deep.equal({ host: '127.0.0.1', port: deployment().nodes[1]!.port });
    });

    it('answers unavailable at once on every instance while there is no master, and fails the health check', function () {
      expect(during.replies.map((reply) => (reply as any).error?.code)).to.deep.equal(['unavailable', 'unavailable']);
      // Not held until a master is back (the failover takes longer than this): answered as soon as asked.
      expect(during.slowestReplyMs).to.be.below(FAIL_FAST_MS);
      expect(during.health).to.deep.equal([503, 503]);
    });

    it(`serves again on every instance within ${RECOVERY_PROMISE_MS / 1000} s of the promotion, without restarting`, function () {
      for (const ms of after_.servingInMs) expect(ms - after_.promotedInMs).to.be.below(RECOVERY_PROMISE_MS);
      expect(instances.all.map((instance) => instance.child.exitCode)).to.deep.equal([null, null]);
      expect(after_.health).to.deep.equal([200, 200]);
    });

    it('reads the flow started before the failover on the other instance and finishes it there', function () {
      expect((after_.resumed as any).result).to.deep.include({ type: 'form', errors: { base: 'invalid_auth' } });
      expect((after_.finished as any).result?.type).to.equal('create_entry');
      expect((after_.redeemed as any).result?.token_type).to.equal('Bearer');
    });

    it('runs the Lua scripts on the promoted replica through the NOSCRIPT fallback', function () {
      expect(after_.noscript).to.be.at.least(1);
    });

    it('delivers revocations between instances again: a socket authenticated before the failover closes with 4001', function () {
      expect(after_.watchedOpen).to.equal(true);
      expect(after_.watchedClosed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
    });
  });
});

/**
 * Sends `login_flow/get` until the instance answers `unavailable` (noticing the dead master may take it a moment); returns
 * that reply and the slowest round trip.
 */
async function waitForUnavailable(client: RawClient, flowId: unknown): Promise<{ reply: Record<string, unknown>; slowestMs: number }> {
  let reply: Record<string, unknown> = {};
  let slowestMs = 0;
  const probe = async (): Promise<boolean> => {
    const sent = Date.now();
    reply = await get(client, flowId);
    slowestMs = Math.max(slowestMs, Date.now() - sent);
    return (reply as any).error?.code === 'unavailable';
  };
  await eventually(probe, FAILOVER_TIMEOUT_MS, 'an unavailable reply during the failover', 20);
  return { reply, slowestMs };
}

/** Logs in on A, authenticates a socket with the tokens on B, revokes them on A: true when B closed that socket with 4001. */
async function revocationCrosses(instances: Instances, a: RawClient): Promise<boolean> {
  const tokens = await tokensOn(a);
  const socket = await authenticatedSocket(instances.at(1).url, String(tokens['access_token']));
  await a.result({ type: 'auth/revoke', token: tokens['refresh_token'] });
  const heard = new Promise((resolve) => setTimeout(() => resolve(0), 200));
  const code = await Promise.race([socket.closed.then((closed) => closed.code), heard]);
  socket.close();
  return code === 4001;
}
