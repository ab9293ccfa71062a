/** Home Assistant's HTTP login API (docs/protocol.md, "HTTP login API"), black-box against a real server process. */
import { expect } from 'chai';
import { authenticatedSocket } from '../helpers/login.js';
import { EXAMPLE_CONFIG } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';

const CLIENT_ID = 'https://dashboard.example/';
const REDIRECT_URI = 'https://dashboard.example/auth_callback';
const HANDLER = ['insecure_example', null];
const RIGHT = { username: 'alice', password: 'wonderland' };
const WRONG = { username: 'alice', password: 'nope' };
const ALLOWED_ORIGIN = 'https://app.example';
/** The server trusts 127.0.0.1 as a proxy, so each test speaks from its own address through X-Forwarded-For. */
let nextAddress = 1;
const freshAddress = (): string => `198.51.100.${nextAddress++}`;

describe('HTTP login API', function () {
  const fixture = useServer(() => ({
    config: {
      ...EXAMPLE_CONFIG,
      http: { use_x_forwarded_for: true, trusted_proxies: ['127.0.0.1'], cors_allowed_origins: [ALLOWED_ORIGIN] },
    },
  }));
  const url = (path: string): string => `${fixture.server().httpUrl}${path}`;
  let from = '';
  beforeEach(() => {
    from = freshAddress();
  });

  const postJson = (path: string, body: unknown, address = from): Promise<Response> =>
    fetch(url(path), { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': address }, body: JSON.stringify(body) });
  const postForm = (path: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(url(path), { method: 'POST', headers: { 'x-forwarded-for': from, ...headers }, body: new URLSearchParams(params) });
  const start = async (address = from): Promise<Record<string, any>> => {
    const response = await postJson('/auth/login_flow', { client_id: CLIENT_ID, handler: HANDLER, redirect_uri: REDIRECT_URI }, address);
    expect(response.status).to.equal(200);
    return (await response.json()) as Record<string, any>;
  };
  const step = (flowId: string, input: Record<string, unknown>, address = from): Promise<Response> =>
    postJson(`/auth/login_flow/${flowId}`, { client_id: CLIENT_ID, ...input }, address);
  const code = async (): Promise<string> => {
    const form = await start();
    const done = (await (await step(form['flow_id'], RIGHT)).json()) as Record<string, any>;
    expect(done['type']).to.equal('create_entry');
    return String(done['result']);
  };
  const tokens = async (): Promise<Record<string, any>> => {
    const response = await postForm('/auth/token', { grant_type: 'authorization_code', client_id: CLIENT_ID, code: await code() });
    expect(response.status).to.equal(200);
    return (await response.json()) as Record<string, any>;
  };

  describe('GET /auth/providers', function () {
    it('lists the providers in Home Assistant\'s newest shape, never cached', async function () {
      const response = await fetch(url('/auth/providers'));
      expect(response.status).to.equal(200);
      expect(response.headers.get('cache-control')).to.equal('no-store');
      expect(await response.json()).to.deep.equal({
        providers: [{ name: 'Example accounts', id: null, type: 'insecure_example' }],
        preselect_remember_me: false,
      });
    });

    it('answers 405 naming GET to another method', async function () {
      const response = await fetch(url('/auth/providers'), { method: 'POST' });
      expect(response.status).to.equal(405);
      expect(response.headers.get('allow')).to.equal('GET');
    });
  });

  describe('GET /.well-known/oauth-authorization-server', function () {
    it('describes the endpoints with absolute URLs of the host the client used, without PKCE', async function () {
      const response = await fetch(url('/.well-known/oauth-authorization-server'));
      const base = fixture.server().httpUrl;
      expect(await response.json()).to.deep.equal({
        issuer: base,
        authorization_endpoint: `${base}/auth/authorize`,
        token_endpoint: `${base}/auth/token`,
        revocation_endpoint: `${base}/auth/revoke`,
        response_types_supported: ['code'],
        service_documentation: 'https://developers.home-assistant.io/docs/auth_api',
      });
    });

    it('takes the scheme and host a trusted proxy forwards', async function () {
      const response = await fetch(url('/.well-known/oauth-authorization-server'), {
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'auth.example:8443' },
      });
      expect(await response.json()).to.deep.include({ issuer: 'https://auth.example:8443', token_endpoint: 'https://auth.example:8443/auth/token' });
    });
  });

  describe('POST /auth/login_flow', function () {
    it('starts a flow and answers its first form', async function () {
      const form = await start();
      expect(form).to.deep.include({ type: 'form', handler: HANDLER, step_id: 'init', errors: null });
      expect(form['flow_id']).to.match(/^[0-9a-f]{32}$/);
      expect(form['data_schema'].map((field: any) => field.name)).to.deep.equal(['username', 'password']);
    });

    it('takes a bare provider type as the handler', async function () {
      const response = await postJson('/auth/login_flow', { client_id: CLIENT_ID, handler: 'insecure_example', redirect_uri: REDIRECT_URI });
      expect(((await response.json()) as any).handler).to.deep.equal(HANDLER);
    });

    it('answers 404 "Invalid handler specified" for a provider that is not configured', async function () {
      const response = await postJson('/auth/login_flow', { client_id: CLIENT_ID, handler: ['nope', null], redirect_uri: REDIRECT_URI });
      expect(response.status).to.equal(404);
      expect(await response.json()).to.deep.equal({ message: 'Invalid handler specified' });
    });

    it('answers 400 "Invalid client id" to a client id that is not an IndieAuth one', async function () {
      const response = await postJson('/auth/login_flow', { client_id: 'https://dashboard.example/#x', handler: HANDLER, redirect_uri: REDIRECT_URI });
      expect(response.status).to.equal(400);
      expect(await response.json()).to.deep.equal({ message: 'Invalid client id' });
    });

    it('answers 403 "Invalid redirect URI" to a redirect URI the client may not use', async function () {
      // A loopback client id: its page is never fetched by default, so the check fails at once.
      const response = await postJson('/auth/login_flow', { client_id: 'http://127.0.0.1:9/', handler: HANDLER, redirect_uri: 'https://elsewhere.example/cb' });
      expect(response.status).to.equal(403);
      expect(await response.json()).to.deep.equal({ message: 'Invalid redirect URI' });
    });

    it('answers 400 "Message format incorrect" for a missing field, bad JSON or a body that is not an object', async function () {
      for (const body of [JSON.stringify({ handler: HANDLER, redirect_uri: REDIRECT_URI }), '{"client_id":', '[1,2]', '']) {
        const response = await fetch(url('/auth/login_flow'), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        expect(response.status, body).to.equal(400);
        expect(((await response.json()) as any).message, body).to.match(/^Message format incorrect/);
      }
    });

    it('answers 413 to a body over 64 KiB and keeps serving', async function () {
      const response = await postJson('/auth/login_flow', { client_id: CLIENT_ID, handler: HANDLER, redirect_uri: REDIRECT_URI, pad: 'x'.repeat(70_000) });
      expect(response.status).to.equal(413);
      expect((await fetch(url('/auth/providers'))).status).to.equal(200);
    });

    it('answers 405 to GET: flows in progress are never listed', async function () {
      expect((await fetch(url('/auth/login_flow'))).status).to.equal(405);
    });
  });

  describe('POST /auth/login_flow/{flow_id}', function () {
    it('answers a wrong password with the form and invalid_auth (HTTP 200), then the code', async function () {
      const form = await start();
      const wrong = await step(form['flow_id'], WRONG);
      expect(wrong.status).to.equal(200);
      expect(await wrong.json()).to.deep.include({ type: 'form', step_id: 'init', errors: { base: 'invalid_auth' } });
      const done = (await (await step(form['flow_id'], RIGHT)).json()) as Record<string, any>;
      expect(done['result']).to.match(/^[0-9a-f]{32}$/);
      expect(done).to.deep.equal({
        type: 'create_entry',
        flow_id: form['flow_id'],
        handler: HANDLER,
        result: done['result'],
        description: null,
        description_placeholders: null,
      });
    });

    it('answers 400 "User input malformed" to input that does not fit the form', async function () {
      const form = await start();
      const response = await step(form['flow_id'], { username: 'alice' });
      expect(response.status).to.equal(400);
      expect(await response.json()).to.deep.equal({ message: 'User input malformed' });
    });

    it('answers 404 "Invalid flow specified" for an unknown flow, another client\'s flow and a GET', async function () {
      const form = await start();
      for (const response of [
        await step('0'.repeat(32), RIGHT),
        await postJson(`/auth/login_flow/${form['flow_id']}`, { client_id: 'https://other.example/', ...RIGHT }),
        await fetch(url(`/auth/login_flow/${form['flow_id']}`)),
      ]) {
        expect(response.status).to.equal(404);
        expect(await response.json()).to.deep.equal({ message: 'Invalid flow specified' });
      }
    });

    it('answers 400 "IP address changed" to a step from another address, and lets the starting one finish', async function () {
      const form = await start();
      const moved = await step(form['flow_id'], RIGHT, freshAddress());
      expect(moved.status).to.equal(400);
      expect(await moved.json()).to.deep.equal({ message: 'IP address changed' });
      expect(((await (await step(form['flow_id'], RIGHT)).json()) as any).type).to.equal('create_entry');
    });

    it('refuses the 11th wrong password from one address with 429 and Retry-After', async function () {
      const form = await start();
      for (let i = 0; i < 10; i++) {
        expect(((await (await step(form['flow_id'], WRONG)).json()) as any).errors, `attempt ${i + 1}`).to.deep.equal({ base: 'invalid_auth' });
      }
      const refused = await step(form['flow_id'], RIGHT);
      expect(refused.status).to.equal(429);
      expect(Number(refused.headers.get('retry-after'))).to.be.greaterThan(0);
      expect(await refused.json()).to.deep.include({ code: 'rate_limited' });
    });
  });

  describe('DELETE /auth/login_flow/{flow_id}', function () {
    it('aborts the flow; it is unknown afterwards', async function () {
      const form = await start();
      const deleted = await fetch(url(`/auth/login_flow/${form['flow_id']}`), { method: 'DELETE', headers: { 'x-forwarded-for': from } });
      expect(deleted.status).to.equal(200);
      expect(await deleted.json()).to.deep.equal({ message: 'Flow aborted' });
      expect((await step(form['flow_id'], RIGHT)).status).to.equal(404);
    });

    it('answers "IP address changed" from another address and leaves the flow alone', async function () {
      const form = await start();
      const deleted = await fetch(url(`/auth/login_flow/${form['flow_id']}`), { method: 'DELETE', headers: { 'x-forwarded-for': freshAddress() } });
      expect(deleted.status).to.equal(400);
      expect(await deleted.json()).to.deep.equal({ message: 'IP address changed' });
      expect((await step(form['flow_id'], RIGHT)).status).to.equal(200);
    });
  });

  describe('POST /auth/token', function () {
    it('exchanges a code for tokens with no-store headers; the access token opens a socket', async function () {
      const response = await postForm('/auth/token', { grant_type: 'authorization_code', client_id: CLIENT_ID, code: await code() });
      expect(response.status).to.equal(200);
      expect(response.headers.get('cache-control')).to.equal('no-store');
      expect(response.headers.get('pragma')).to.equal('no-cache');
      const body = (await response.json()) as Record<string, any>;
      expect(body).to.include({ token_type: 'Bearer', expires_in: 1800 });
      expect(body['refresh_token']).to.match(/^[0-9a-f]{128}$/);
      (await authenticatedSocket(fixture.server().url, body['access_token'])).close();
    });

    it('reads multipart/form-data, as Home Assistant\'s client sends a FormData', async function () {
      const data = new FormData();
      data.append('grant_type', 'authorization_code');
      data.append('client_id', CLIENT_ID);
      data.append('code', await code());
      const response = await fetch(url('/auth/token'), { method: 'POST', headers: { 'x-forwarded-for': from }, body: data });
      expect(response.status).to.equal(200);
      expect(await response.json()).to.have.property('access_token');
    });

    it('answers Home Assistant\'s invalid_request to a used code, a missing client id and a missing code', async function () {
      const used = await code();
      await postForm('/auth/token', { grant_type: 'authorization_code', client_id: CLIENT_ID, code: used });
      const cases: Array<[Record<string, string>, string]> = [
        [{ grant_type: 'authorization_code', client_id: CLIENT_ID, code: used }, 'Invalid code'],
        [{ grant_type: 'authorization_code', code: used }, 'Invalid client id'],
        [{ grant_type: 'authorization_code', client_id: CLIENT_ID }, 'Invalid code'],
      ];
      for (const [params, description] of cases) {
        const response = await postForm('/auth/token', params);
        expect(response.status).to.equal(400);
        expect(response.headers.get('cache-control')).to.equal('no-store');
        const body = (await response.json()) as Record<string, string>;
        expect(body['error']).to.equal('invalid_request');
        expect(body['error_description']).to.match(new RegExp(`^${description}`));
      }
    });

    it('refreshes without rotating; refuses another client id (invalid_request) and an unknown token (invalid_grant)', async function () {
      const { refresh_token: refreshToken } = await tokens();
      const refreshed = await postForm('/auth/token', { grant_type: 'refresh_token', client_id: CLIENT_ID, refresh_token: refreshToken });
      expect(refreshed.status).to.equal(200);
      expect(await refreshed.json()).to.have.all.keys('access_token', 'token_type', 'expires_in');
      const other = await postForm('/auth/token', { grant_type: 'refresh_token', client_id: 'https://other.example/', refresh_token: refreshToken });
      expect([other.status, ((await other.json()) as any).error]).to.deep.equal([400, 'invalid_request']);
      const unknown = await postForm('/auth/token', { grant_type: 'refresh_token', client_id: CLIENT_ID, refresh_token: 'f'.repeat(128) });
      expect([unknown.status, ((await unknown.json()) as any).error]).to.deep.equal([400, 'invalid_grant']);
    });

    it('answers unsupported_grant_type to another grant and invalid_request to a JSON body or a repeated parameter', async function () {
      const password = await postForm('/auth/token', { grant_type: 'password', client_id: CLIENT_ID });
      expect([password.status, ((await password.json()) as any).error]).to.deep.equal([400, 'unsupported_grant_type']);
      const json = await fetch(url('/auth/token'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"refresh_token"}' });
      expect([json.status, ((await json.json()) as any).error]).to.deep.equal([400, 'invalid_request']);
      const twice = await fetch(url('/auth/token'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=refresh_token&refresh_token=a&refresh_token=b',
      });
      expect([twice.status, ((await twice.json()) as any).error]).to.deep.equal([400, 'invalid_request']);
    });

    it('revokes with the deprecated action=revoke', async function () {
      const { refresh_token: refreshToken } = await tokens();
      const revoked = await postForm('/auth/token', { action: 'revoke', token: refreshToken });
      expect(revoked.status).to.equal(200);
      const refreshed = await postForm('/auth/token', { grant_type: 'refresh_token', client_id: CLIENT_ID, refresh_token: refreshToken });
      expect(((await refreshed.json()) as any).error).to.equal('invalid_grant');
    });
  });

  describe('POST /auth/revoke', function () {
    it('revokes the refresh token with an empty 200, and answers 200 to an unknown or missing token', async function () {
      const { refresh_token: refreshToken } = await tokens();
      for (const params of [{ token: refreshToken }, { token: 'f'.repeat(128) }, {}]) {
        const response = await postForm('/auth/revoke', params);
        expect(response.status).to.equal(200);
        expect(await response.text()).to.equal('');
      }
      const refreshed = await postForm('/auth/token', { grant_type: 'refresh_token', client_id: CLIENT_ID, refresh_token: refreshToken });
      expect(((await refreshed.json()) as any).error).to.equal('invalid_grant');
    });
  });

  describe('CORS on the token endpoints', function () {
    it('allows exactly the configured origins, and varies on Origin', async function () {
      for (const path of ['/auth/token', '/auth/revoke']) {
        const allowed = await postForm(path, { grant_type: 'password' }, { origin: ALLOWED_ORIGIN });
        expect(allowed.headers.get('access-control-allow-origin'), path).to.equal(ALLOWED_ORIGIN);
        expect(allowed.headers.get('vary'), path).to.equal('Origin');
        const refused = await postForm(path, { grant_type: 'password' }, { origin: 'https://app.example.evil' });
        expect(refused.headers.get('access-control-allow-origin'), path).to.equal(null);
        expect(refused.headers.get('vary'), path).to.equal('Origin');
      }
    });

    it('answers a preflight from an allowed origin with 204 and the allowed method, and refuses another with 403', async function () {
      const preflight = (origin: string): Promise<Response> =>
        fetch(url('/auth/token'), { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      const allowed = await preflight(ALLOWED_ORIGIN);
      expect(allowed.status).to.equal(204);
      expect(allowed.headers.get('access-control-allow-origin')).to.equal(ALLOWED_ORIGIN);
      expect(allowed.headers.get('access-control-allow-methods')).to.include('POST');
      const refused = await preflight('https://evil.example');
      expect(refused.status).to.equal(403);
      expect(refused.headers.get('access-control-allow-origin')).to.equal(null);
    });

    it('sends no CORS headers on the login flow endpoints (same-origin only, as Home Assistant)', async function () {
      const response = await fetch(url('/auth/providers'), { headers: { origin: ALLOWED_ORIGIN } });
      expect(response.headers.get('access-control-allow-origin')).to.equal(null);
    });
  });

  describe('hostile input', function () {
    it('answers every malformed request with a JSON status and no stack, and the process keeps serving', async function () {
      const requests: Array<[string, RequestInit]> = [
        ['/auth/login_flow/%zz', { method: 'POST', body: '{}' }],
        ['/auth/login_flow/x/y', { method: 'DELETE' }],
        ['/auth/login_flow', { method: 'POST', body: '{"client_id":"x","handler":{"__proto__":1},"redirect_uri":"y"}' }],
        ['/auth/login_flow', { method: 'POST', body: `{"client_id":${JSON.stringify('x'.repeat(5000))},"handler":"a","redirect_uri":"y"}` }],
        ['/auth/token', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=zz' }, body: '--zz\r\nbroken' }],
        ['/auth/token', { method: 'PUT' }],
        ['/auth/revoke', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=%ZZ' }],
      ];
      for (const [path, init] of requests) {
        const response = await fetch(url(path), init);
        expect(response.status, path).to.be.within(200, 499);
        expect(await response.text(), path).to.not.match(/at .*\.js:\d+/);
      }
      expect((await fetch(url('/auth/providers'))).status).to.equal(200);
      expect(fixture.server().child.exitCode).to.equal(null);
    });
  });
});
