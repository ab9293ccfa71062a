/**
 * An authorization code is bound to the redirect URI of its login flow (RFC 6749 4.1.3), black-box on a real server: whoever
 * holds a code and names another redirect URI at the exchange (over HTTP or the socket) gets `invalid_grant`, and the code is
 * spent. Naming none still works, as Home Assistant's clients never send one.
 */
import { expect } from 'chai';
import { EXAMPLE_CONFIG } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';
import { loginCode, TEST_CLIENT_ID } from '../helpers/login.js';

/** A client id and two redirect URIs on its own host, both of which the server accepts for it at `login_flow/init`. */
const CLIENT_ID = 'https://app.example/';
const REDIRECT_URI = 'https://app.example/auth_callback';
const OTHER_REDIRECT_URI = 'https://app.example/somewhere-else';
const ALICE = { username: 'alice', password: 'wonderland' };

describe('Authorization codes bound to their redirect URI', function () {
  const fixture = useServer(() => ({ config: EXAMPLE_CONFIG }));
  const url = (path: string): string => `${fixture.server().httpUrl}${path}`;

  /** A code from the HTTP login API (Home Assistant's frontend's way), for a flow started with `REDIRECT_URI`. */
  async function httpCode(): Promise<string> {
    const post = (path: string, body: unknown): Promise<Response> =>
      fetch(url(path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const started = (await (await post('/auth/login_flow', { client_id: CLIENT_ID, handler: ['insecure_example', null], redirect_uri: REDIRECT_URI })).json()) as Record<string, unknown>;
    const done = (await (await post(`/auth/login_flow/${String(started['flow_id'])}`, { client_id: CLIENT_ID, ...ALICE })).json()) as Record<string, unknown>;
    expect(done['type'], JSON.stringify(done)).to.equal('create_entry');
    return String(done['result']);
  }

  const exchange = (params: Record<string, string>): Promise<Response> =>
    fetch(url('/auth/token'), { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', client_id: CLIENT_ID, ...params }) });

  describe('POST /auth/token', function () {
    it('refuses a code exchanged with another redirect_uri than its flow\'s with 400 invalid_grant, and the code is spent', async function () {
      const code = await httpCode();
      const refused = await exchange({ code, redirect_uri: OTHER_REDIRECT_URI });
      expect(refused.status).to.equal(400);
      const body = (await refused.json()) as Record<string, unknown>;
      expect(body['error']).to.equal('invalid_grant');
      expect(body).to.not.have.property('access_token');
      // A code is used at most once (RFC 6749 4.1.2): the thief's attempt burnt it for the right redirect URI too.
      expect((await exchange({ code, redirect_uri: REDIRECT_URI })).status).to.equal(400);
    });

    it('exchanges a code with its own redirect_uri, and without any (Home Assistant\'s clients send none)', async function () {
      const same = await exchange({ code: await httpCode(), redirect_uri: REDIRECT_URI });
      expect(same.status).to.equal(200);
      expect((await same.json()) as Record<string, unknown>).to.have.property('access_token');
      const none = await exchange({ code: await httpCode() });
      expect(none.status).to.equal(200);
    });
  });

  describe('auth/token on the socket', function () {
    it('refuses a code of a flow started without redirect_uri when the exchange names one (invalid_grant)', async function () {
      const client = await fixture.open();
      const code = await loginCode(client, undefined, ALICE, TEST_CLIENT_ID);
      const reply = await client.command({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID, redirect_uri: `${TEST_CLIENT_ID}callback` });
      expect(reply['success']).to.equal(false);
      expect((reply['error'] as Record<string, unknown>)['code']).to.equal('invalid_grant');
    });

    it('refuses a code exchanged with another redirect_uri than its flow\'s (invalid_grant), and takes its own', async function () {
      const client = await fixture.open();
      const wrong = await client.command({ type: 'auth/token', grant_type: 'authorization_code', code: await httpCode(), client_id: CLIENT_ID, redirect_uri: OTHER_REDIRECT_URI });
      expect((wrong['error'] as Record<string, unknown> | undefined)?.['code'], JSON.stringify(wrong)).to.equal('invalid_grant');
      const right = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code: await httpCode(), client_id: CLIENT_ID, redirect_uri: REDIRECT_URI });
      expect(right).to.have.property('access_token');
    });
  });
});
