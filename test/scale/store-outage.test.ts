/** A real flowgate process on a real redis-server frozen by SIGSTOP: nothing hangs, readiness tells, SIGTERM still ends it. */
import { expect } from 'chai';
import { CloseCode } from '@flowgate/shared';
import { eventually } from '../helpers/instances.js';
import { loginTokens, type Tokens } from '../helpers/login.js';
import { timed, usePausableRedis } from '../helpers/paused-redis.js';
import { RawClient } from '../helpers/raw-client.js';
import { get, init } from '../helpers/scale.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/** Short deadlines keep the tests quick; every bound below adds a margin that a loaded 2-core machine cannot miss. */
const STORE_TIMEOUT_MS = 300;
const SHUTDOWN_TIMEOUT_SECONDS = 2;
const MARGIN_MS = 2_500;
/** The readiness probe runs every second and waits at most the store deadline. */
const READINESS_NOTICES_MS = 1_000 + STORE_TIMEOUT_MS + MARGIN_MS;

const config = (storeTimeoutMs = STORE_TIMEOUT_MS) => ({
  ...EXAMPLE_CONFIG,
  store_timeout_ms: storeTimeoutMs,
  shutdown_timeout_seconds: SHUTDOWN_TIMEOUT_SECONDS,
});

async function readyz(server: ServerProcess): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.httpUrl}/readyz`);
  return { status: response.status, body: await response.json() };
}

const unavailable = (reply: Record<string, unknown>) => (reply as any).error?.code;

describe('Store outage (Redis frozen by SIGSTOP)', function () {
  this.timeout(30_000);
  const redis = usePausableRedis();
  let server: ServerProcess | undefined;
  const sockets: RawClient[] = [];

  async function start(storeTimeoutMs?: number): Promise<ServerProcess> {
    server = await startServerProcess({ config: config(storeTimeoutMs), store: redis().url });
    return server;
  }
  async function open(url: string): Promise<RawClient> {
    const { client } = await RawClient.open(url);
    sockets.push(client);
    return client;
  }

  afterEach(async function () {
    redis().resume();
    for (const socket of sockets.splice(0)) socket.close();
    await server?.stop('SIGKILL');
    server = undefined;
  });

  describe('commands', function () {
    let tokens: Tokens;
    let flowId: unknown;
    let anonymous: RawClient;
    let authenticated: RawClient;

    beforeEach(async function () {
      const running = await start();
      anonymous = await open(running.url);
      tokens = await loginTokens(anonymous);
      flowId = (await init(anonymous))['flow_id'];
      authenticated = await open(running.url);
      authenticated.send({ type: 'auth', access_token: tokens.access_token });
      expect(await authenticated.next()).to.deep.include({ type: 'auth_ok' });
    });

    it('answers login_flow/get, login_flow/init and an authenticated command with unavailable within the deadline', async function () {
      redis().pause();
      const replies = [
        await timed(get(anonymous, flowId)),
        await timed(anonymous.command({ type: 'login_flow/init', handler: ['insecure_example', null], client_id: 'https://a.example/' })),
        await timed(authenticated.command({ type: 'auth/current_user' })),
      ];
      for (const reply of replies) {
        expect(reply.error).to.equal(undefined);
        expect(unavailable(reply.value!)).to.equal('unavailable');
        expect(reply.ms).to.be.below(STORE_TIMEOUT_MS + MARGIN_MS);
      }
      // The socket itself is fine: a command that needs no store still answers.
      expect(await anonymous.command({ type: 'ping' })).to.deep.include({ type: 'pong' });
    });

    it('closes a socket that sends auth with 1013 (try again later) within the deadline', async function () {
      const socket = await open(server!.url);
      redis().pause();
      socket.send({ type: 'auth', access_token: tokens.access_token });
      const closed = await timed(socket.closed);
      expect(closed.value?.code).to.equal(CloseCode.tryAgainLater);
      expect(closed.ms).to.be.below(STORE_TIMEOUT_MS + MARGIN_MS);
    });

    it('keeps /healthz at 200 while /readyz answers 503 with store_unavailable', async function () {
      expect(await readyz(server!)).to.deep.equal({ status: 200, body: { status: 'ok', reasons: [] } });
      redis().pause();
      await eventually(async () => (await readyz(server!)).status === 503, READINESS_NOTICES_MS, '/readyz to notice');
      const { body } = await readyz(server!);
      expect(body.reasons).to.include('store_unavailable');
      expect((await fetch(`${server!.httpUrl}/healthz`)).status).to.equal(200);
    });

    it('answers everything again, and /readyz is 200, once Redis continues', async function () {
      redis().pause();
      expect(unavailable(await get(anonymous, flowId))).to.equal('unavailable');
      await eventually(async () => (await readyz(server!)).status === 503, READINESS_NOTICES_MS, '/readyz to notice');
      redis().resume();
      await eventually(async () => (await get(anonymous, flowId))['success'] === true, 10_000, 'the flow to answer again');
      expect(await authenticated.command({ type: 'auth/current_user' })).to.deep.include({ success: true });
      const again = await open(server!.url);
      again.send({ type: 'auth', access_token: tokens.access_token });
      expect(await again.next()).to.deep.include({ type: 'auth_ok' });
      await eventually(async () => (await readyz(server!)).status === 200, READINESS_NOTICES_MS, '/readyz to recover');
    });

    it('ends within shutdown_timeout_seconds on SIGTERM while Redis is frozen', async function () {
      redis().pause();
      // A command in flight on the frozen store, and the revocation subscription, are what draining has to get past.
      anonymous.send({ id: 1_000, type: 'login_flow/get', flow_id: flowId, client_id: 'https://dashboard.example/' });
      const stopped = await timed(server!.stop('SIGTERM'));
      expect(stopped.value, 'a clean exit: the deadlines let the drain finish').to.equal(0);
      expect(stopped.ms).to.be.below(SHUTDOWN_TIMEOUT_SECONDS * 1000 + MARGIN_MS);
    });
  });

  describe('draining', function () {
    it('says draining on /readyz while a command waits for a frozen store, and exits 1 at shutdown_timeout_seconds', async function () {
      // A store deadline longer than the shutdown timeout: only the hard deadline can end this drain.
      const running = await start(10_000);
      const client = await open(running.url);
      const flowId = (await init(client))['flow_id'];
      redis().pause();
      client.send({ id: 1_000, type: 'login_flow/get', flow_id: flowId, client_id: 'https://dashboard.example/' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const startedAt = Date.now();
      running.child.kill('SIGTERM');
      await eventually(async () => (await readyz(running)).body.reasons?.includes('draining') === true, 1_500, 'draining');
      expect((await readyz(running)).status).to.equal(503);
      const code = await running.exited;
      expect(Date.now() - startedAt).to.be.below(SHUTDOWN_TIMEOUT_SECONDS * 1000 + MARGIN_MS);
      expect(code).to.equal(1);
      expect(running.logs.some((line) => String(line['msg']).includes('shutdown_timeout_seconds'))).to.equal(true);
    });
  });
});
