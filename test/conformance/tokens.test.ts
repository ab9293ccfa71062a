/** Codes, tokens and the authenticated socket, over raw frames against real server processes, on both stores. */
import { expect } from 'chai';
import { TEST_CLIENT_ID, authenticatedSocket, loginCode, loginTokens } from '../helpers/login.js';
import { openServerStore, redisTestUrl } from '../helpers/stores.js';
import { EXAMPLE_CONFIG } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';
import { MAX_REFRESH_TOKENS_PER_USER } from '../../server/src/tokens/refresh-tokens.js';

for (const backend of ['embedded', 'redis'] as const) {
  describe(`Tokens and the authenticated socket (${backend} store)`, function () {
    const fixture = useServer(() => ({ config: EXAMPLE_CONFIG, ...(backend === 'redis' ? { store: redisTestUrl() } : {}) }));
    const { open, track } = fixture;

    it('logs in, exchanges the code, authenticates the same socket and reads the current user', async function () {
      const client = await open();
      const tokens = await loginTokens(client);
      expect(tokens).to.have.all.keys('access_token', 'token_type', 'refresh_token', 'expires_in', 'device_token');
      expect(tokens).to.include({ token_type: 'Bearer', expires_in: 1800 });
      // A JWT the client keeps for later logins on this device (docs/protocol.md, "Device tokens").
      expect(tokens.device_token).to.match(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(tokens.refresh_token).to.match(/^[0-9a-f]{128}$/);
      client.send({ type: 'auth', access_token: tokens.access_token });
      expect(await client.next()).to.deep.equal({ type: 'auth_ok', ha_version: '2024.1.0' });
      const user = await client.result({ type: 'auth/current_user' });
      expect(user).to.deep.include({ name: 'Alice Liddell', mfa_modules: [] });
      expect(user['credentials']).to.deep.equal([{ auth_provider_type: 'insecure_example', auth_provider_id: null }]);
    });

    it('accepts a code once, and only from its own client_id', async function () {
      const client = await open();
      const code = await loginCode(client);
      const other = await client.command({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: 'https://evil/' });
      expect((other as any).error.code).to.equal('invalid_grant');
      const mine = await client.command({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID });
      expect(mine['success']).to.equal(true);
      const again = await client.command({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID });
      expect((again as any).error.code).to.equal('invalid_grant');
    });

    it('refreshes an access token for the same client_id only, without rotating the refresh token', async function () {
      const client = await open();
      const tokens = await loginTokens(client);
      const refreshed = await client.result({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: TEST_CLIENT_ID });
      expect(refreshed).to.have.all.keys('access_token', 'token_type', 'expires_in');
      track(await authenticatedSocket(fixture.server().url, String(refreshed['access_token'])));
      const other = await client.command({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'https://evil/' });
      expect((other as any).error.code).to.equal('invalid_request');
      const bogus = await client.command({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: 'f'.repeat(128), client_id: TEST_CLIENT_ID });
      expect((bogus as any).error.code).to.equal('invalid_grant');
    });

    it('answers unsupported_grant_type and invalid_request', async function () {
      const client = await open();
      expect(((await client.command({ type: 'auth/token', grant_type: 'password', client_id: TEST_CLIENT_ID })) as any).error.code).to.equal('unsupported_grant_type');
      expect(((await client.command({ type: 'auth/token', grant_type: 'authorization_code', client_id: TEST_CLIENT_ID })) as any).error.code).to.equal('invalid_request');
    });

    it('closes every socket of a revoked refresh token with 4001 within a second, and refuses its access tokens', async function () {
      const client = await open();
      const tokens = await loginTokens(client);
      const sockets = [await authenticatedSocket(fixture.server().url, tokens.access_token), await authenticatedSocket(fixture.server().url, tokens.access_token)];
      sockets.forEach(track);
      const started = Date.now();
      expect(await client.result({ type: 'auth/revoke', token: tokens.refresh_token })).to.equal(null);
      for (const socket of sockets) expect(await socket.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
      expect(Date.now() - started).to.be.below(1000);
      const late = await open();
      late.send({ type: 'auth', access_token: tokens.access_token });
      expect(await late.next()).to.deep.equal({ type: 'auth_invalid', message: 'Invalid access token or password' });
      expect(await client.result({ type: 'auth/revoke', token: tokens.refresh_token })).to.equal(null);
    });

    it('answers a socket that revokes its own token before closing it', async function () {
      const client = await open();
      const tokens = await loginTokens(client);
      client.send({ type: 'auth', access_token: tokens.access_token });
      expect(await client.next()).to.deep.include({ type: 'auth_ok' });
      expect(await client.command({ id: 100, type: 'auth/revoke', token: tokens.refresh_token })).to.deep.equal({
        id: 100,
        type: 'result',
        success: true,
        result: null,
      });
      expect(await client.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
    });

    it('answers to its new token only after a socket authenticates again', async function () {
      const client = await open();
      const first = await loginTokens(client, 'https://first.example/');
      const second = await loginTokens(client, 'https://second.example/');
      client.send({ type: 'auth', access_token: first.access_token });
      expect(await client.next()).to.deep.include({ type: 'auth_ok' });
      client.send({ type: 'auth', access_token: second.access_token });
      expect(await client.next()).to.deep.include({ type: 'auth_ok' });
      const observer = await open();
      // A witness still on the first token: once it is closed, the revocation event has reached this server.
      const witness = track(await authenticatedSocket(fixture.server().url, first.access_token));
      expect(await observer.result({ type: 'auth/revoke', token: first.refresh_token })).to.equal(null);
      expect(await witness.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
      expect(await client.command({ type: 'ping' })).to.deep.include({ type: 'pong' });
      expect(await observer.result({ type: 'auth/revoke', token: second.refresh_token })).to.equal(null);
      expect(await client.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
    });

    it('refuses phase-2 commands once the refresh token is gone, even if no revocation event arrived', async function () {
      const client = await open();
      const tokens = await loginTokens(client);
      const socket = track(await authenticatedSocket(fixture.server().url, tokens.access_token));
      const listed = (await socket.result({ type: 'auth/refresh_tokens' })) as unknown as Array<Record<string, unknown>>;
      const currentId = String(listed.find((t) => t['is_current'] === true)?.['id']);
      // Deleted straight in the store, without publishing: what a lost pub/sub message would leave behind.
      const store = await openServerStore(backend, fixture.server().dir);
      try {
        expect(await store.deleteRefreshToken(currentId)).to.equal(true);
      } finally {
        await store.close();
      }
      const reply = (await socket.command({ type: 'auth/long_lived_access_token', client_name: 'stolen', lifespan: 3650 })) as any;
      expect(reply.error.code).to.equal('unauthorized');
      expect(await socket.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
    });

    it('lists sessions with is_current and deletes one, closing its sockets', async function () {
      const client = await open();
      const first = await loginTokens(client);
      const second = await loginTokens(client);
      const socket = track(await authenticatedSocket(fixture.server().url, first.access_token));
      const victim = track(await authenticatedSocket(fixture.server().url, second.access_token));
      const listed = (await socket.result({ type: 'auth/refresh_tokens' })) as unknown as Array<Record<string, unknown>>;
      const current = listed.filter((t) => t['is_current'] === true);
      expect(current).to.have.length(1);
      expect(current[0]).to.include({ client_id: TEST_CLIENT_ID, type: 'normal', auth_provider_type: 'insecure_example' });
      const other = listed.find((t) => t['is_current'] === false && t['type'] === 'normal');
      expect(other).to.not.equal(undefined);
      const victimTokens = (await victim.result({ type: 'auth/refresh_tokens' })) as unknown as Array<Record<string, unknown>>;
      const victimId = victimTokens.find((t) => t['is_current'] === true)?.['id'];
      expect(await socket.result({ type: 'auth/delete_refresh_token', refresh_token_id: victimId })).to.deep.equal({});
      expect(await victim.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
      const unknown = await socket.command({ type: 'auth/delete_refresh_token', refresh_token_id: 'f'.repeat(32) });
      expect((unknown as any).error.code).to.equal('not_found');
    });

    it('deletes all refresh tokens but the current one, then the current one after answering', async function () {
      const client = await open();
      const kept = await loginTokens(client, 'https://kept.example/');
      const other = await loginTokens(client, 'https://other.example/');
      const current = track(await authenticatedSocket(fixture.server().url, kept.access_token));
      const otherSocket = track(await authenticatedSocket(fixture.server().url, other.access_token));
      expect(await current.result({ type: 'auth/delete_all_refresh_tokens', delete_current_token: false })).to.deep.equal({});
      expect(await otherSocket.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
      const left = (await current.result({ type: 'auth/refresh_tokens' })) as unknown as Array<Record<string, unknown>>;
      expect(left.map((t) => t['is_current'])).to.deep.equal([true]);
      expect(await current.result({ type: 'auth/delete_all_refresh_tokens' })).to.deep.equal({});
      expect(await current.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
    });

    it('creates long-lived access tokens that authenticate, with names unique per user', async function () {
      const client = await open();
      const tokens = await loginTokens(client);
      const socket = track(await authenticatedSocket(fixture.server().url, tokens.access_token));
      const name = `ci-${Date.now()}`;
      const longLived = await socket.command({ type: 'auth/long_lived_access_token', client_name: name, lifespan: 365 });
      expect(longLived['success']).to.equal(true);
      const payload = JSON.parse(Buffer.from(String(longLived['result']).split('.')[1] ?? '', 'base64url').toString());
      expect(payload.exp - payload.iat).to.equal(365 * 24 * 3600);
      track(await authenticatedSocket(fixture.server().url, String(longLived['result'])));
      const duplicate = await socket.command({ type: 'auth/long_lived_access_token', client_name: name, lifespan: 30 });
      expect((duplicate as any).error.code).to.equal('invalid_request');
    });
  });
}

describe('Refresh tokens per user (embedded store)', function () {
  const fixture = useServer(() => ({ config: { ...EXAMPLE_CONFIG, websocket: { max_flow_starts_per_minute: 0 } } }));
  const { open, track } = fixture;

  it(`signs out the least recently used session (4001) when a login would pass ${MAX_REFRESH_TOKENS_PER_USER} tokens`, async function () {
    const client = await open();
    const oldest = track(await authenticatedSocket(fixture.server().url, (await loginTokens(client)).access_token));
    for (let i = 1; i < MAX_REFRESH_TOKENS_PER_USER; i++) await loginTokens(client);
    const newest = track(await authenticatedSocket(fixture.server().url, (await loginTokens(client)).access_token));
    expect(await oldest.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
    const sessions = (await newest.result({ type: 'auth/refresh_tokens' })) as unknown as unknown[];
    expect(sessions).to.have.length(MAX_REFRESH_TOKENS_PER_USER);
  });
});
