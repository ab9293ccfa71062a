/**
 * Scale-out on a real 3-master Redis Cluster: 200 users' `auth` and authenticated commands spread over every master (no
 * master serves more than half of the commands, read from each master's INFO commandstats), and the scale-out cases (flows
 * hopping instances, raced steps, revocation across instances) hold there as on one Redis, at a size that keeps the suite quick.
 */
import { expect } from 'chai';
import { createClient } from 'redis';
import { authenticatedSocket, TEST_CLIENT_ID } from '../helpers/login.js';
import { percentile, startInstances, type Instances } from '../helpers/instances.js';
import type { RawClient } from '../helpers/raw-client.js';
import { startRedisCluster, type RunningCluster } from '../helpers/redis-cluster.js';
import { init, redeem, RIGHT, SCALE_CONFIG, step, tokensOn, WRONG } from '../helpers/scale.js';

const USERS = 200;
/** Logins and measured sessions in flight at once: enough to overlap on every instance, few enough for a 2-core machine. */
const LANES = 20;
/** What the issue asks: with the hot path spread over the slots, no master of three serves more than half the commands. */
const MAX_SHARE = 0.5;
const RACED_FLOWS = 60;
const REVOCATIONS = 20;
const PROMISED_CLOSE_MS = 1_000;

/** The example provider with USERS people, each made a Flowgate user at their first token exchange. */
const username = (i: number): string => `user${i}`;
const CLUSTER_CONFIG = {
  ...SCALE_CONFIG,
  auth_providers: [
    { type: 'insecure_example', users: [RIGHT, ...Array.from({ length: USERS }, (_, i) => ({ username: username(i), password: `pw${i}` }))] },
  ],
};

/** Runs `work(i)` for i in 0..count-1 on LANES concurrent lanes. */
async function inLanes(count: number, work: (i: number) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: LANES }, async (_, lane) => {
      for (let i = lane; i < count; i += LANES) await work(i);
    }),
  );
}

/**
 * Commands that are not Flowgate's data traffic: what this test sends to measure (INFO, CONFIG), and what a cluster client
 * sends to learn the topology and check its connections.
 */
const NOT_DATA = new Set(['info', 'config', 'cluster', 'ping', 'client', 'hello', 'command', 'select', 'readonly']);

/** Sum of `calls` of the data commands in one master's INFO commandstats. */
function dataCalls(info: string): number {
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const name = (match[1] ?? '').split('|')[0] ?? '';
    if (!NOT_DATA.has(name)) total += Number(match[2]);
  }
  return total;
}

describe('Scale-out on a Redis Cluster (3 masters)', function () {
  this.timeout(180_000);
  let cluster: RunningCluster;
  let instances: Instances;
  let masters: Array<ReturnType<typeof createClient>>;
  before(async function () {
    cluster = await startRedisCluster();
    instances = await startInstances(3, cluster.url, { config: CLUSTER_CONFIG });
    masters = cluster.nodes.map((node) => createClient({ url: node.url }));
    await Promise.all(masters.map((master) => master.connect()));
  });
  after(async function () {
    await Promise.all((masters ?? []).map((master) => master.close()));
    await instances?.stop();
    await cluster?.stop();
  });

  describe('200 users', function () {
    const calls: number[] = [];
    before(async function () {
      const tokens: string[] = [];
      const logins = await Promise.all([0, 1, 2].map((i) => instances.open(i)));
      await inLanes(USERS, async (i) => {
        const client = logins[i % 3]!;
        const form = await init(client);
        const done = await client.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: { username: username(i), password: `pw${i}` } });
        const issued = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: TEST_CLIENT_ID });
        tokens[i] = String(issued['access_token']);
      });
      // Measured from here: `auth` and two authenticated commands of every user, over fresh sockets on all three instances.
      await Promise.all(masters.map((master) => master.configResetStat()));
      await inLanes(USERS, async (i) => {
        const socket = await authenticatedSocket(instances.at(i % 3).url, tokens[i] ?? '');
        expect(await socket.result({ type: 'auth/current_user' })).to.include({ name: username(i) });
        await socket.result({ type: 'auth/refresh_tokens' });
        socket.close();
      });
      calls.push(...(await Promise.all(masters.map(async (master) => dataCalls(await master.info('commandstats'))))));
      const total = calls.reduce((a, b) => a + b, 0);
      console.log(`      commands per master for ${USERS} users: ${calls.join(', ')} (${calls.map((c) => ((100 * c) / total).toFixed(1)).join('%, ')}%)`);
    });

    it('serves their commands from every master, none more than half of them', function () {
      const total = calls.reduce((a, b) => a + b, 0);
      // Three round trips per user at least: auth's token and user, then one per command (the liveness check).
      expect(total).to.be.at.least(USERS * 3);
      for (const count of calls) expect(count / total).to.be.at.most(MAX_SHARE);
      for (const count of calls) expect(count).to.be.greaterThan(0);
    });
  });

  describe('flows hopping instances', function () {
    it('starts flows on one instance, steps them on a second, finishes them on a third and redeems once on the first', async function () {
      const clients = await Promise.all([0, 1, 2].map((i) => instances.open(i)));
      for (let n = 0; n < 30; n++) {
        const [a, b, c] = [clients[n % 3]!, clients[(n + 1) % 3]!, clients[(n + 2) % 3]!];
        const form = await init(a);
        expect((await step(b, form['flow_id'], WRONG))['success']).to.equal(true);
        const done = (await step(c, form['flow_id'], RIGHT))['result'] as Record<string, unknown>;
        expect(done['type']).to.equal('create_entry');
        expect((await redeem(a, done['result']))['success']).to.equal(true);
        expect((await redeem(b, done['result']))['success']).to.equal(false);
      }
    });
  });

  describe('raced steps', function () {
    it('applies each raced step once: one winner, the loser answered conflict or not_found', async function () {
      const tally = { twice: 0, lost: 0, collided: 0, unexpected: [] as string[] };
      const pairs: Array<[RawClient, RawClient]> = [];
      for (let lane = 0; lane < 10; lane++) pairs.push([await instances.open(lane % 3), await instances.open((lane + 1) % 3)]);
      const check = (replies: Array<Record<string, unknown>>, losers: string[]): void => {
        for (const reply of replies.filter((r) => r['success'] !== true)) {
          tally.collided++;
          const code = String((reply['error'] as Record<string, unknown> | undefined)?.['code']);
          if (!losers.includes(code)) tally.unexpected.push(JSON.stringify(reply));
        }
      };
      await Promise.all(
        pairs.map(async ([a, b], lane) => {
          for (let n = lane; n < RACED_FLOWS; n += pairs.length) {
            const form = await init(a);
            const formReplies = await Promise.all([step(a, form['flow_id'], WRONG), step(b, form['flow_id'], WRONG)]);
            check(formReplies, ['conflict']);
            if (!formReplies.some((r) => r['success'] === true)) tally.lost++;
            const finals = await Promise.all([step(a, form['flow_id'], RIGHT), step(b, form['flow_id'], RIGHT)]);
            check(finals, ['conflict', 'not_found']);
            const entries = finals.filter((r) => (r['result'] as Record<string, unknown> | undefined)?.['type'] === 'create_entry');
            if (entries.length === 0) tally.lost++;
            if (entries.length > 1) tally.twice += entries.length - 1;
          }
        }),
      );
      console.log(`      raced steps on the cluster: ${RACED_FLOWS * 2}, collided ${tally.collided}`);
      expect(tally).to.deep.include({ twice: 0, lost: 0, unexpected: [] });
    });
  });

  describe('revocation', function () {
    it('closes the sockets of a token revoked on one instance on the other two within one second', async function () {
      const revokers = await Promise.all([0, 1, 2].map((i) => instances.open(i)));
      const delays: number[] = [];
      const codes: number[] = [];
      for (let i = 0; i < REVOCATIONS; i++) {
        const home = i % 3;
        const tokens = await tokensOn(revokers[home]!);
        const others = [(home + 1) % 3, (home + 2) % 3].map((index) => instances.at(index).url);
        const sockets = await Promise.all(others.map((url) => authenticatedSocket(url, String(tokens['access_token']))));
        const started = performance.now();
        const closed = sockets.map((socket) =>
          Promise.race([socket.closed, new Promise<{ code: number }>((resolve) => setTimeout(() => resolve({ code: 0 }), 5_000))]).then((close) => {
            socket.close();
            delays.push(performance.now() - started);
            codes.push(close.code);
          }),
        );
        await revokers[home]!.result({ type: 'auth/revoke', token: tokens['refresh_token'] });
        await Promise.all(closed);
      }
      console.log(`      revocation -> close on the cluster: p50 ${percentile(delays, 50).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms`);
      expect(new Set(codes)).to.deep.equal(new Set([4001]));
      expect(Math.max(...delays)).to.be.below(PROMISED_CLOSE_MS);
    });
  });
});
