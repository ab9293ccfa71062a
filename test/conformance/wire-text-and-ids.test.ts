/**
 * What a frame may carry, attacked with raw frames and raw HTTP on a real server process: an id past 2^53 - 1 (which JSON
 * reads as another number) and strings with lone surrogates (which UTF-8 turns into U+FFFD, so `\ud800` and `\udbff` would
 * be the same password) are refused as `invalid_format` (HTTP: 400), and the socket keeps serving.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { authenticatedSocket, TEST_CLIENT_ID } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { runFlowgate, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const CONFIG = { auth_providers: [{ type: 'password', argon2: { memory_kib: 1024, time_cost: 1, parallelism: 1 } }] };
const OWNER = { username: 'olivia', password: 'olivia-has-a-long-password' };
const HANDLER = ['password', null];
/** Two passwords that differ only in their lone surrogate: as UTF-8 both are `surrogate-pass-` U+FFFD. */
const LONE_HIGH = 'surrogate-pass-\ud800';
const LONE_OTHER = 'surrogate-pass-\udbff';

type Reply = Record<string, unknown> & { success?: boolean; error?: { code: string; message: string }; result?: unknown };

describe('Ids and text a frame may carry (real server process)', function () {
  this.timeout(30_000);
  let server: ServerProcess;
  let owner: RawClient;
  const clients: RawClient[] = [];
  const open = async (): Promise<RawClient> => {
    const { client } = await RawClient.open(server.url);
    clients.push(client);
    return client;
  };

  before(async function () {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-wire-text-'));
    const configPath = join(dir, 'flowgate.yaml');
    writeFileSync(configPath, stringify(CONFIG));
    const added = await runFlowgate(['user', 'add', OWNER.username, '--admin', '--password-stdin', '--config', configPath], {}, dir, `${OWNER.password}\n`);
    expect(added.code, added.stderr).to.equal(0);
    server = await startServerProcess({ config: CONFIG, dir });
    const login = await open();
    const form = await login.result({ type: 'login_flow/init', handler: HANDLER, client_id: TEST_CLIENT_ID });
    const done = await login.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: OWNER });
    const tokens = await login.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: TEST_CLIENT_ID });
    owner = await authenticatedSocket(server.url, String(tokens['access_token']));
    clients.push(owner);
  });
  after(async function () {
    clients.forEach((client) => client.close());
    await server?.stop();
  });

  describe('message ids', function () {
    it('answers id 9007199254740993 with invalid_format and id 0, and the socket keeps working with id 2', async function () {
      const client = await open();
      client.sendRaw('{"id": 9007199254740993, "type": "ping"}');
      const refused = (await client.next()) as Reply;
      expect(refused).to.deep.include({ id: 0, type: 'result', success: false });
      expect(refused.error?.code).to.equal('invalid_format');
      client.sendRaw('{"id": 2, "type": "ping"}');
      expect(await client.next()).to.deep.equal({ id: 2, type: 'pong' });
    });

    it('takes the largest safe id, 9007199254740991, and answers it under that same id', async function () {
      const client = await open();
      client.sendRaw('{"id": 9007199254740991, "type": "ping"}');
      expect(await client.next()).to.deep.equal({ id: Number.MAX_SAFE_INTEGER, type: 'pong' });
    });
  });

  describe('lone surrogates', function () {
    it('refuses a password set with \\ud800 (config/auth_provider/password/create) as invalid_format, and sets no login', async function () {
      const user = (await owner.result({ type: 'config/auth/create', name: 'Surrogate Sam' })) as { user: { id: string } };
      const reply = (await owner.command({ type: 'config/auth_provider/password/create', user_id: user.user.id, username: 'sam', password: LONE_HIGH })) as Reply;
      expect(reply.error?.code, JSON.stringify(reply)).to.equal('invalid_format');
      // Nothing was set: the user has no password login that the other half-pair (or anything) could open.
      const listed = (await owner.result({ type: 'config/auth/list' })) as unknown as Array<Record<string, unknown>>;
      expect(listed.find((entry) => entry['id'] === user.user.id)).to.deep.include({ username: null, credentials: [] });
    });

    it('refuses change_password and admin_change_password with a lone surrogate as invalid_format', async function () {
      const ownerId = ((await owner.result({ type: 'auth/current_user' })) as { id: string }).id;
      const change = (await owner.command({ type: 'config/auth_provider/password/change_password', current_password: OWNER.password, new_password: LONE_OTHER })) as Reply;
      expect(change.error?.code, JSON.stringify(change)).to.equal('invalid_format');
      const admin = (await owner.command({ type: 'config/auth_provider/password/admin_change_password', user_id: ownerId, password: LONE_HIGH })) as Reply;
      expect(admin.error?.code, JSON.stringify(admin)).to.equal('invalid_format');
    });

    it('refuses login_flow/step with a lone surrogate in user_input as invalid_format, and the flow goes on', async function () {
      const client = await open();
      const form = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: TEST_CLIENT_ID });
      for (const password of [LONE_HIGH, '\udc00', `${OWNER.password}\udfff`]) {
        const reply = (await client.command({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: { ...OWNER, password } })) as Reply;
        expect(reply.error?.code, JSON.stringify(reply)).to.equal('invalid_format');
      }
      const done = await client.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: OWNER });
      expect(done['type']).to.equal('create_entry');
    });

    it('refuses a lone surrogate in any string of an HTTP login body, and bytes that are not UTF-8, with 400', async function () {
      const post = (path: string, body: string): Promise<Response> =>
        fetch(`${server.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const started = await post('/auth/login_flow', JSON.stringify({ client_id: TEST_CLIENT_ID, handler: HANDLER, redirect_uri: `${TEST_CLIENT_ID}cb` }));
      expect(started.status).to.equal(200);
      const flowId = String(((await started.json()) as Record<string, unknown>)['flow_id']);
      // JSON.stringify writes the lone surrogate as the escape \ud800: valid JSON, no Unicode text.
      const lone = await post(`/auth/login_flow/${flowId}`, JSON.stringify({ client_id: TEST_CLIENT_ID, username: OWNER.username, password: LONE_HIGH }));
      expect(lone.status).to.equal(400);
      const nested = await post(`/auth/login_flow/${flowId}`, JSON.stringify({ client_id: TEST_CLIENT_ID, ...OWNER, extra: { deep: ['\udbff'] } }));
      expect(nested.status).to.equal(400);
      const rawBytes = Buffer.concat([Buffer.from(`{"client_id": "${TEST_CLIENT_ID}", "username": "olivia", "password": "`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
      const invalid = await fetch(`${server.httpUrl}/auth/login_flow/${flowId}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: rawBytes });
      expect(invalid.status).to.equal(400);
      // The flow was not touched by the refused bodies: the right password still finishes it.
      const done = await post(`/auth/login_flow/${flowId}`, JSON.stringify({ client_id: TEST_CLIENT_ID, ...OWNER }));
      expect(((await done.json()) as Record<string, unknown>)['type']).to.equal('create_entry');
    });
  });
});
