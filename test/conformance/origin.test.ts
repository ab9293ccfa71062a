/**
 * The origin rule (docs/protocol.md, "Transport > Origin"), black-box with raw frames and raw HTTP against real server
 * processes: a page of a foreign origin may `auth` with a token but runs no login command, on the socket or over HTTP.
 */
import { expect } from 'chai';
import { postFrom } from '../helpers/http-from.js';
import { loginTokens } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { EXAMPLE_CONFIG } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';

const CLIENT_ID = 'https://dashboard.example/';
const REDIRECT_URI = 'https://dashboard.example/auth_callback';
const HANDLER = ['insecure_example', null];
const FOREIGN = 'https://evil.example';
/** Open flows one address may hold in these servers: small, so that filling them takes a few requests. */
const OPEN_FLOWS = 2;

type Reply = Record<string, any>;

const START = JSON.stringify({ client_id: CLIENT_ID, handler: HANDLER, redirect_uri: REDIRECT_URI });

describe('The origin rule', function () {
  const fixture = useServer(() => ({
    config: {
      ...EXAMPLE_CONFIG,
      // Listed in spellings a browser never sends: the rule compares normalised origins.
      http: { cors_allowed_origins: ['https://App.Example:443/', 'capacitor://localhost'] },
      login_limits: { open_flows_per_address: OPEN_FLOWS },
    },
  }));
  const own = (): string => fixture.server().httpUrl;
  /** A socket whose upgrade carries `origin` (a raw header, as a browser would send it), hello consumed. */
  const openFrom = async (origin: string, localAddress?: string): Promise<RawClient> =>
    fixture.track((await RawClient.open(fixture.server().url, { headers: { Origin: origin }, ...(localAddress === undefined ? {} : { localAddress }) })).client);

  describe('on the socket', function () {
    it('answers every login command of a foreign page origin_not_allowed, naming http.cors_allowed_origins, and lets it auth with a token', async function () {
      const client = await openFrom(FOREIGN);
      const flowId = '0'.repeat(32);
      const commands: Array<Record<string, unknown>> = [
        { type: 'auth/providers' },
        { type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID },
        { type: 'login_flow/step', flow_id: flowId, client_id: CLIENT_ID, user_input: { username: 'alice', password: 'wonderland' } },
        { type: 'login_flow/get', flow_id: flowId, client_id: CLIENT_ID },
        { type: 'login_flow/abort', flow_id: flowId, client_id: CLIENT_ID },
        { type: 'auth/token', grant_type: 'authorization_code', code: flowId, client_id: CLIENT_ID },
      ];
      let id = 0;
      for (const command of commands) {
        id += 1;
        const reply = await client.command({ id, ...command });
        expect(reply, String(command['type'])).to.deep.equal({
          id,
          type: 'result',
          success: false,
          error: {
            code: 'origin_not_allowed',
            message: `${String(command['type'])} is refused to pages of ${FOREIGN}: list that origin in http.cors_allowed_origins to let it log in`,
          },
        });
      }
      // A page that already holds a token is no threat: the same socket authenticates with it.
      const tokens = await loginTokens(await fixture.open());
      client.send({ type: 'auth', access_token: tokens.access_token });
      expect(await client.next()).to.include({ type: 'auth_ok' });
      const user: Reply = await client.command({ id: id + 1, type: 'auth/current_user' });
      expect(user).to.deep.include({ success: true });
      expect(user['result']).to.include({ name: 'Alice Liddell' });
    });

    it("takes the null origin, another port or scheme of the server and look-alikes as foreign, not its own or listed ones", async function () {
      const port = fixture.server().port;
      // Served as a socket without Origin, in any spelling.
      const allowed = [own(), `HTTP://127.0.0.1:${port}`, 'https://app.example', 'https://APP.example:443', 'capacitor://localhost'];
      for (const origin of allowed) {
        const client = await openFrom(origin);
        const form: Reply = await client.command({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
        expect(form['result'], origin).to.include({ type: 'form', step_id: 'init' });
        await client.result({ type: 'login_flow/abort', flow_id: form['result'].flow_id, client_id: CLIENT_ID });
      }
      const foreign = ['null', `http://127.0.0.1:${port + 1}`, `https://127.0.0.1:${port}`, 'http://app.example', 'https://app.example.evil.example', 'https://evil.example/https://app.example'];
      for (const origin of foreign) {
        const client = await openFrom(origin);
        const reply = await client.command({ type: 'auth/providers' });
        expect(reply['error'], origin).to.include({ code: 'origin_not_allowed' });
      }
    });
  });

  describe('over HTTP (/auth/login_flow)', function () {
    it('answers a foreign Origin 403 origin_not_allowed and starts no flow', async function () {
      const from = '127.0.0.21';
      for (let n = 0; n < OPEN_FLOWS + 1; n++) {
        const refused = await postFrom(`${own()}/auth/login_flow`, from, { 'content-type': 'application/json', origin: FOREIGN }, START);
        expect(refused.status).to.equal(403);
        expect(refused.body).to.include({ code: 'origin_not_allowed' });
        expect(refused.body['message']).to.match(/http\.cors_allowed_origins/);
      }
      const step = await postFrom(`${own()}/auth/login_flow/${'0'.repeat(32)}`, from, { 'content-type': 'application/json', origin: FOREIGN }, JSON.stringify({ client_id: CLIENT_ID }));
      expect(step.status).to.equal(403);
      // The address's open flows are all still free.
      for (let n = 0; n < OPEN_FLOWS; n++) expect((await postFrom(`${own()}/auth/login_flow`, from, { 'content-type': 'application/json' }, START)).status).to.equal(200);
    });

    it('answers a body that is not application/json 415, whatever the Origin, and starts no flow', async function () {
      const from = '127.0.0.22';
      const simpleTypes = ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'];
      for (const type of simpleTypes) {
        for (const origin of [undefined, own()]) {
          const refused = await postFrom(`${own()}/auth/login_flow`, from, { 'content-type': type, ...(origin === undefined ? {} : { origin }) }, START);
          expect(refused.status, `${type} from ${origin ?? 'no origin'}`).to.equal(415);
        }
      }
      expect((await postFrom(`${own()}/auth/login_flow/${'0'.repeat(32)}`, from, { 'content-type': 'text/plain' }, JSON.stringify({ client_id: CLIENT_ID }))).status).to.equal(415);
      const sameOrigin = await postFrom(`${own()}/auth/login_flow`, from, { 'content-type': 'application/json; charset=utf-8', origin: own() }, START);
      expect(sameOrigin.status).to.equal(200);
      expect((await postFrom(`${own()}/auth/login_flow`, from, { 'content-type': 'application/json' }, START)).status).to.equal(200);
    });
  });
});

describe('The origin rule behind a trusted proxy', function () {
  const fixture = useServer(() => ({
    config: { ...EXAMPLE_CONFIG, http: { use_x_forwarded_for: true, trusted_proxies: ['127.0.0.1'] } },
  }));
  const initFrom = async (headers: Record<string, string>, localAddress = '127.0.0.1'): Promise<Reply> => {
    const client = fixture.track((await RawClient.open(fixture.server().url, { headers, localAddress })).client);
    return client.command({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
  };

  it("takes the scheme and host the proxy says (X-Forwarded-Proto, X-Forwarded-Host) as the server's own", async function () {
    const proxied = { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'auth.example' };
    expect(await initFrom({ ...proxied, Origin: 'https://auth.example' })).to.include({ success: true });
    expect((await initFrom({ ...proxied, Origin: 'http://auth.example' }))['error']).to.include({ code: 'origin_not_allowed' });
    expect((await initFrom({ ...proxied, Origin: `http://127.0.0.1:${fixture.server().port}` }))['error']).to.include({ code: 'origin_not_allowed' });
  });

  it('believes no X-Forwarded-Host from a peer that is not a trusted proxy', async function () {
    const forged = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example', Origin: 'https://evil.example' };
    expect((await initFrom(forged, '127.0.0.2'))['error']).to.include({ code: 'origin_not_allowed' });
  });
});
