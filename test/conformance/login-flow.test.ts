/** Raw-frame conformance of a whole insecure_example login, on both stores, against real `flowgate serve` processes. */
import { expect } from 'chai';
import { RawClient } from '../helpers/raw-client.js';
import { redisTestUrl } from '../helpers/stores.js';
import { EXAMPLE_CONFIG } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';

const HANDLER = ['insecure_example', null];
const CLIENT_ID = 'https://dashboard.example/';
const HEX_128 = /^[0-9a-f]{32}$/;

const LOGIN_SCHEMA = [
  { name: 'username', type: 'string', required: true },
  { name: 'password', type: 'string', required: true },
];

for (const backend of ['embedded', 'redis'] as const) {
  describe(`Login flow over the socket (${backend} store)`, function () {
    const { open } = useServer(() => ({
      config: { ...EXAMPLE_CONFIG, login_flow: { ttl_seconds: 60 } },
      ...(backend === 'redis' ? { store: redisTestUrl() } : {}),
    }));
    const init = (client: RawClient, clientId = CLIENT_ID) =>
      client.result({ type: 'login_flow/init', handler: HANDLER, client_id: clientId });
    const step = (client: RawClient, flowId: unknown, userInput: Record<string, unknown>, clientId = CLIENT_ID) =>
      client.command({ type: 'login_flow/step', flow_id: flowId, client_id: clientId, user_input: userInput });

    it('lists the configured providers', async function () {
      const client = await open();
      expect(await client.command({ id: 1, type: 'auth/providers' })).to.deep.equal({
        id: 1,
        type: 'result',
        success: true,
        result: [{ type: 'insecure_example', id: null, name: 'Example accounts' }],
      });
    });

    it('starts a flow with a form asking username and password, expiring at the configured time', async function () {
      const client = await open();
      const before = Date.now();
      const form = await init(client);
      expect(form).to.have.all.keys(
        'type', 'flow_id', 'handler', 'step_id', 'data_schema', 'errors', 'description_placeholders', 'last_step', 'expires_at',
      );
      expect(form).to.deep.include({
        type: 'form',
        handler: HANDLER,
        step_id: 'init',
        data_schema: LOGIN_SCHEMA,
        errors: null,
        description_placeholders: null,
        last_step: null,
      });
      expect(form['flow_id']).to.match(HEX_128);
      const expiresAt = Date.parse(String(form['expires_at']));
      expect(expiresAt).to.be.within(before + 60_000 - 50, Date.now() + 60_000 + 50);
    });

    it('answers a wrong password and an unknown user with the same invalid_auth form', async function () {
      const client = await open();
      const form = await init(client);
      const wrongPassword = (await step(client, form['flow_id'], { username: 'alice', password: 'nope' }))['result'] as any;
      const unknownUser = (await step(client, form['flow_id'], { username: 'mallory', password: 'wonderland' }))['result'] as any;
      expect(wrongPassword.errors).to.deep.equal({ base: 'invalid_auth' });
      expect(unknownUser).to.deep.equal(wrongPassword);
      expect(wrongPassword).to.deep.include({ type: 'form', step_id: 'init', flow_id: form['flow_id'], data_schema: LOGIN_SCHEMA });
    });

    it('answers a missing or mistyped field with the same form and an error on that field', async function () {
      const client = await open();
      const form = await init(client);
      const missing = (await step(client, form['flow_id'], { username: 'alice' }))['result'] as any;
      expect(missing).to.deep.include({ type: 'form', step_id: 'init', errors: { password: 'required' } });
      const mistyped = (await step(client, form['flow_id'], { username: 42, password: 'wonderland' }))['result'] as any;
      expect(mistyped.errors).to.deep.equal({ username: 'invalid_type' });
      const extra = (await step(client, form['flow_id'], { username: 'alice', password: 'wonderland', otp: '1' }))['result'] as any;
      expect(extra.errors).to.deep.equal({ otp: 'unknown_field' });
    });

    it('finishes with create_entry carrying a code, after which the flow is gone', async function () {
      const client = await open();
      const form = await init(client);
      await step(client, form['flow_id'], { username: 'alice', password: 'nope' });
      const done = (await step(client, form['flow_id'], { username: 'alice', password: 'wonderland' }))['result'] as any;
      expect(done).to.have.all.keys('type', 'flow_id', 'handler', 'result');
      expect(done).to.deep.include({ type: 'create_entry', flow_id: form['flow_id'], handler: HANDLER });
      expect(done.result).to.match(HEX_128);
      const after = (await step(client, form['flow_id'], { username: 'alice', password: 'wonderland' })) as any;
      expect(after.error.code).to.equal('not_found');
    });

    it('resumes a flow on another socket with login_flow/get', async function () {
      const first = await open();
      const form = await init(first);
      await step(first, form['flow_id'], { username: 'alice', password: 'nope' });
      first.close();
      const second = await open();
      const resumed = await second.result({ type: 'login_flow/get', flow_id: form['flow_id'], client_id: CLIENT_ID });
      expect(resumed).to.deep.include({ type: 'form', flow_id: form['flow_id'], step_id: 'init', errors: { base: 'invalid_auth' } });
      const done = (await step(second, form['flow_id'], { username: 'alice', password: 'wonderland' }))['result'] as any;
      expect(done.type).to.equal('create_entry');
    });

    it('answers not_found to another client_id, exactly as for an unknown flow', async function () {
      const client = await open();
      const form = await init(client);
      const other = await client.command({ type: 'login_flow/get', flow_id: form['flow_id'], client_id: 'https://evil.example/' });
      const unknown = await client.command({ type: 'login_flow/get', flow_id: 'f'.repeat(32), client_id: CLIENT_ID });
      expect((other as any).error).to.deep.equal((unknown as any).error);
      expect((other as any).error.code).to.equal('not_found');
      const stepOther = await step(client, form['flow_id'], { username: 'alice', password: 'wonderland' }, 'https://evil.example/');
      expect((stepOther as any).error.code).to.equal('not_found');
      // The owner can still finish it.
      expect(((await step(client, form['flow_id'], { username: 'alice', password: 'wonderland' }))['result'] as any).type).to.equal('create_entry');
    });

    it('aborts a flow, after which it is gone', async function () {
      const client = await open();
      const form = await init(client);
      expect(await client.result({ type: 'login_flow/abort', flow_id: form['flow_id'], client_id: CLIENT_ID })).to.equal(null);
      const after = await client.command({ type: 'login_flow/get', flow_id: form['flow_id'], client_id: CLIENT_ID });
      expect((after as any).error.code).to.equal('not_found');
    });

    it('answers not_found for an unknown handler', async function () {
      const client = await open();
      const reply = (await client.command({ type: 'login_flow/init', handler: ['password', null], client_id: CLIENT_ID })) as any;
      expect(reply.error.code).to.equal('not_found');
    });

    it('applies one of two racing final steps; the other gets conflict or not_found', async function () {
      const a = await open();
      const b = await open();
      const form = await init(a);
      const input = { username: 'alice', password: 'wonderland' };
      const [ra, rb] = await Promise.all([step(a, form['flow_id'], input), step(b, form['flow_id'], input)]);
      const outcomes = [ra, rb].map((r: any) => (r.success ? r.result.type : r.error.code));
      expect(outcomes.filter((o) => o === 'create_entry')).to.have.length(1);
      expect(outcomes.filter((o) => o === 'conflict' || o === 'not_found')).to.have.length(1);
    });

    describe('with a 1 s flow lifetime', function () {
      const short = useServer(() => ({
        config: { ...EXAMPLE_CONFIG, login_flow: { ttl_seconds: 1 } },
        ...(backend === 'redis' ? { store: redisTestUrl() } : {}),
      }));

      it('forgets a flow once it expires', async function () {
        const client = await short.open();
        const form = await init(client);
        await new Promise((resolve) => setTimeout(resolve, 1100));
        const reply = (await step(client, form['flow_id'], { username: 'alice', password: 'wonderland' })) as any;
        expect(reply.error.code).to.equal('not_found');
      });
    });
  });
}
