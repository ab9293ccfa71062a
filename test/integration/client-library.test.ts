/** @flowgate/client against real server processes: logins, typed calls, token refresh, reconnects across instances, stops. */
import { expect } from 'chai';
import { WebSocketServer } from 'ws';
import { AuthInvalidError, ClientClosedError, CommandError, UnexpectedFrameError, type StopReason } from '@flowgate/client';
import { createNodeClient, type FlowgateClient, type FormResult } from '@flowgate/client/node';
import { authenticatedSocket, TEST_CLIENT_ID } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';
import { redisTestUrl } from '../helpers/stores.js';
import { findFreePort } from '../helpers/redis-server.js';

const ALICE = { username: 'alice', password: 'wonderland' };

function nextEvent<T>(client: FlowgateClient, event: 'stopped' | 'tokens' | 'unexpected_frame'): Promise<T> {
  return new Promise((resolve) => {
    const off = client.on(event, (payload) => {
      off();
      resolve(payload as T);
    });
  });
}

describe('@flowgate/client', function () {
  const clients: FlowgateClient[] = [];
  const make = (url: string | string[], extra: Partial<Parameters<typeof createNodeClient>[0]> = {}): FlowgateClient => {
    const client = createNodeClient({ url, clientId: TEST_CLIENT_ID, reconnect: { initialDelayMs: 50, maxDelayMs: 200 }, ...extra });
    clients.push(client);
    return client;
  };
  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  describe('against one server', function () {
    const fixture = useServer(() => ({}));

    it('drives a login through the answer callback, showing the errors of a wrong answer, and authenticates the socket', async function () {
      const client = make(fixture.server().url);
      const seen: Array<Record<string, string> | null> = [];
      const { tokens } = await client.login({
        handler: 'insecure_example',
        answer: (form: FormResult) => {
          seen.push(form.errors);
          return seen.length === 1 ? { ...ALICE, password: 'nope' } : ALICE;
        },
      });
      expect(seen).to.deep.equal([null, { base: 'invalid_auth' }]);
      expect(tokens.refresh_token).to.match(/^[0-9a-f]{128}$/);
      expect((await client.currentUser()).name).to.equal('Alice Liddell');
    });

    it('types every command result and rejects refused commands with a CommandError carrying the code', async function () {
      const client = make(fixture.server().url);
      expect(await client.providers()).to.deep.equal([{ type: 'insecure_example', id: null, name: 'Example accounts' }]);
      await client.login({ handler: ['insecure_example', null], answer: () => ALICE });
      const sessions = await client.refreshTokens();
      expect(sessions.filter((s) => s.is_current)).to.have.length(1);
      expect(await client.longLivedAccessToken('kitchen', 1)).to.be.a('string');
      expect(await client.ping()).to.equal(null);
      const error = await client.getFlow('f'.repeat(32)).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(CommandError).and.include({ code: 'not_found', command: 'login_flow/get' });
    });

    it('refreshes the access token before it expires, with a token that authenticates', async function () {
      const client = make(fixture.server().url, { refreshMarginMs: 1_799_000 });
      const { tokens } = await client.login({ handler: 'insecure_example', answer: () => ALICE });
      const refreshed = await nextEvent<{ access_token: string; refresh_token: string }>(client, 'tokens');
      expect(refreshed.refresh_token).to.equal(tokens.refresh_token);
      (await authenticatedSocket(fixture.server().url, refreshed.access_token)).close();
    });

    it('resumes a flow started elsewhere when given its flow id (a page reload)', async function () {
      const first = make(fixture.server().url);
      const flowIds: Array<string | undefined> = [];
      let flowStarted!: () => void;
      const started = new Promise<void>((resolve) => (flowStarted = resolve));
      const abandoned = first.login({
        handler: 'insecure_example',
        onFlow: (id) => {
          flowIds.push(id);
          flowStarted();
        },
        answer: () => new Promise(() => undefined),
      });
      // Whichever comes first: the flow starting, or the login failing (which then fails this test instead of hanging it).
      await Promise.race([started, abandoned]);
      abandoned.catch(() => undefined);
      first.close();
      const second = make(fixture.server().url);
      const contexts: boolean[] = [];
      const { flowId } = await second.login({ handler: 'insecure_example', flowId: String(flowIds[0]), answer: (_f, ctx) => (contexts.push(ctx.resumed), ALICE) });
      expect(flowId).to.equal(flowIds[0]);
      expect(contexts).to.deep.equal([true]);
    });

    it('stops reconnecting when its token is revoked (close 4001) and says why', async function () {
      const client = make(fixture.server().url);
      const { tokens } = await client.login({ handler: 'insecure_example', answer: () => ALICE });
      const stopped = nextEvent<StopReason>(client, 'stopped');
      const { client: other } = await RawClient.open(fixture.server().url);
      await other.result({ type: 'auth/revoke', token: tokens.refresh_token });
      other.close();
      expect((await stopped).kind).to.equal('revoked');
      expect(await client.currentUser().catch((e: unknown) => e)).to.be.instanceOf(ClientClosedError);
    });

    it('rejects a refused access token with AuthInvalidError and stops', async function () {
      const client = make(fixture.server().url);
      const stopped = nextEvent<StopReason>(client, 'stopped');
      const bogus = { access_token: 'x.y.z', refresh_token: 'f'.repeat(128), token_type: 'Bearer' as const, expires_in: 1800, expires_at: Date.now() + 1_800_000 };
      expect(await client.authenticate(bogus).catch((e: unknown) => e)).to.be.instanceOf(AuthInvalidError);
      expect((await stopped).kind).to.equal('auth_invalid');
    });
  });

  describe('across two instances on one Redis', function () {
    let servers: ServerProcess[] = [];
    beforeEach(async function () {
      servers = [await startServerProcess({ store: redisTestUrl() }), await startServerProcess({ store: redisTestUrl() })];
    });
    afterEach(async () => Promise.all(servers.map((s) => s.stop('SIGKILL'))));

    it('reconnects to the other instance when the first dies mid-flow, resumes the flow there and finishes it', async function () {
      const [first, second] = servers as [ServerProcess, ServerProcess];
      const client = make([first.url, second.url]);
      const resumedOn: string[] = [];
      client.on('flow_resumed', ({ instance }) => resumedOn.push(instance));
      await client.login({
        handler: 'insecure_example',
        answer: async () => {
          if (client.instance === first.instanceId) await first.stop('SIGKILL');
          return ALICE;
        },
      });
      expect(resumedOn).to.deep.equal([second.instanceId]);
      expect(client.instance).to.equal(second.instanceId);
      expect((await client.currentUser()).name).to.equal('Alice Liddell');
    });
  });

  describe('with a misbehaving server', function () {
    let fake: WebSocketServer | undefined;
    afterEach(() => fake?.close());

    async function fakeServer(onCommand: (send: (frame: string) => void, command: Record<string, unknown>) => void): Promise<string> {
      const port = await findFreePort();
      fake = new WebSocketServer({ port, host: '127.0.0.1' });
      fake.on('connection', (socket) => {
        socket.send(JSON.stringify({ type: 'auth_required', ha_version: '2024.1.0', server: 'flowgate', version: '0.1.0', protocol: 1, instance: 'fake' }));
        socket.on('message', (data) => onCommand((frame) => socket.send(frame), JSON.parse(data.toString()) as Record<string, unknown>));
      });
      return `ws://127.0.0.1:${port}/api/websocket`;
    }

    it('rejects a result that does not match its command with UnexpectedFrameError', async function () {
      const url = await fakeServer((send, command) => send(JSON.stringify({ id: command['id'], type: 'result', success: true, result: { nope: 1 } })));
      const error = await make(url).providers().catch((e: unknown) => e);
      expect(error).to.be.instanceOf(UnexpectedFrameError);
    });

    it('reports a frame that is not a server message as an event and keeps serving', async function () {
      const url = await fakeServer((send, command) => {
        send('{"type":"surprise"}');
        send(JSON.stringify({ id: command['id'], type: 'result', success: true, result: [] }));
      });
      const client = make(url);
      const unexpected = nextEvent<UnexpectedFrameError>(client, 'unexpected_frame');
      expect(await client.providers()).to.deep.equal([]);
      expect((await unexpected).frame).to.deep.equal({ type: 'surprise' });
    });
  });

  it('gives up after its attempts when no server answers, and says why', async function () {
    const client = make(`ws://127.0.0.1:${await findFreePort()}/api/websocket`, { reconnect: { initialDelayMs: 10, maxAttempts: 2 } });
    const stopped = nextEvent<StopReason>(client, 'stopped');
    expect(await client.connect().catch((e: unknown) => e)).to.be.instanceOf(ClientClosedError);
    expect((await stopped).kind).to.equal('gave_up');
  });
});
