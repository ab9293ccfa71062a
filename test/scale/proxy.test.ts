/** Real client addresses: haproxy (send-proxy-v2) in front of two real instances on one Redis, and X-Forwarded-For rules. */
import { expect } from 'chai';
import type WebSocket from 'ws';
import { BEHIND_HAPROXY, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { eventually, startInstances, type Instances } from '../helpers/instances.js';
import { RawClient } from '../helpers/raw-client.js';
import { findFreePort } from '../helpers/redis-server.js';
import { SCALE_CONFIG, tokensOn, usePrivateRedis } from '../helpers/scale.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/** Linux routes all of 127.0.0.0/8 to loopback, so a client can connect "from" another address than 127.0.0.1 (haproxy's). */
const CLIENT = '127.0.0.2';
const FORGED = '198.51.100.7';

/**
 * Logs in on a socket opened with `options` (source address, headers) and answers the address the server stored as the
 * refresh token's last_used_ip, read back on another socket authenticated with the new access token.
 */
async function lastUsedIpOf(url: string, options: WebSocket.ClientOptions = {}): Promise<unknown> {
  const { client } = await RawClient.open(url, options);
  try {
    const tokens = await tokensOn(client);
    client.send({ type: 'auth', access_token: tokens['access_token'] });
    expect(await client.next()).to.deep.include({ type: 'auth_ok' });
    const listed = (await client.result({ type: 'auth/refresh_tokens' })) as unknown as Array<Record<string, unknown>>;
    const mine = listed.find((token) => token['is_current'] === true) ?? listed.at(-1);
    return mine?.['last_used_ip'];
  } finally {
    client.close();
  }
}

const opensFrom = (url: string, localAddress: string): Promise<boolean> =>
  RawClient.open(url, { localAddress }).then(
    ({ client }) => (client.close(), true),
    () => false,
  );

describe('Client addresses behind proxies', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();

  describe('haproxy with send-proxy-v2 in front of two instances', function () {
    let instances: Instances | undefined;
    let haproxy: RunningHaproxy | undefined;
    before(async function () {
      instances = await startInstances(2, redis().url, { config: { ...SCALE_CONFIG, http: BEHIND_HAPROXY } });
      haproxy = await startHaproxy(await findFreePort(), instances.all.map((instance) => instance.port));
    });
    after(async function () {
      await haproxy?.stop();
      await instances?.stop();
    });

    it('stores the real client address as last_used_ip and logs it, on whichever instance answers', async function () {
      for (let i = 0; i < 2; i++) expect(await lastUsedIpOf(haproxy!.url, { localAddress: CLIENT })).to.equal(CLIENT);
      // Round-robin: the two logins landed on both instances, and each logged the client's address, never haproxy's.
      for (const instance of instances!.all) {
        const opened = instance.logs.filter((line) => line['msg'] === 'connection opened');
        expect(opened.map((line) => line['remote']), instance.instanceId).to.include(CLIENT).and.not.include('127.0.0.1');
      }
    });

    it('never passes on an X-Forwarded-For the client forges through haproxy (it drops the header)', async function () {
      expect(await lastUsedIpOf(haproxy!.url, { localAddress: CLIENT, headers: { 'X-Forwarded-For': FORGED } })).to.equal(CLIENT);
    });

    it('drops a trusted peer that connects without a PROXY header, and serves an untrusted one as it is', async function () {
      const direct = instances!.at(0).url;
      expect(await opensFrom(direct, '127.0.0.1')).to.equal(false);
      expect(await lastUsedIpOf(direct, { localAddress: CLIENT })).to.equal(CLIENT);
    });
  });

  describe('use_x_forwarded_for with a trusted proxy at 127.0.0.1', function () {
    let instance: ServerProcess | undefined;
    before(async function () {
      instance = await startServerProcess({
        config: { ...SCALE_CONFIG, http: { use_x_forwarded_for: true, trusted_proxies: ['127.0.0.1'] } },
        store: redis().url,
      });
    });
    after(async function () {
      await instance?.stop();
    });

    it('believes the right-most untrusted entry from the trusted proxy', async function () {
      const headers = { 'X-Forwarded-For': `203.0.113.1, ${FORGED}` };
      expect(await lastUsedIpOf(instance!.url, { localAddress: '127.0.0.1', headers })).to.equal(FORGED);
    });

    it('refuses the header from any other peer with 400, and serves that peer without it', async function () {
      const refusal = await RawClient.open(instance!.url, { localAddress: CLIENT, headers: { 'X-Forwarded-For': FORGED } }).then(
        () => null,
        (error: Error) => error.message,
      );
      expect(refusal).to.match(/400/);
      expect(await lastUsedIpOf(instance!.url, { localAddress: CLIENT })).to.equal(CLIENT);
      await eventually(
        async () => instance!.logs.some((line) => line['msg'] === 'connection opened' && line['remote'] === CLIENT),
        2_000,
        'the connection log line',
      );
    });
  });
});
