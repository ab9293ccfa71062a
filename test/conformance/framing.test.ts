/** Raw-frame conformance: the hello, ids, batches, limits and close codes, against a real `flowgate serve` process. */
import { expect } from 'chai';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { RawClient } from '../helpers/raw-client.js';
import { EXAMPLE_CONFIG } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';

describe('Transport (raw frames)', function () {
  const fixture = useServer(() => ({
    config: {
      ...EXAMPLE_CONFIG,
      websocket: { idle_timeout_seconds: 1, heartbeat_interval_seconds: 0.4, max_pending_commands: 16, max_flow_starts_per_minute: 5 },
    },
  }));
  const { open, track } = fixture;

  /** After every abuse, the server still answers a fresh client. */
  async function expectServerStillServes(): Promise<void> {
    const client = await open();
    expect(await client.command({ type: 'ping' })).to.deep.equal({ id: 1, type: 'pong' });
  }

  describe('hello', function () {
    it('sends auth_required first, naming the instance that holds the socket', async function () {
      const { client, hello } = await RawClient.open(fixture.server().url);
      track(client);
      expect(hello).to.have.all.keys('type', 'ha_version', 'server', 'version', 'protocol', 'instance');
      expect(hello).to.include({ type: 'auth_required', ha_version: '2024.1.0', server: 'flowgate', protocol: 1 });
      expect(hello['version']).to.match(/^\d+\.\d+\.\d+/);
      expect(hello['instance']).to.equal(fixture.server().instanceId);
    });

    it('refuses an upgrade on any other path with 404', async function () {
      const socket = new WebSocket(`ws://127.0.0.1:${fixture.server().port}/other`);
      const status = await new Promise<number | undefined>((resolve) => {
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode));
        socket.on('error', () => resolve(undefined));
      });
      expect(status).to.equal(404);
    });

    it('answers request targets that are not paths with 404, on plain HTTP and on upgrades, and keeps serving', async function () {
      const raw = (request: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = connect(fixture.server().port, '127.0.0.1', () => socket.end(request));
          let reply = '';
          socket.on('data', (chunk) => (reply += chunk.toString()));
          socket.on('close', () => resolve(reply));
          socket.on('error', reject);
        });
      expect(await raw('GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).to.match(/^HTTP\/1\.1 404/);
      const upgrade = 'GET // HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
      expect(await raw(upgrade)).to.match(/^HTTP\/1\.1 404/);
      await expectServerStillServes();
    });

    it('answers GET /healthz with 200 while the store is reachable', async function () {
      const response = await fetch(`${fixture.server().httpUrl}/healthz`);
      expect(response.status).to.equal(200);
      expect(await response.json()).to.deep.equal({ status: 'ok' });
    });
  });

  describe('commands', function () {
    it('answers ping with pong of the same id', async function () {
      const client = await open();
      client.send({ id: 5, type: 'ping' });
      expect(await client.next()).to.deep.equal({ id: 5, type: 'pong' });
    });

    it('answers supported_features with a null result', async function () {
      const client = await open();
      expect(await client.command({ id: 1, type: 'supported_features', features: { coalesce_messages: 1 } })).to.deep.equal({
        id: 1,
        type: 'result',
        success: true,
        result: null,
      });
    });

    it('sends the replies of one batch as one JSON array frame once coalesce_messages is offered', async function () {
      const client = await open();
      await client.command({ id: 1, type: 'supported_features', features: { coalesce_messages: 1 } });
      client.send([2, 3, 4, 5].map((id) => ({ id, type: 'ping' })));
      expect(await client.next()).to.deep.equal([2, 3, 4, 5].map((id) => ({ id, type: 'pong' })));
      // A lone reply is still a bare object, and errors coalesce with results.
      expect(await client.command({ id: 6, type: 'ping' })).to.deep.equal({ id: 6, type: 'pong' });
      client.send([{ id: 7, type: 'ping' }, { id: 7, type: 'ping' }]);
      const [pong, reused] = (await client.next()) as Array<Record<string, unknown>>;
      expect(pong).to.deep.equal({ id: 7, type: 'pong' });
      expect(reused).to.deep.include({ id: 7, type: 'result', success: false });
    });

    it('answers each command of a batch in its own frame without coalesce_messages', async function () {
      const client = await open();
      await client.command({ id: 1, type: 'supported_features', features: {} });
      client.send([2, 3].map((id) => ({ id, type: 'ping' })));
      expect(await client.next()).to.deep.equal({ id: 2, type: 'pong' });
      expect(await client.next()).to.deep.equal({ id: 3, type: 'pong' });
    });

    it('answers id_reuse when an id does not increase, and keeps serving', async function () {
      const client = await open();
      client.send({ id: 3, type: 'ping' });
      expect(await client.next()).to.deep.equal({ id: 3, type: 'pong' });
      client.send({ id: 3, type: 'ping' });
      const reuse = (await client.next()) as Record<string, any>;
      expect(reuse).to.deep.include({ id: 3, type: 'result', success: false });
      expect(reuse['error']['code']).to.equal('id_reuse');
      client.send({ id: 2, type: 'ping' });
      expect(((await client.next()) as any).error.code).to.equal('id_reuse');
      client.send({ id: 4, type: 'ping' });
      expect(await client.next()).to.deep.equal({ id: 4, type: 'pong' });
    });

    it('answers unknown_command for a type it does not know', async function () {
      const client = await open();
      const reply = await client.command({ id: 1, type: 'get_states' });
      expect(reply).to.deep.equal({
        id: 1,
        type: 'result',
        success: false,
        error: { code: 'unknown_command', message: 'Unknown command: get_states' },
      });
    });

    it('answers invalid_format naming the field when a command does not match its codec', async function () {
      const client = await open();
      const reply = (await client.command({ id: 1, type: 'login_flow/init', handler: 'insecure_example', client_id: 'https://app' })) as any;
      expect(reply.error.code).to.equal('invalid_format');
      expect(reply.error.message).to.match(/^login_flow\/init: handler: expected/);
      const missing = (await client.command({ id: 2, type: 'login_flow/get', flow_id: 'abc' })) as any;
      expect(missing.error.code).to.equal('invalid_format');
      expect(missing.error.message).to.contain('client_id is required');
    });

    it('answers invalid_format with id 0 for a message without a usable id', async function () {
      const client = await open();
      client.send({ type: 'ping' });
      const reply = (await client.next()) as any;
      expect(reply).to.deep.include({ id: 0, type: 'result', success: false });
      expect(reply.error.code).to.equal('invalid_format');
      expect(reply.error.message).to.contain('id is required');
      client.send({ id: -4, type: 'ping' });
      expect(((await client.next()) as any).id).to.equal(0);
    });

    it('answers unauthorized for a phase-2 command on an unauthenticated socket', async function () {
      const client = await open();
      const reply = (await client.command({ id: 1, type: 'auth/current_user' })) as any;
      expect(reply).to.deep.include({ id: 1, type: 'result', success: false });
      expect(reply.error.code).to.equal('unauthorized');
    });

    it('handles a JSON array as commands in order, one reply each', async function () {
      const client = await open();
      client.send([
        { id: 1, type: 'ping' },
        { id: 2, type: 'auth/providers' },
        { id: 3, type: 'ping' },
      ]);
      expect(await client.next()).to.deep.equal({ id: 1, type: 'pong' });
      expect(await client.next()).to.deep.include({ id: 2, type: 'result', success: true });
      expect(await client.next()).to.deep.equal({ id: 3, type: 'pong' });
    });

    it('refuses a batch of more than 64 commands with invalid_format', async function () {
      const client = await open();
      client.send(Array.from({ length: 65 }, (_, i) => ({ id: i + 1, type: 'ping' })));
      const reply = (await client.next()) as any;
      expect(reply).to.deep.include({ id: 0, success: false });
      expect(reply.error.code).to.equal('invalid_format');
      await expectServerStillServes();
    });
  });

  describe('auth', function () {
    it('answers auth_invalid and closes for a token that does not verify', async function () {
      const client = await open();
      client.send({ type: 'auth', access_token: 'eyJhbGciOiJub25lIn0.e30.' });
      expect(await client.next()).to.deep.equal({ type: 'auth_invalid', message: 'Invalid access token or password' });
      expect((await client.closed).code).to.equal(1000);
    });

    it('answers auth_invalid naming the field for a malformed auth message, and closes', async function () {
      const client = await open();
      client.send({ type: 'auth', api_password: 'x' });
      const reply = (await client.next()) as any;
      expect(reply.type).to.equal('auth_invalid');
      expect(reply.message).to.contain('access_token is required');
      await client.closed;
    });
  });

  describe('bad input and limits', function () {
    it('answers invalid JSON with invalid_format and id 0, and keeps the socket open', async function () {
      const client = await open();
      client.sendRaw('{"id": 1, "type": ');
      expect(await client.next()).to.deep.equal({
        id: 0,
        type: 'result',
        success: false,
        error: { code: 'invalid_format', message: 'The frame is not valid JSON' },
      });
      expect(await client.command({ id: 1, type: 'ping' })).to.deep.equal({ id: 1, type: 'pong' });
    });

    it('closes with 1008 after repeated garbage', async function () {
      const client = await open();
      for (let i = 0; i < 11; i += 1) client.sendRaw('not json');
      expect((await client.closed).code).to.equal(1008);
      await expectServerStillServes();
    });

    it('closes with 1003 on a binary frame', async function () {
      const client = await open();
      client.sendRaw(Buffer.from([1, 2, 3]), { binary: true });
      expect((await client.closed).code).to.equal(1003);
      await expectServerStillServes();
    });

    it('closes with 1009 on a frame over 64 KiB', async function () {
      const client = await open();
      client.sendRaw(JSON.stringify({ id: 1, type: 'ping', pad: 'x'.repeat(64 * 1024) }));
      expect((await client.closed).code).to.equal(1009);
      await expectServerStillServes();
    });

    it('closes with 1008 when a client queues more commands than the pending limit', async function () {
      const client = await open();
      // The limit is 16 in this config; one batch of 17 exceeds it however fast the server answers.
      client.send(Array.from({ length: 17 }, (_, i) => ({ id: i + 1, type: 'ping' })));
      expect((await client.closed).code).to.equal(1008);
      await expectServerStillServes();
    });

    it('answers rate_limited past the flow starts allowed per socket and minute, and keeps the socket', async function () {
      const client = await open();
      const init = (id: number) => ({ id, type: 'login_flow/init', handler: ['insecure_example', null], client_id: 'https://app/' });
      client.send(Array.from({ length: 6 }, (_, i) => init(i + 1)));
      const replies = [];
      for (let i = 0; i < 6; i += 1) replies.push((await client.next()) as any);
      expect(replies.slice(0, 5).map((r) => r.success)).to.deep.equal([true, true, true, true, true]);
      expect(replies[5].error.code).to.equal('rate_limited');
      expect(await client.command({ id: 7, type: 'ping' })).to.deep.equal({ id: 7, type: 'pong' });
      const other = await open();
      expect((await other.command({ id: 1, type: 'login_flow/init', handler: ['insecure_example', null], client_id: 'https://app/' })).success).to.equal(true);
    });

    it('closes an idle unauthenticated socket with 4000 idle', async function () {
      const client = await open();
      const closed = await client.closed;
      expect(closed).to.deep.equal({ code: 4000, reason: 'idle' });
    });

    it('drops a peer that stops answering WebSocket pings', async function () {
      const { client } = await RawClient.open(fixture.server().url, { autoPong: false });
      track(client);
      // Keep the socket busy so the idle timeout is not what closes it.
      const keepBusy = setInterval(() => client.send({ id: Date.now(), type: 'ping' }), 100);
      try {
        expect((await client.closed).code).to.equal(1006);
      } finally {
        clearInterval(keepBusy);
      }
    });
  });
});
