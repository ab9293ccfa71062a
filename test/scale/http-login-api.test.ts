/**
 * The HTTP login API on three real instances sharing one real Redis: a flow moves between HTTP and sockets and between
 * instances, the address binding and the brute-force limits hold wherever a request lands, and HTTP revocation reaches sockets.
 */
import { expect } from 'chai';
import { createClient } from 'redis';
import { CloseCode } from '@flowgate/shared';
import { eventually, startInstances, type Instances } from '../helpers/instances.js';
import { authenticatedSocket } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { EXAMPLE_CONFIG } from '../helpers/server-process.js';

const CLIENT_ID = 'https://dashboard.example/';
const REDIRECT_URI = 'https://dashboard.example/auth_callback';
const HANDLER = ['insecure_example', null];
const RIGHT = { username: 'alice', password: 'wonderland' };
const WRONG = { username: 'alice', password: 'nope' };

/** The instances trust 127.0.0.1 as a proxy, so each test speaks from addresses of its own through X-Forwarded-For. */
const HTTP_API_CONFIG = {
  ...EXAMPLE_CONFIG,
  http: { use_x_forwarded_for: true, trusted_proxies: ['127.0.0.1'] },
  // The per-socket and per-address socket caps are not the subject here (connection-limits.test.ts); the login limits are.
  websocket: { max_flow_starts_per_minute: 0, max_unauthenticated_sockets_per_address: 0 },
};

let nextAddress = 1;
const freshAddress = (): string => `203.0.113.${nextAddress++}`;

type Reply = Record<string, any>;

describe('HTTP login API across instances', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  const http = (n: number, path: string): string => `${instances!.at(n).httpUrl}${path}`;
  const sockets: RawClient[] = [];
  const socketOn = async (n: number, address: string): Promise<RawClient> => {
    const { client } = await RawClient.open(instances!.at(n).url, { headers: { 'X-Forwarded-For': address } });
    sockets.push(client);
    return client;
  };
  const postJson = async (n: number, path: string, body: unknown, address: string): Promise<{ status: number; body: Reply }> => {
    const response = await fetch(http(n, path), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Reply };
  };
  const postForm = async (n: number, path: string, params: Record<string, string>, address: string): Promise<{ status: number; body: Reply | null }> => {
    const response = await fetch(http(n, path), { method: 'POST', headers: { 'x-forwarded-for': address }, body: new URLSearchParams(params) });
    const text = await response.text();
    return { status: response.status, body: text === '' ? null : (JSON.parse(text) as Reply) };
  };
  const startHttp = async (n: number, address: string): Promise<string> => {
    const { status, body } = await postJson(n, '/auth/login_flow', { client_id: CLIENT_ID, handler: HANDLER, redirect_uri: REDIRECT_URI }, address);
    expect(status).to.equal(200);
    return String(body['flow_id']);
  };
  const stepHttp = (n: number, flowId: string, input: Record<string, string>, address: string) =>
    postJson(n, `/auth/login_flow/${flowId}`, { client_id: CLIENT_ID, ...input }, address);

  before(async function () {
    instances = await startInstances(3, redis().url, { config: HTTP_API_CONFIG });
  });
  afterEach(() => sockets.splice(0).forEach((socket) => socket.close()));
  after(async function () {
    await instances?.stop();
  });

  it('starts a flow over HTTP on A, steps it over a socket on B and exchanges the code over HTTP on C', async function () {
    const address = freshAddress();
    const flowId = await startHttp(0, address);
    const onB = await socketOn(1, address);
    const done = await onB.result({ type: 'login_flow/step', flow_id: flowId, client_id: CLIENT_ID, user_input: RIGHT });
    expect(done['type']).to.equal('create_entry');
    const { status, body } = await postForm(2, '/auth/token', { grant_type: 'authorization_code', client_id: CLIENT_ID, code: String(done['result']) }, address);
    expect(status).to.equal(200);
    sockets.push(await authenticatedSocket(instances!.at(0).url, String(body!['access_token'])));
  });

  it('starts a flow over a socket on A, steps it over HTTP on B and exchanges the code over a socket on C', async function () {
    const address = freshAddress();
    const onA = await socketOn(0, address);
    const form = await onA.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID, redirect_uri: REDIRECT_URI });
    const { status, body } = await stepHttp(1, String(form['flow_id']), RIGHT, address);
    expect([status, body['type']]).to.deep.equal([200, 'create_entry']);
    const onC = await socketOn(2, address);
    const tokens = await onC.result({ type: 'auth/token', grant_type: 'authorization_code', code: body['result'], client_id: CLIENT_ID });
    expect(tokens).to.have.property('access_token');
  });

  it('binds HTTP steps to the starting address on every instance, while a socket from elsewhere may still step', async function () {
    const address = freshAddress();
    const flowId = await startHttp(0, address);
    for (const n of [0, 1, 2]) {
      expect(await stepHttp(n, flowId, RIGHT, freshAddress()), `instance ${n}`).to.deep.equal({ status: 400, body: { message: 'IP address changed' } });
    }
    // Home Assistant's rule binds its HTTP steps only; the socket's flows are bound to their client id.
    const elsewhere = await socketOn(1, freshAddress());
    expect((await elsewhere.result({ type: 'login_flow/step', flow_id: flowId, client_id: CLIENT_ID, user_input: RIGHT }))['type']).to.equal('create_entry');
  });

  it('counts wrong passwords over HTTP on every instance against one limit, which then refuses sockets too', async function () {
    const address = freshAddress();
    const flowId = await startHttp(0, address);
    for (let i = 0; i < 10; i++) {
      const { status, body } = await stepHttp(i % 3, flowId, WRONG, address);
      expect([status, body['errors']], `attempt ${i + 1}`).to.deep.equal([200, { base: 'invalid_auth' }]);
    }
    const refused = await fetch(http(1, `/auth/login_flow/${flowId}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: JSON.stringify({ client_id: CLIENT_ID, ...RIGHT }),
    });
    expect(refused.status).to.equal(429);
    expect(Number(refused.headers.get('retry-after'))).to.be.greaterThan(0);
    // The same address over a socket on the third instance meets the same counter.
    const onC = await socketOn(2, address);
    const form = await onC.command({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    const reply = form['success'] === true
      ? await onC.command({ type: 'login_flow/step', flow_id: (form['result'] as Reply)['flow_id'], client_id: CLIENT_ID, user_input: RIGHT })
      : form;
    expect((reply['error'] as Reply | undefined)?.['code']).to.equal('rate_limited');
  });

  it('revokes over HTTP on A and closes the socket authenticated on B with 4001', async function () {
    const address = freshAddress();
    const flowId = await startHttp(0, address);
    const { body: done } = await stepHttp(0, flowId, RIGHT, address);
    const { body: tokens } = await postForm(0, '/auth/token', { grant_type: 'authorization_code', client_id: CLIENT_ID, code: String(done['result']) }, address);
    const onB = await authenticatedSocket(instances!.at(1).url, String(tokens!['access_token']));
    sockets.push(onB);
    expect((await postForm(0, '/auth/revoke', { token: String(tokens!['refresh_token']) }, address)).status).to.equal(200);
    expect((await onB.closed).code).to.equal(CloseCode.tokenRevoked);
  });

  it('reads the flow for every HTTP step, on the instance that wrote it as on the others', async function () {
    // A socket stays on its instance, which may start a step from the version it wrote (docs/operations.md, Scaling); an
    // HTTP request may land anywhere, so each reads the flow first instead of risking a refused compare-and-set.
    const address = freshAddress();
    const flowId = await startHttp(0, address);
    const monitor = createClient({ url: redis().url });
    await monitor.connect();
    const commands: string[] = [];
    await monitor.monitor((line) => commands.push(line));
    try {
      const readsOf = async (turns: number[]): Promise<number> => {
        commands.length = 0;
        for (const n of turns) {
          const { body } = await stepHttp(n, flowId, { username: 'hopper', password: 'nope' }, address);
          expect(body['errors'], `step on instance ${n}`).to.deep.equal({ base: 'invalid_auth' });
        }
        // MONITOR's lines arrive a moment after the replies; a ping through it marks the end of what the steps sent.
        await monitor.duplicate().connect().then(async (marker) => {
          await marker.ping('steps-done');
          await marker.quit();
        });
        await eventually(async () => commands.some((line) => line.includes('steps-done')), 5_000, 'the marker ping in MONITOR', 20);
        return commands.filter((line) => !line.includes('"lua"') && /"HMGET"/i.test(line) && line.includes(flowId)).length;
      };
      expect(await readsOf([0, 0, 0]), 'steps on the instance that started the flow').to.equal(3);
      expect(await readsOf([1, 2, 1]), 'steps on the instances in turn').to.equal(3);
    } finally {
      await monitor.disconnect();
    }
  });
});
