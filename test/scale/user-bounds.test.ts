/**
 * What one user (a session's holder, or someone who holds the password) can make the servers hold or send, attacked on two
 * real instances sharing one real Redis: open MFA setup flows, notify setup messages, login codes (counted at a real webhook
 * receiver), authenticated sockets per instance. Each test has a user of its own, so no count leaks from one into another.
 */
import { expect } from 'chai';
import { startInstances, type Instances } from '../helpers/instances.js';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/mail-and-webhook.js';
import { exampleUsers, signedInSocket, type ExampleUser } from '../helpers/mfa.js';
import { RawClient } from '../helpers/raw-client.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

type Reply = Record<string, any>;
const HANDLER = ['insecure_example', null];
const METRICS_TOKEN = 'user-bounds-scrape-7d2f';
/** The caps under attack (server/src/mfa/user-caps.ts): 5 open setups, 5 setup messages an hour, 5 login codes per 15 minutes. */
const CAP = 5;
/** Kept small so that the socket test opens a handful of sockets, not a hundred. */
const MAX_SOCKETS_PER_USER = 3;

const USERS = exampleUsers('ann', 'ben', 'cat', 'dan', 'eve');
const user = (name: string): ExampleUser => USERS.find((u) => u.username === name)!;

const setupStart = async (socket: RawClient, moduleId: string): Promise<Reply> => socket.command({ type: 'auth/setup_mfa', mfa_module_id: moduleId });
const setupStep = async (socket: RawClient, flowId: unknown, input: Record<string, unknown>): Promise<Reply> =>
  socket.command({ type: 'auth/setup_mfa', flow_id: flowId, user_input: input });

/** The sum over instances of a counter sample in their `/metrics`. */
async function counted(instances: Instances, name: string, labels: Record<string, string>): Promise<number> {
  let total = 0;
  for (const instance of instances.all) {
    const text = await (await fetch(`${instance.httpUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      if (wanted.every((pair) => line.includes(pair))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

describe('Per-user bounds, across two instances on one Redis', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances;
  let webhook: WebhookReceiver;
  const url = (n: number): string => instances.at(n % 2).url;
  const open: RawClient[] = [];
  const signedIn = async (n: number, name: string): Promise<RawClient> => {
    const socket = await signedInSocket(url(n), user(name));
    open.push(socket);
    return socket;
  };
  const callsTo = (target: string) => webhook.calls.filter((call) => call.body?.target === target);

  before(async function () {
    webhook = await startWebhookReceiver();
    instances = await startInstances(2, redis().url, {
      config: {
        auth_providers: [{ type: 'insecure_example', users: USERS }],
        mfa_modules: [{ type: 'notify', webhook: { url: webhook.url } }, { type: 'recovery' }],
        websocket: { max_sockets_per_user: MAX_SOCKETS_PER_USER, max_flow_starts_per_minute: 0 },
        metrics: { token: METRICS_TOKEN },
      },
    });
  });
  afterEach(function () {
    for (const socket of open.splice(0)) socket.close();
  });
  after(async function () {
    await instances?.stop();
    await webhook?.stop();
  });

  describe('auth/setup_mfa', function () {
    it('answers rate_limited to a 6th open setup flow started over two instances, and admits one again once a flow ended', async function () {
      const sockets = [await signedIn(0, 'ann'), await signedIn(1, 'ann')];
      const flows: unknown[] = [];
      for (let i = 0; i < CAP; i += 1) {
        const started: Reply = await setupStart(sockets[i % 2]!, 'recovery');
        expect(started['success'], JSON.stringify(started)).to.equal(true);
        flows.push(started['result']['flow_id']);
      }
      for (const socket of sockets) {
        const refused: Reply = await setupStart(socket, 'recovery');
        expect(refused['success']).to.equal(false);
        expect(refused['error']['code']).to.equal('rate_limited');
        expect(refused['error']['message']).to.match(/already has 5 MFA set-ups in progress/);
        // The oldest flow expires within the flow TTL (600 s): the wait says when a place frees.
        expect(refused['error']['retry_after']).to.be.within(1, 600);
      }
      // Finishing one (on the other instance) frees its place at once.
      const done: Reply = await setupStep(sockets[1]!, flows[0], {});
      expect(done['result']['type']).to.equal('create_entry');
      expect((await setupStart(sockets[0]!, 'notify'))['success']).to.equal(true);
      expect((await setupStart(sockets[1]!, 'notify'))['error']['code']).to.equal('rate_limited');
    });

    it('refuses to send a 6th notify setup message within the hour, over two instances', async function () {
      const sockets = [await signedIn(0, 'ben'), await signedIn(1, 'ben')];
      const target = 'phone-of-someone-else';
      const flows: unknown[] = [];
      for (let i = 0; i < CAP; i += 1) {
        const started: Reply = await setupStart(sockets[i % 2]!, 'notify');
        const sent: Reply = await setupStep(sockets[(i + 1) % 2]!, started['result']['flow_id'], { target });
        expect(sent['result'], JSON.stringify(sent)).to.include({ type: 'form', step_id: 'setup' });
        flows.push(started['result']['flow_id']);
      }
      expect(callsTo(target)).to.have.length(CAP);
      // A place among the open flows is made by finishing one: the message cap, not the open-flow cap, is what refuses next.
      const done: Reply = await setupStep(sockets[0]!, flows[0], { code: callsTo(target)[0]!.body.code });
      expect(done['result']['type']).to.equal('create_entry');
      const sixth: Reply = await setupStart(sockets[1]!, 'notify');
      const refused: Reply = await setupStep(sockets[0]!, sixth['result']['flow_id'], { target });
      expect(refused['success']).to.equal(false);
      expect(refused['error']['code']).to.equal('rate_limited');
      expect(refused['error']['message']).to.match(/5 set-up messages were sent for this account in the last hour/);
      expect(refused['error']['retry_after']).to.be.within(3500, 3600);
      expect(callsTo(target)).to.have.length(CAP);
      expect(await counted(instances, 'flowgate_mfa_codes_total', { purpose: 'setup', result: 'refused' })).to.equal(1);
    });
  });

  describe('login codes', function () {
    it('sends at most 5 codes to 30 logins by someone who holds the password, over two instances; the others answer rate_limited', async function () {
      const target = 'phone-of-cat';
      // The user sets the module up (one setup message), then someone who has the password logs in over and over.
      const owner = await signedIn(0, 'cat');
      const started: Reply = await setupStart(owner, 'notify');
      await setupStep(owner, started['result']['flow_id'], { target });
      const set: Reply = await setupStep(owner, started['result']['flow_id'], { code: callsTo(target)[0]!.body.code });
      expect(set['result']['type']).to.equal('create_entry');
      const before = callsTo(target).length;

      const attackers = [(await RawClient.open(url(0))).client, (await RawClient.open(url(1))).client];
      open.push(...attackers);
      const answers: Reply[] = [];
      for (let i = 0; i < 30; i += 1) {
        const socket = attackers[i % 2]!;
        const form: Reply = await socket.result({ type: 'login_flow/init', handler: HANDLER, client_id: TEST_CLIENT_ID });
        answers.push(
          await socket.command({
            type: 'login_flow/step',
            flow_id: form['flow_id'],
            client_id: TEST_CLIENT_ID,
            user_input: { username: 'cat', password: user('cat').password },
          }),
        );
      }
      const coded = answers.filter((a) => a['success'] === true && a['result']['step_id'] === 'mfa');
      const refused = answers.filter((a) => a['success'] === false && a['error']['code'] === 'rate_limited');
      expect(coded).to.have.length(CAP);
      expect(refused).to.have.length(30 - CAP);
      expect(refused[0]!['error']['message']).to.match(/5 login codes were sent for this account in the last 15 minutes/);
      expect(refused[0]!['error']['retry_after']).to.be.within(800, 900);
      expect(callsTo(target).length - before).to.equal(CAP);
      expect(await counted(instances, 'flowgate_mfa_codes_total', { purpose: 'login', result: 'sent' })).to.equal(CAP);
      expect(await counted(instances, 'flowgate_mfa_codes_total', { purpose: 'login', result: 'refused' })).to.equal(30 - CAP);
    });
  });

  describe('websocket.max_sockets_per_user', function () {
    it('answers auth_invalid to one socket past the bound on an instance, while another instance and a freed place still admit', async function () {
      const { access_token: token } = await tokensOf(url(0), user('dan'));
      const mine: RawClient[] = [];
      for (let i = 0; i < MAX_SOCKETS_PER_USER; i += 1) mine.push(await authenticated(url(0), token));
      open.push(...mine);

      const { client: extra } = await RawClient.open(url(0));
      open.push(extra);
      extra.send({ type: 'auth', access_token: token });
      const refusal = (await extra.next()) as Reply;
      expect(refusal['type']).to.equal('auth_invalid');
      expect(refusal['message']).to.equal(
        `This user already has ${MAX_SOCKETS_PER_USER} connections open on this server instance, the most websocket.max_sockets_per_user allows; close one, then connect again`,
      );
      expect((await extra.closed).code).to.equal(1000);

      // The bound is per instance: the other one takes this user's socket.
      open.push(await authenticated(url(1), token));
      // And a socket that closes gives its place back.
      mine[0]!.close();
      await mine[0]!.closed;
      open.push(await retried(() => authenticated(url(0), token)));
    });
  });
});

describe('Open MFA setup flows that expire', function () {
  this.timeout(30_000);
  let server: ServerProcess;
  before(async function () {
    server = await startServerProcess({
      config: {
        auth_providers: [{ type: 'insecure_example', users: USERS }],
        mfa_modules: [{ type: 'recovery' }],
        // Setup flows live as long as login flows: short, so their expiry is waited for in seconds.
        login_flow: { ttl_seconds: 2 },
      },
    });
  });
  after(async function () {
    await server?.stop();
  });

  it('give their places back when they expire: the count does not outlive the flows', async function () {
    const socket = await signedInSocket(server.url, user('eve'));
    try {
      for (let i = 0; i < CAP; i += 1) expect((await setupStart(socket, 'recovery'))['success']).to.equal(true);
      const refused: Reply = await setupStart(socket, 'recovery');
      expect(refused['error']['code']).to.equal('rate_limited');
      expect(refused['error']['retry_after']).to.be.within(1, 2);
      await new Promise((resolve) => setTimeout(resolve, refused['error']['retry_after'] * 1000 + 200));
      expect((await setupStart(socket, 'recovery'))['success']).to.equal(true);
    } finally {
      socket.close();
    }
  });
});

async function tokensOf(url: string, who: ExampleUser): Promise<Reply> {
  const { client } = await RawClient.open(url);
  try {
    const form: Reply = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: TEST_CLIENT_ID });
    const done: Reply = await client.result({
      type: 'login_flow/step',
      flow_id: form['flow_id'],
      client_id: TEST_CLIENT_ID,
      user_input: { username: who.username, password: who.password },
    });
    return await client.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: TEST_CLIENT_ID });
  } finally {
    client.close();
  }
}

/** A socket authenticated with `token`; throws with the server's answer otherwise. */
async function authenticated(url: string, token: unknown): Promise<RawClient> {
  const { client } = await RawClient.open(url);
  client.send({ type: 'auth', access_token: token });
  const reply = (await client.next()) as Reply;
  if (reply['type'] !== 'auth_ok') {
    client.close();
    throw new Error(`expected auth_ok, got ${JSON.stringify(reply)}`);
  }
  return client;
}

/** The server learns of a close a moment after the client: `attempt` is tried again for a second. */
async function retried<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 1000;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
