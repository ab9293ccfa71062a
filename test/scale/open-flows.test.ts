/**
 * The bound on open login flows, on two instances sharing one Redis: a device token's holder has an allowance of its own when
 * its address's flows are all taken (by a page of another site, say), and a refusal's retry_after is when a place really frees.
 */
import { expect } from 'chai';
import { postFrom } from '../helpers/http-from.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { RawClient } from '../helpers/raw-client.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { EXAMPLE_CONFIG } from '../helpers/server-process.js';

const CLIENT_ID = 'https://dashboard.example/';
const HANDLER = ['insecure_example', null];
const ALICE = { username: 'alice', password: 'wonderland' };
/** Open flows per address here: small, so that filling them takes two starts. */
const OPEN_FLOWS = 2;
/** The devices trusted for one account hold at most this many (DEFAULT_LOGIN_LIMITS.openFlowsPerTrustedAccount). */
const TRUSTED_ACCOUNT_FLOWS = 10;
/** Long enough that the first flow expires measurably sooner than the second, on a loaded machine too. */
const BETWEEN_FLOWS_MS = 2_000;

type Reply = Record<string, any>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Whole seconds until `expiresAt` (an ISO time), rounded up as retry_after is. */
const secondsUntil = (expiresAt: string): number => Math.ceil((Date.parse(expiresAt) - Date.now()) / 1000);

describe('Open login flows on two instances', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  before(async function () {
    instances = await startInstances(2, redis().url, {
      config: {
        ...EXAMPLE_CONFIG,
        websocket: { max_flow_starts_per_minute: 0, max_unauthenticated_sockets_per_address: 0 },
        login_limits: { open_flows_per_address: OPEN_FLOWS },
      },
    });
  });
  after(async function () {
    await instances?.stop();
  });

  const socketFrom = async (index: number, from: string): Promise<RawClient> => (await RawClient.open(instances!.at(index).url, { localAddress: from })).client;
  const init = (client: RawClient, deviceToken?: string): Promise<Reply> =>
    client.command({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID, ...(deviceToken === undefined ? {} : { device_token: deviceToken }) });

  /** A whole login of alice from `from`: the device token the code exchange hands out. */
  async function deviceTokenFor(from: string): Promise<string> {
    const client = await socketFrom(0, from);
    try {
      const form = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
      const done = await client.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: CLIENT_ID, user_input: ALICE });
      const tokens = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: CLIENT_ID });
      return String(tokens['device_token']);
    } finally {
      client.close();
    }
  }

  it("gives a device token's holder flows of its own while its address holds all of the address's", async function () {
    const from = '127.0.0.41';
    const deviceToken = await deviceTokenFor(from);
    const a = await socketFrom(0, from);
    const b = await socketFrom(1, from);
    for (let n = 0; n < OPEN_FLOWS; n++) expect(await init(n % 2 === 0 ? a : b), `flow ${n + 1}`).to.include({ success: true });
    expect((await init(a))['error']).to.include({ code: 'rate_limited' });
    // The owner, on the device that logged in before, still gets a form, on either instance and over HTTP, and logs in.
    const form: Reply = await init(b, deviceToken);
    expect(form['result']).to.include({ type: 'form' });
    const done = await b.result({ type: 'login_flow/step', flow_id: form['result'].flow_id, client_id: CLIENT_ID, user_input: ALICE });
    expect(done['type']).to.equal('create_entry');
    const start = JSON.stringify({ client_id: CLIENT_ID, handler: HANDLER, redirect_uri: `${CLIENT_ID}cb`, device_token: deviceToken });
    const overHttp = await postFrom(`${instances!.at(1).httpUrl}/auth/login_flow`, from, { 'content-type': 'application/json' }, start);
    expect(overHttp.status).to.equal(200);
    // Its allowance is bounded too (per account, however many device tokens it holds): one HTTP flow is open, nine more fit.
    for (let n = 1; n < TRUSTED_ACCOUNT_FLOWS; n++) expect(await init(n % 2 === 0 ? a : b, deviceToken), `trusted flow ${n + 1}`).to.include({ success: true });
    const refused: Reply = await init(a, deviceToken);
    expect(refused['error']).to.include({ code: 'rate_limited' });
    expect(refused['error'].message).to.match(/unfinished login flows on the devices signed in to this account \(at most 10\)/);
    a.close();
    b.close();
  });

  it('says in retry_after when the oldest open flow expires, and frees its place when it ends', async function () {
    const from = '127.0.0.42';
    const a = await socketFrom(0, from);
    const b = await socketFrom(1, from);
    const oldest: Reply = await a.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    await sleep(BETWEEN_FLOWS_MS);
    await b.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    const refused: Reply = await init(b);
    const expected = secondsUntil(oldest['expires_at']);
    expect(refused['error']).to.include({ code: 'rate_limited' });
    expect(refused['error'].retry_after).to.be.within(expected - 1, expected + 1);
    expect(refused['error'].message).to.match(/try again in 10 minutes/);
    // Over HTTP on the other instance: the same wait, in the body and in Retry-After.
    const start = JSON.stringify({ client_id: CLIENT_ID, handler: HANDLER, redirect_uri: `${CLIENT_ID}cb` });
    const overHttp = await postFrom(`${instances!.at(0).httpUrl}/auth/login_flow`, from, { 'content-type': 'application/json' }, start);
    expect(overHttp.status).to.equal(429);
    expect(overHttp.body['retry_after']).to.be.within(expected - 1, expected + 1);
    expect(overHttp.headers['retry-after']).to.equal(String(overHttp.body['retry_after']));
    await a.result({ type: 'login_flow/abort', flow_id: oldest['flow_id'], client_id: CLIENT_ID });
    expect(await init(b)).to.include({ success: true });
    a.close();
    b.close();
  });
});
