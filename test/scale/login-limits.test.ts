/**
 * Brute-force limits as an attacker meets them: three real instances on one real Redis (and haproxy with the PROXY protocol in
 * front), clients connecting from many loopback addresses. Every limit is tried from the side that should not get past it.
 */
import { expect } from 'chai';
import { createClient } from 'redis';
import { BEHIND_HAPROXY, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { eventually, startInstances, type Instances } from '../helpers/instances.js';
import { RawClient } from '../helpers/raw-client.js';
import { findFreePort } from '../helpers/redis-server.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { EXAMPLE_CONFIG, runFlowgate } from '../helpers/server-process.js';

const CLIENT_ID = 'https://dashboard.example/';
const HANDLER = ['insecure_example', null];
const USERS = [
  { username: 'alice', password: 'wonderland', name: 'Alice Liddell' },
  { username: 'bob', password: 'builder', name: 'Bob' },
];
const ALICE = { username: 'alice', password: 'wonderland' };
const ALICE_WRONG = { username: 'alice', password: 'guess' };
const BOB = { username: 'bob', password: 'builder' };

const LIMITS_CONFIG = {
  ...EXAMPLE_CONFIG,
  auth_providers: [{ type: 'insecure_example', users: USERS }],
  // The attacks below open many sockets from one address; the socket caps are tested in connection-limits.test.ts.
  websocket: { max_flow_starts_per_minute: 0, max_unauthenticated_sockets_per_address: 0 },
};

type Reply = Record<string, any>;

/** One login attempt on its own socket from `from`: init (with the device token, if any), then one step. The step's reply. */
async function attempt(url: string, from: string, input: Record<string, string>, deviceToken?: string): Promise<Reply> {
  const { client } = await RawClient.open(url, { localAddress: from });
  try {
    const init: Reply = await client.command({
      type: 'login_flow/init',
      handler: HANDLER,
      client_id: CLIENT_ID,
      ...(deviceToken === undefined ? {} : { device_token: deviceToken }),
    });
    if (init['success'] !== true) return init;
    return await client.command({ type: 'login_flow/step', flow_id: init['result'].flow_id, client_id: CLIENT_ID, user_input: input });
  } finally {
    client.close();
  }
}

/** A full login from `from`; the token response (with its device token). */
async function login(url: string, from: string, input: Record<string, string>, deviceToken?: string): Promise<Reply> {
  const reply = await attempt(url, from, input, deviceToken);
  expect(reply['result']?.type, JSON.stringify(reply)).to.equal('create_entry');
  const { client } = await RawClient.open(url, { localAddress: from });
  try {
    return await client.result({ type: 'auth/token', grant_type: 'authorization_code', code: reply['result'].result, client_id: CLIENT_ID });
  } finally {
    client.close();
  }
}

const failedAuth = (reply: Reply): boolean => reply['result']?.errors?.base === 'invalid_auth';
const rateLimited = (reply: Reply): boolean => reply['error']?.code === 'rate_limited';
const created = (reply: Reply): boolean => reply['result']?.type === 'create_entry';

describe('Login limits across instances', function () {
  this.timeout(120_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  const url = (n: number): string => instances!.at(n % 3).url;

  before(async function () {
    instances = await startInstances(3, redis().url, { config: LIMITS_CONFIG });
  });
  after(async function () {
    await instances?.stop();
  });
  beforeEach(async function () {
    // Every test starts with no counters: the limits are the subject, so none may leak from one test into the next.
    const client = createClient({ url: redis().url });
    await client.connect();
    // Counters and ban markers under their own `{d:...}` tags, the ban list under `{bans}` (docs/operations.md, "Redis keys").
    for (const pattern of ['flowgate:default:{d:*', 'flowgate:default:{bans}:*']) {
      for (const key of await client.keys(pattern)) await client.del(key);
    }
    await client.close();
  });

  it('refuses the 11th failure from one address on whichever instance receives it, saying when to retry', async function () {
    for (let n = 0; n < 10; n++) expect(failedAuth(await attempt(url(n), '127.0.0.2', ALICE_WRONG)), `attempt ${n + 1}`).to.equal(true);
    for (let n = 0; n < 3; n++) {
      const refused = await attempt(url(n), '127.0.0.2', ALICE);
      expect(refused['error'], `instance ${n}`).to.include({ code: 'rate_limited' });
      expect(refused['error'].retry_after).to.be.within(500, 600);
      expect(refused['error'].message).to.match(/try again in 10 minutes/);
    }
    // login_flow/init itself is refused from that address; another address is not affected.
    const { client } = await RawClient.open(url(1), { localAddress: '127.0.0.2' });
    const init: Reply = await client.command({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    client.close();
    expect(init['error']).to.include({ code: 'rate_limited' });
    expect(created(await attempt(url(2), '127.0.0.3', ALICE))).to.equal(true);
  });

  it('counts each failure of one flow once, and refuses the 11th, while its steps move between instances', async function () {
    // An instance starts a step from the version it knows without a read; when another instance moved the flow on, that run is
    // undone (its reservation given back) and the step runs again on the stored flow. No failure may count twice, or none.
    const from = '127.0.0.4';
    const started = await RawClient.open(url(0), { localAddress: from });
    const init: Reply = await started.client.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    started.client.close();
    const stepOn = async (n: number, input: Record<string, string>): Promise<Reply> => {
      const { client } = await RawClient.open(url(n), { localAddress: from });
      try {
        return await client.command({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: input });
      } finally {
        client.close();
      }
    };
    const turns = [0, 0, 1, 0, 0, 2, 0, 1, 1, 0];
    for (const [n, instance] of turns.entries()) expect(failedAuth(await stepOn(instance, ALICE_WRONG)), `failure ${n + 1} on instance ${instance}`).to.equal(true);
    expect(rateLimited(await stepOn(0, ALICE)), 'the right password after 10 failures').to.equal(true);
  });

  it('locks an account attacked from 30 addresses for untrusted clients, while its owner with a device token logs in', async function () {
    const own = await login(url(0), '127.0.0.50', ALICE);
    expect(own['device_token']).to.be.a('string');
    const replies = [];
    for (let n = 1; n <= 30; n++) replies.push(await attempt(url(n), `127.0.1.${n}`, ALICE_WRONG));
    expect(replies.filter(failedAuth)).to.have.length(20);
    expect(replies.slice(20).every(rateLimited)).to.equal(true);
    // The right password from a client without a device token is refused too: the lockout reveals nothing and admits no one.
    expect(rateLimited(await attempt(url(1), '127.0.0.60', ALICE))).to.equal(true);
    // Alice, on her own device, on every instance.
    for (let n = 0; n < 3; n++) expect(created(await attempt(url(n), '127.0.0.50', ALICE, own['device_token'])), `instance ${n}`).to.equal(true);
    // Her device token does not help anyone else's account, nor does a forged one help hers.
    expect(rateLimited(await attempt(url(2), '127.0.0.61', ALICE, `${own['device_token']}x`))).to.equal(true);
  });

  it('still lets another user log in from an attacking address that is not over its limit', async function () {
    for (let n = 1; n <= 25; n++) await attempt(url(n), `127.0.2.${n}`, ALICE_WRONG);
    expect(rateLimited(await attempt(url(0), '127.0.2.30', ALICE))).to.equal(true);
    expect(created(await attempt(url(1), '127.0.2.1', BOB))).to.equal(true);
  });

  it("locks a trusted device after its own 5 failures, and only that device", async function () {
    const own = await login(url(0), '127.0.0.70', ALICE);
    for (let n = 0; n < 5; n++) expect(failedAuth(await attempt(url(n), '127.0.0.70', ALICE_WRONG, own['device_token']))).to.equal(true);
    expect(rateLimited(await attempt(url(1), '127.0.0.70', ALICE, own['device_token']))).to.equal(true);
    // The device's failures counted neither against its address nor against the account.
    expect(created(await attempt(url(2), '127.0.0.70', ALICE))).to.equal(true);
  });

  it('lets a success clear the address counter, but not the account counter of untrusted clients', async function () {
    for (let n = 0; n < 9; n++) await attempt(url(n), '127.0.0.80', { username: 'bob', password: 'nope' });
    expect(created(await attempt(url(0), '127.0.0.80', ALICE))).to.equal(true);
    // The address has its ten failures again...
    for (let n = 0; n < 10; n++) expect(failedAuth(await attempt(url(n), '127.0.0.80', { username: 'carol', password: 'x' }))).to.equal(true);
    // ...while bob's account kept its nine: eleven more from fresh addresses reach its limit of 20 at the 11th.
    const replies = [];
    for (let n = 0; n < 12; n++) replies.push(await attempt(url(n), `127.0.3.${n + 1}`, { username: 'bob', password: 'nope' }));
    expect(replies.filter(failedAuth)).to.have.length(11);
    expect(rateLimited(replies[11]!)).to.equal(true);
  });

  it('writes one audit line per failure, lockout, success and token exchange, naming instance and address, and no secret', async function () {
    for (let n = 0; n < 10; n++) await attempt(url(0), '127.0.0.100', ALICE_WRONG);
    await attempt(url(0), '127.0.0.100', ALICE_WRONG);
    const tokens = await login(url(0), '127.0.0.101', ALICE);
    const instance = instances!.at(0);
    const audit = (): Array<Record<string, unknown>> => instance.logs.filter((line) => typeof line['event'] === 'string');
    // Log lines come over the process's stdout: wait for the last one before reading them.
    await eventually(async () => audit().some((line) => line['event'] === 'token_exchanged' && line['address'] === '127.0.0.101'), 5_000, 'the audit lines');
    const fromAttacker = audit().filter((line) => line['address'] === '127.0.0.100');
    expect(fromAttacker.filter((line) => line['event'] === 'login_failed')).to.have.length(10);
    expect(fromAttacker.find((line) => line['event'] === 'login_failed')).to.deep.include({
      username: 'alice',
      provider: 'insecure_example',
      reason: 'invalid_auth',
      instance: instance.instanceId,
    });
    expect(fromAttacker.filter((line) => line['event'] === 'lockout').map((line) => line['kind'])).to.deep.equal(['address']);
    expect(fromAttacker.filter((line) => line['event'] === 'login_refused')).to.have.length(1);
    const exchanged = audit().find((line) => line['event'] === 'token_exchanged' && line['address'] === '127.0.0.101');
    expect(exchanged?.['user_id']).to.be.a('string');
    expect(audit().some((line) => line['event'] === 'login_succeeded' && line['address'] === '127.0.0.101')).to.equal(true);
    const everything = JSON.stringify(instance.logs);
    for (const secret of ['wonderland', 'guess', tokens['access_token'], tokens['refresh_token'], tokens['device_token']]) {
      expect(everything.includes(String(secret)), `the log holds ${String(secret).slice(0, 12)}`).to.equal(false);
    }
  });

  it('counts one failure, and issues one code, for 50 racing steps on one flow', async function () {
    /** 50 sockets from `from`, spread over the instances, send the same step of one flow at once. */
    const race = async (from: string, input: Record<string, string>): Promise<Reply[]> => {
      const sockets = await Promise.all(Array.from({ length: 50 }, (_, n) => RawClient.open(url(n), { localAddress: from })));
      try {
        const clients = sockets.map((s) => s.client);
        const init = await clients[0]!.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
        const step = { type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: input };
        return await Promise.all(clients.map((client) => client.command(step)));
      } finally {
        for (const { client } of sockets) client.close();
      }
    };
    // A step in flight counts against the limits before it is checked, so past the limit the rest are refused unchecked.
    const losersAnswer = (replies: Reply[]): string[] => [...new Set(replies.filter((r) => r['success'] !== true).map((r) => r['error'].code))];
    const wrong = await race('127.0.0.90', ALICE_WRONG);
    // Steps that loaded the flow after another one committed are attempts of their own: each answered failure is one.
    const answered = wrong.filter(failedAuth).length;
    expect(answered).to.be.within(1, 10);
    expect(['conflict', 'rate_limited']).to.include.members(losersAnswer(wrong));
    // Exactly the answered failures stayed counted for the address (the losers' reservations were given back).
    for (let n = answered; n < 10; n++) expect(failedAuth(await attempt(url(n), '127.0.0.90', ALICE_WRONG)), `attempt ${n + 1}`).to.equal(true);
    expect(rateLimited(await attempt(url(0), '127.0.0.90', ALICE_WRONG))).to.equal(true);

    const reader = createClient({ url: redis().url });
    await reader.connect();
    const codesBefore = new Set(await reader.keys('flowgate:default:code:*'));
    const right = await race('127.0.0.91', ALICE);
    const codesAfter = (await reader.keys('flowgate:default:code:*')).filter((key) => !codesBefore.has(key));
    await reader.close();
    expect(right.filter(created)).to.have.length(1);
    expect(['conflict', 'not_found', 'rate_limited']).to.include.members(losersAnswer(right));
    expect(codesAfter).to.have.length(1);
  });
});

describe('Login limits behind haproxy (PROXY protocol)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  let haproxy: RunningHaproxy | undefined;
  before(async function () {
    instances = await startInstances(2, redis().url, { config: { ...LIMITS_CONFIG, http: BEHIND_HAPROXY } });
    haproxy = await startHaproxy(await findFreePort(), instances.all.map((instance) => instance.port));
  });
  after(async function () {
    await haproxy?.stop();
    await instances?.stop();
  });

  it('limits each real client address, not the proxy', async function () {
    for (let n = 0; n < 10; n++) expect(failedAuth(await attempt(haproxy!.url, '127.0.0.2', ALICE_WRONG))).to.equal(true);
    expect(rateLimited(await attempt(haproxy!.url, '127.0.0.2', ALICE))).to.equal(true);
    expect(created(await attempt(haproxy!.url, '127.0.0.3', ALICE))).to.equal(true);
  });

  it('ignores a forged X-Forwarded-For: the attacker stays limited', async function () {
    for (let n = 0; n < 10; n++) await attempt(haproxy!.url, '127.0.0.4', { username: 'mallory', password: 'guess' });
    const { client } = await RawClient.open(haproxy!.url, { localAddress: '127.0.0.4', headers: { 'X-Forwarded-For': '203.0.113.9' } });
    const init = await client.command({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    client.close();
    expect(init['error']).to.include({ code: 'rate_limited' });
  });
});

describe('Open login flows per address', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  before(async function () {
    instances = await startInstances(2, redis().url, { config: { ...LIMITS_CONFIG, login_limits: { open_flows_per_address: 3 } } });
  });
  after(async function () {
    await instances?.stop();
  });

  it('refuses a flow past the limit on any instance, and frees a place when a flow ends', async function () {
    const a = await instances!.open(0);
    const b = await instances!.open(1);
    const flows = [];
    for (let n = 0; n < 3; n++) flows.push(await (n % 2 === 0 ? a : b).result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID }));
    const refused: Reply = await b.command({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    expect(refused['error']).to.include({ code: 'rate_limited' });
    expect(refused['error'].message).to.match(/unfinished login flows/);
    await a.result({ type: 'login_flow/abort', flow_id: flows[0]!['flow_id'], client_id: CLIENT_ID });
    const finished = await b.result({ type: 'login_flow/step', flow_id: flows[1]!['flow_id'], client_id: CLIENT_ID, user_input: ALICE });
    expect(finished['type']).to.equal('create_entry');
    for (let n = 0; n < 2; n++) expect((await a.command({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID }))['success']).to.equal(true);
    expect((await a.command({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID }))['error']).to.include({ code: 'rate_limited' });
  });
});

describe('Bans (http.ip_ban_enabled)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  before(async function () {
    instances = await startInstances(2, redis().url, {
      config: { ...LIMITS_CONFIG, http: { ip_ban_enabled: true, login_attempts_threshold: 3 } },
    });
  });
  after(async function () {
    await instances?.stop();
  });

  it('bans an address at the threshold on every instance until `flowgate ban remove` lifts it', async function () {
    for (let n = 0; n < 3; n++) expect(failedAuth(await attempt(instances!.at(n % 2).url, '127.0.0.5', ALICE_WRONG))).to.equal(true);
    for (const instance of instances!.all) {
      const refusal = await RawClient.open(instance.url, { localAddress: '127.0.0.5' }).then(
        () => null,
        (error: Error) => error.message,
      );
      expect(refusal).to.match(/403/);
    }
    expect(created(await attempt(instances!.at(1).url, '127.0.0.6', ALICE))).to.equal(true);
    const listed = await runFlowgate(['ban', 'list', '--store', redis().url]);
    expect(listed.stdout).to.match(/^ADDRESS\s+BANNED AT\n127\.0\.0\.5\s+\d{4}-/);
    const lifted = await runFlowgate(['ban', 'remove', '127.0.0.5', '--store', redis().url]);
    expect(lifted).to.include({ code: 0, stdout: 'Lifted the ban of 127.0.0.5.\n' });
    expect(created(await attempt(instances!.at(0).url, '127.0.0.5', ALICE))).to.equal(true);
  });
});
