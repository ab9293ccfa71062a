/** @flowgate/client's device tokens (OWASP's device cookie) and `rate_limited` as a typed error, against real servers. */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import {
  describeRateLimit,
  FlowgateClient,
  memoryDeviceTokenStore,
  RateLimitedError,
  type ClientOptions,
  type DeviceTokenStore,
  type WebSocketConstructor,
} from '@flowgate/client';
import { fileDeviceTokenStore } from '@flowgate/client/node';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { findFreePort } from '../helpers/redis-server.js';
import { EXAMPLE_CONFIG, runFlowgate } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';

const PASSWORD = 'hunter22hunter22';
/** Small limits, so a test reaches them in a few attempts; the address limit out of the way (every test is 127.0.0.1). */
const LIMITS = { account_failures: 3, device_failures: 2, address_failures: 1000 };
const USERS = ['bob', 'carol', 'dave', 'erin'];

type Frame = Record<string, unknown>;

/** The `ws` class, recording every frame the client sends (to see what login_flow/init carried). */
function recordingWebSocket(sent: Frame[]): WebSocketConstructor {
  return function RecordingWebSocket(url: string) {
    const socket = new WebSocket(url);
    const send = socket.send.bind(socket);
    socket.send = ((data: string) => {
      sent.push(JSON.parse(data) as Frame);
      send(data);
    }) as typeof socket.send;
    return socket;
  } as unknown as WebSocketConstructor;
}

/** Records what the client asks its store to keep, in front of a memory store. */
function recordingStore(saved: Array<[string, string]>): DeviceTokenStore {
  const inner = memoryDeviceTokenStore();
  return { get: (server) => inner.get(server), set: (server, token) => (saved.push([server, token]), inner.set(server, token)) };
}

/** One wrong password for `username` over a raw socket, as an attacker without the device token would send it. */
async function failOnce(url: string, username: string): Promise<void> {
  const { client } = await RawClient.open(url);
  try {
    const init = await client.command({ type: 'login_flow/init', handler: ['password', null], client_id: TEST_CLIENT_ID });
    const flowId = (init['result'] as Frame | undefined)?.['flow_id'];
    if (flowId === undefined) return;
    await client.command({ type: 'login_flow/step', flow_id: flowId, client_id: TEST_CLIENT_ID, user_input: { username, password: 'guess' } });
  } finally {
    client.close();
  }
}

describe('@flowgate/client device tokens and rate limits', function () {
  const clients: FlowgateClient[] = [];
  const make = (url: string, extra: Partial<ClientOptions> = {}): FlowgateClient => {
    const client = new FlowgateClient({ url, clientId: TEST_CLIENT_ID, WebSocket: recordingWebSocket([]), reconnect: false, ...extra });
    clients.push(client);
    return client;
  };
  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  /** A whole login with the password provider; `password` is answered every time the form is shown. */
  const logIn = (client: FlowgateClient, username: string, password = PASSWORD) =>
    client.login({ handler: 'password', answer: () => ({ username, password }) });

  // Every test here needs the server side of issue 9 (device_token in the auth/token reply, login_limits).
  describe('against a server with login limits', function () {
    const fixture = useServer(() => ({ config: { auth_providers: [{ type: 'password' }], login_limits: LIMITS } }));
    before(async function () {
      this.timeout(60_000);
      const config = join(fixture.server().dir, 'flowgate.yaml');
      for (const name of USERS) {
        const added = await runFlowgate(['user', 'add', name, '--name', name, '--password-stdin', '--config', config], {}, undefined, `${PASSWORD}\n`);
        expect(added.code, added.stderr).to.equal(0);
      }
    });

    it('keeps the device token of the code exchange under the server URL, and presents it with the next login_flow/init', async function () {
      const saved: Array<[string, string]> = [];
      const store = recordingStore(saved);
      const url = fixture.server().url;
      await logIn(make(url, { deviceTokens: store }), 'bob');
      expect(saved).to.have.length(1);
      const [[server, token] = ['', '']] = saved;
      expect(server).to.equal(url);
      expect(token).to.be.a('string').and.not.equal('');
      const sent: Frame[] = [];
      await logIn(make(url, { deviceTokens: store, WebSocket: recordingWebSocket(sent) }), 'bob');
      expect(sent.filter((f) => f['type'] === 'login_flow/init').map((f) => f['device_token'])).to.deep.equal([token]);
    });

    it('logs in with its device token while the account is locked for clients without one, who get RateLimitedError', async function () {
      const url = fixture.server().url;
      const store = memoryDeviceTokenStore();
      await logIn(make(url, { deviceTokens: store }), 'carol');
      for (let i = 0; i < LIMITS.account_failures; i++) await failOnce(url, 'carol');
      const refused = await logIn(make(url, { deviceTokens: false }), 'carol').catch((e: unknown) => e);
      expect(refused).to.be.instanceOf(RateLimitedError);
      expect((refused as RateLimitedError).retryAfterSeconds).to.be.a('number').and.above(0);
      expect(describeRateLimit(refused as RateLimitedError)).to.match(/^Too many failed attempts\. Try again in \d+ (minutes?|seconds?|hours?)/);
      const trusted = make(url, { deviceTokens: store });
      await logIn(trusted, 'carol');
      expect((await trusted.currentUser()).name).to.equal('carol');
    });

    it("locks only the device after its own failures: a client without the token still logs in", async function () {
      const url = fixture.server().url;
      const store = memoryDeviceTokenStore();
      await logIn(make(url, { deviceTokens: store }), 'dave');
      // The form comes back with invalid_auth until the device is locked; one attempt past the limit must be refused.
      const failing = await make(url, { deviceTokens: store })
        .login({
          handler: 'password',
          answer: (_form, { attempt }) => {
            if (attempt > LIMITS.device_failures + 1) throw new Error(`not refused after ${attempt - 1} failures`);
            return { username: 'dave', password: 'guess' };
          },
        })
        .catch((e: unknown) => e);
      expect(failing).to.be.instanceOf(RateLimitedError);
      expect(await logIn(make(url, { deviceTokens: store }), 'dave').catch((e: unknown) => e)).to.be.instanceOf(RateLimitedError);
      await logIn(make(url, { deviceTokens: false }), 'dave');
    });

    it("treats another user's device token as no token: the login succeeds and the newest token is kept", async function () {
      const url = fixture.server().url;
      const saved: Array<[string, string]> = [];
      const store = recordingStore(saved);
      await logIn(make(url, { deviceTokens: store }), 'bob');
      await logIn(make(url, { deviceTokens: store }), 'erin');
      expect(saved).to.have.length(2);
      expect(await store.get(url)).to.equal(saved[1]?.[1]);
    });
  });

  describe('against a server that limits flow starts per socket', function () {
    const fixture = useServer(() => ({ config: { ...EXAMPLE_CONFIG, websocket: { max_flow_starts_per_minute: 1 } } }));

    it('rejects a refused login_flow/init with RateLimitedError, which is still a CommandError rate_limited', async function () {
      const client = make(fixture.server().url);
      await client.initFlow(['insecure_example', null]);
      const error = await client.initFlow(['insecure_example', null]).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(RateLimitedError).and.include({ code: 'rate_limited', command: 'login_flow/init', kind: 'command' });
    });
  });

  describe('with a scripted server', function () {
    let fake: WebSocketServer | undefined;
    afterEach(() => fake?.close());

    /** A server that answers every command with `error` (the hello first). */
    async function refusingServer(error: Frame): Promise<string> {
      const port = await findFreePort();
      fake = new WebSocketServer({ port, host: '127.0.0.1' });
      fake.on('connection', (socket) => {
        socket.send(JSON.stringify({ type: 'auth_required', ha_version: '2024.1.0', server: 'flowgate', version: '0.1.0', protocol: 1, instance: 'fake' }));
        socket.on('message', (data) => {
          const { id } = JSON.parse(data.toString()) as { id: number };
          socket.send(JSON.stringify({ id, type: 'result', success: false, error }));
        });
      });
      return `ws://127.0.0.1:${port}/api/websocket`;
    }

    it('carries retry_after as retryAfterSeconds, and says the wait in words', async function () {
      const url = await refusingServer({ code: 'rate_limited', message: 'Too many failed logins from your address', retry_after: 240 });
      const error = (await make(url).initFlow(['password', null]).catch((e: unknown) => e)) as RateLimitedError;
      expect(error).to.be.instanceOf(RateLimitedError).and.include({ retryAfterSeconds: 240, serverMessage: 'Too many failed logins from your address' });
      expect(describeRateLimit(error)).to.equal('Too many failed attempts. Try again in 4 minutes.');
    });

    it("leaves retryAfterSeconds undefined without retry_after, and then uses the server's words", async function () {
      const url = await refusingServer({ code: 'rate_limited', message: 'Too many login flows started on this connection; wait a minute' });
      const error = (await make(url).initFlow(['password', null]).catch((e: unknown) => e)) as RateLimitedError;
      expect(error.retryAfterSeconds).to.equal(undefined);
      expect(describeRateLimit(error)).to.equal('Too many login flows started on this connection; wait a minute');
    });
  });
});

describe('fileDeviceTokenStore', function () {
  const fresh = (): string => join(mkdtempSync(join(tmpdir(), 'flowgate-device-tokens-')), 'flowgate', 'device-tokens.json');

  describe('#set', function () {
    it('keeps one token per server in a file only its owner can read, in a private folder it creates', async function () {
      const path = fresh();
      const store = fileDeviceTokenStore(path);
      await store.set('ws://a.example/api/websocket', 'token-a');
      await store.set('ws://b.example/api/websocket', 'token-b');
      await store.set('ws://a.example/api/websocket', 'token-a2');
      expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal({ 'ws://a.example/api/websocket': 'token-a2', 'ws://b.example/api/websocket': 'token-b' });
      expect(statSync(path).mode & 0o777).to.equal(0o600);
      expect(statSync(join(path, '..')).mode & 0o777).to.equal(0o700);
      expect(await fileDeviceTokenStore(path).get('ws://b.example/api/websocket')).to.equal('token-b');
    });

    it('reports a file it cannot write instead of throwing', async function () {
      const blocker = join(mkdtempSync(join(tmpdir(), 'flowgate-device-tokens-')), 'not-a-folder');
      writeFileSync(blocker, '');
      const errors: Error[] = [];
      await fileDeviceTokenStore(join(blocker, 'device-tokens.json'), { onError: (e) => errors.push(e) }).set('ws://a.example/', 't');
      expect(errors).to.have.length(1);
    });
  });

  describe('#get', function () {
    it('answers nothing for a missing or damaged file, or for a server it has no token of, and a set replaces a damaged file', async function () {
      const path = fresh();
      const errors: Error[] = [];
      const store = fileDeviceTokenStore(path, { onError: (e) => errors.push(e) });
      expect(await store.get('ws://a.example/')).to.equal(undefined);
      await store.set('ws://a.example/', 't');
      expect(await store.get('__proto__')).to.equal(undefined);
      writeFileSync(path, '{"ws://a.example/": "t", "trunc');
      expect(await store.get('ws://a.example/')).to.equal(undefined);
      await store.set('ws://b.example/', 'u');
      expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal({ 'ws://b.example/': 'u' });
      expect(errors, 'a missing or damaged file is not an error to report').to.deep.equal([]);
    });
  });
});
