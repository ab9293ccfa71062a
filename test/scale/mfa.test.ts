/**
 * Multi-factor login on three real instances sharing one real Redis: modules set up over the socket, the password step on one
 * instance and the code on another, one-time codes used once, retries, expiry, removal. Codes are computed from the secret the
 * setup form shows, as an authenticator app would.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { authenticator } from 'otplib';
import { eventually, startInstances, type Instances } from '../helpers/instances.js';
import { startSmtpServer, startWebhookReceiver, type SmtpReceiver, type WebhookReceiver } from '../helpers/mail-and-webhook.js';
import { RawClient } from '../helpers/raw-client.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { EXAMPLE_CONFIG } from '../helpers/server-process.js';

const CLIENT_ID = 'https://dashboard.example/';
const HANDLER = ['insecure_example', null];
type Reply = Record<string, any>;

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina'].map((username) => ({ username, password: `${username}-pw`, name: username }));
const credentials = (username: string) => ({ username, password: `${username}-pw` });

/**
 * The TOTP code for `secret` at `at` (ms), as an authenticator app shows it. Logins below use the next time step's code (the
 * window takes one step each way): the setup may just have used the current one, and each step is taken once.
 */
function totp(secret: string, at = Date.now()): string {
  authenticator.options = { epoch: at };
  try {
    return authenticator.generate(secret);
  } finally {
    authenticator.resetOptions();
  }
}

describe('Multi-factor login across instances', function () {
  this.timeout(120_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  const url = (n: number): string => instances!.at(n % 3).url;

  before(async function () {
    instances = await startInstances(3, redis().url, {
      config: {
        ...EXAMPLE_CONFIG,
        auth_providers: [{ type: 'insecure_example', users: USERS }],
        mfa_modules: [{ type: 'totp', secret_key: randomBytes(32).toString('base64') }, { type: 'recovery' }],
        // Short, so the expiry test waits a second and a half rather than five minutes.
        mfa: { session_seconds: 1.5 },
        websocket: { max_flow_starts_per_minute: 0 },
      },
    });
  });
  after(async function () {
    await instances?.stop();
  });

  /** An authenticated socket on instance `n` for `username`, logged in without MFA (before any module is set up). */
  async function signedIn(n: number, username: string): Promise<RawClient> {
    const { client } = await RawClient.open(url(n));
    const init: Reply = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    const done: Reply = await client.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: credentials(username) });
    expect(done['type']).to.equal('create_entry');
    const tokens: Reply = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: CLIENT_ID });
    client.send({ type: 'auth', access_token: tokens['access_token'] });
    expect(await client.next()).to.deep.include({ type: 'auth_ok' });
    return client;
  }

  /** Sets TOTP up for `username`, starting on one instance and finishing on another; returns the secret. */
  async function setUpTotp(username: string): Promise<string> {
    const a = await signedIn(0, username);
    const b = await signedIn(1, username);
    try {
      const form: Reply = await a.result({ type: 'auth/setup_mfa', mfa_module_id: 'totp' });
      expect(form).to.deep.include({ type: 'form', step_id: 'init' });
      const secret = String(form['description_placeholders'].code);
      expect(form['description_placeholders'].url).to.match(new RegExp(`^otpauth://totp/.+\\?.*secret=${secret}`));
      expect(form['description_placeholders'].qr_code).to.match(/^<svg[\s\S]*<\/svg>\s*$/);
      const wrong: Reply = await b.result({ type: 'auth/setup_mfa', flow_id: form['flow_id'], user_input: { code: '000000' } });
      expect(wrong['errors']).to.deep.equal({ base: 'invalid_code' });
      const entry: Reply = await b.result({ type: 'auth/setup_mfa', flow_id: form['flow_id'], user_input: { code: totp(secret) } });
      expect(entry).to.deep.include({ type: 'create_entry', title: 'Authenticator app' });
      return secret;
    } finally {
      a.close();
      b.close();
    }
  }

  /** The password step on instance `n`: the reply (an MFA form when the user has modules set up). */
  async function passwordStep(n: number, username: string): Promise<{ client: RawClient; reply: Reply }> {
    const { client } = await RawClient.open(url(n));
    const init: Reply = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    const reply: Reply = await client.command({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: credentials(username) });
    return { client, reply };
  }

  /** One answer to a flow's current step, on instance `n`. */
  async function answer(n: number, flowId: string, input: Record<string, unknown>): Promise<Reply> {
    const { client } = await RawClient.open(url(n));
    try {
      return await client.command({ type: 'login_flow/step', flow_id: flowId, client_id: CLIENT_ID, user_input: input });
    } finally {
      client.close();
    }
  }

  it('sets up TOTP over the socket, then asks for the code after the password; the code, on another instance, logs in', async function () {
    const secret = await setUpTotp('alice');
    const { client, reply } = await passwordStep(0, 'alice');
    client.close();
    expect(reply['result']).to.deep.include({
      type: 'form',
      step_id: 'mfa',
      handler: HANDLER,
      description_placeholders: { mfa_module_name: 'Authenticator app', mfa_module_id: 'totp' },
    });
    expect(reply['result'].data_schema.map((field: Reply) => field['name'])).to.deep.equal(['code']);
    const done = await answer(1, reply['result'].flow_id, { code: totp(secret, Date.now() + 30_000) });
    expect(done['result']).to.deep.include({ type: 'create_entry', handler: HANDLER });
    const { client: exchanger } = await RawClient.open(url(2));
    const tokens: Reply = await exchanger.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'].result, client_id: CLIENT_ID });
    exchanger.close();
    expect(tokens['access_token']).to.be.a('string');
  });

  it('refuses a code used once already, even on another instance and in another flow', async function () {
    const secret = await setUpTotp('bob');
    const code = totp(secret, Date.now() + 30_000);
    const first = await passwordStep(0, 'bob');
    first.client.close();
    expect((await answer(1, first.reply['result'].flow_id, { code }))['result'].type).to.equal('create_entry');
    const second = await passwordStep(2, 'bob');
    second.client.close();
    const replayed = await answer(0, second.reply['result'].flow_id, { code });
    expect(replayed['result']).to.deep.include({ type: 'form', step_id: 'mfa', errors: { base: 'invalid_code' } });
  });

  it('aborts with too_many_retry after five wrong codes, each counted by the login limits', async function () {
    await setUpTotp('carol');
    const { client, reply } = await passwordStep(1, 'carol');
    client.close();
    const flowId = reply['result'].flow_id;
    for (let n = 0; n < 4; n++) expect((await answer(n, flowId, { code: '000000' }))['result'].errors).to.deep.equal({ base: 'invalid_code' });
    expect((await answer(2, flowId, { code: '000000' }))['result']).to.deep.include({ type: 'abort', reason: 'too_many_retry' });
    const failures = () =>
      instances!.all.flatMap((instance) => instance.logs).filter((line) => line['event'] === 'login_failed' && line['username'] === 'carol');
    // The log lines come over the processes' stdout: the last may still be on its way when the reply arrives.
    await eventually(async () => failures().length >= 5, 5_000, 'five login_failed lines');
    expect(failures().map((line) => line['reason']).sort()).to.deep.equal(['invalid_code', 'invalid_code', 'invalid_code', 'invalid_code', 'too_many_retry']);
  });

  it('aborts with login_expired when the code comes after the MFA session (from the flow start)', async function () {
    const secret = await setUpTotp('dave');
    const { client, reply } = await passwordStep(2, 'dave');
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 1_700));
    expect((await answer(0, reply['result'].flow_id, { code: totp(secret) }))['result']).to.deep.include({ type: 'abort', reason: 'login_expired' });
  });

  it('offers a choice between modules, takes a recovery code once only, and lists it all in auth/current_user', async function () {
    // Signed in before TOTP is set up: from then on a login needs a code.
    const socket = await signedIn(1, 'erin');
    const secret = await setUpTotp('erin');
    const recovery: Reply = await socket.result({ type: 'auth/setup_mfa', mfa_module_id: 'recovery' });
    // The codes are made once the setup commits and shown in its entry only: never kept in clear in the stored flow.
    const saved: Reply = await socket.result({ type: 'auth/setup_mfa', flow_id: recovery['flow_id'], user_input: {} });
    expect(saved).to.deep.include({ type: 'create_entry', title: 'Recovery codes' });
    const codes = saved['data'].codes as string[];
    expect(codes).to.have.length(10);
    expect(((await socket.result({ type: 'auth/current_user' })) as Reply)['mfa_modules']).to.deep.equal([
      { id: 'totp', name: 'Authenticator app', enabled: true },
      { id: 'recovery', name: 'Recovery codes', enabled: true },
    ]);

    const useRecoveryCode = async (code: string): Promise<Reply> => {
      const { client, reply } = await passwordStep(0, 'erin');
      client.close();
      expect(reply['result']).to.deep.include({ step_id: 'select_mfa_module' });
      expect(reply['result'].data_schema[0]).to.deep.include({ name: 'multi_factor_auth_module', options: [['totp', 'Authenticator app'], ['recovery', 'Recovery codes']] });
      const unknown = await answer(1, reply['result'].flow_id, { multi_factor_auth_module: 'sms' });
      expect(unknown['result'].errors).to.deep.equal({ base: 'invalid_auth_module' });
      const chosen = await answer(2, reply['result'].flow_id, { multi_factor_auth_module: 'recovery' });
      expect(chosen['result']).to.deep.include({ step_id: 'mfa', description_placeholders: { mfa_module_name: 'Recovery codes', mfa_module_id: 'recovery' } });
      return answer(0, reply['result'].flow_id, { code });
    };
    expect((await useRecoveryCode(codes[3]!))['result'].type).to.equal('create_entry');
    expect((await useRecoveryCode(codes[3]!))['result'].errors).to.deep.equal({ base: 'invalid_code' });

    // Deposing TOTP leaves recovery alone; deposing that too removes the MFA steps from the login.
    expect(await socket.result({ type: 'auth/depose_mfa', mfa_module_id: 'totp' })).to.equal('done');
    expect(((await socket.result({ type: 'auth/current_user' })) as Reply)['mfa_modules'][0]).to.deep.equal({ id: 'totp', name: 'Authenticator app', enabled: false });
    const onlyRecovery = await passwordStep(1, 'erin');
    onlyRecovery.client.close();
    expect(onlyRecovery.reply['result']).to.deep.include({ step_id: 'mfa', description_placeholders: { mfa_module_name: 'Recovery codes', mfa_module_id: 'recovery' } });
    expect(await socket.result({ type: 'auth/depose_mfa', mfa_module_id: 'recovery' })).to.equal('done');
    const none = await passwordStep(2, 'erin');
    none.client.close();
    expect(none.reply['result'].type).to.equal('create_entry');
    // Each change was one audit line on the instance that made it.
    const changes = () =>
      instances!.all
        .flatMap((instance) => instance.logs)
        .filter((line) => String(line['event']).startsWith('mfa_') && typeof line['user_id'] === 'string')
        .map((line) => `${String(line['event'])} ${String(line['module'])}`);
    await eventually(async () => changes().filter((c) => c === 'mfa_disabled recovery').length > 0, 5_000, 'the audit lines');
    expect(changes()).to.include.members(['mfa_enabled totp', 'mfa_enabled recovery', 'mfa_disabled totp', 'mfa_disabled recovery']);
    expect(secret).to.be.a('string');
    socket.close();
  });

  it('answers no_module for a module that is not configured, and keeps setup flows to their own user', async function () {
    const frank = await signedIn(0, 'frank');
    const alice = await signedIn(1, 'gina');
    try {
      const refused: Reply = await frank.command({ type: 'auth/setup_mfa', mfa_module_id: 'sms' });
      expect(refused['error']).to.deep.include({ code: 'no_module', message: 'MFA module sms is not found' });
      expect(((await frank.command({ type: 'auth/depose_mfa', mfa_module_id: 'sms' })) as Reply)['error'].code).to.equal('no_module');
      expect(((await frank.command({ type: 'auth/setup_mfa', mfa_module_id: 'totp', flow_id: 'x' })) as Reply)['error'].code).to.equal('invalid_format');
      const started: Reply = await frank.result({ type: 'auth/setup_mfa', mfa_module_id: 'totp' });
      const stolen: Reply = await alice.command({ type: 'auth/setup_mfa', flow_id: started['flow_id'], user_input: { code: '123456' } });
      expect(stolen['error'].code).to.equal('not_found');
      // An MFA handler is never a way in by itself.
      const direct: Reply = await frank.command({ type: 'login_flow/init', handler: ['mfa', null], client_id: CLIENT_ID });
      expect(direct['error'].code).to.equal('not_found');
    } finally {
      frank.close();
      alice.close();
    }
  });
});

describe('Multi-factor login with codes sent by notifiers', function () {
  this.timeout(120_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  let webhook: WebhookReceiver | undefined;
  let smtp: SmtpReceiver | undefined;
  const url = (n: number): string => instances!.at(n % 2).url;

  before(async function () {
    webhook = await startWebhookReceiver();
    smtp = await startSmtpServer();
    instances = await startInstances(2, redis().url, {
      config: {
        ...EXAMPLE_CONFIG,
        auth_providers: [{ type: 'insecure_example', users: USERS }],
        mfa_modules: [
          { type: 'notify', id: 'webhook', name: 'Code by webhook', webhook: { url: webhook.url, secret_header: { name: 'X-Flowgate-Secret', value: 's3cret' } } },
          { type: 'notify', id: 'email', name: 'Code by e-mail', smtp: smtp.config() },
        ],
        websocket: { max_flow_starts_per_minute: 0 },
      },
    });
  });
  after(async function () {
    await instances?.stop();
    await webhook?.stop();
    await smtp?.stop();
  });

  async function socketFor(n: number, username: string): Promise<RawClient> {
    const { client } = await RawClient.open(url(n));
    const init: Reply = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    const done: Reply = await client.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: credentials(username) });
    const tokens: Reply = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: CLIENT_ID });
    client.send({ type: 'auth', access_token: tokens['access_token'] });
    expect(await client.next()).to.deep.include({ type: 'auth_ok' });
    return client;
  }

  const codeIn = (text: string): string => /\b(\d{6})\b/.exec(text)?.[1] ?? '';

  /** Sets the webhook module up for `username` over the socket, with the code the webhook received. */
  async function setUpWebhook(username: string): Promise<void> {
    const socket = await socketFor(1, username);
    const form: Reply = await socket.result({ type: 'auth/setup_mfa', mfa_module_id: 'webhook' });
    await socket.result({ type: 'auth/setup_mfa', flow_id: form['flow_id'], user_input: { target: `${username}-phone` } });
    await socket.result({ type: 'auth/setup_mfa', flow_id: form['flow_id'], user_input: { code: webhook!.calls.at(-1)!.body.code } });
    socket.close();
  }

  it('sets up both notifiers over the socket and logs in with a code each delivers, checked on the other instance', async function () {
    const socket = await socketFor(0, 'alice');
    // Webhook: the target, then the code it POSTed (with the secret header), typed back on the other instance.
    const hookForm: Reply = await socket.result({ type: 'auth/setup_mfa', mfa_module_id: 'webhook' });
    const asked: Reply = await socket.result({ type: 'auth/setup_mfa', flow_id: hookForm['flow_id'], user_input: { target: 'alice-phone' } });
    expect(asked).to.deep.include({ step_id: 'setup' });
    const call = webhook!.calls.at(-1)!;
    expect(call.headers['x-flowgate-secret']).to.equal('s3cret');
    expect(call.body).to.deep.include({ target: 'alice-phone' });
    expect(await socket.result({ type: 'auth/setup_mfa', flow_id: hookForm['flow_id'], user_input: { code: call.body.code } })).to.deep.include({ type: 'create_entry' });
    // SMTP: the e-mail to the target holds the code.
    const mailForm: Reply = await socket.result({ type: 'auth/setup_mfa', mfa_module_id: 'email' });
    await socket.result({ type: 'auth/setup_mfa', flow_id: mailForm['flow_id'], user_input: { target: 'alice@example.com' } });
    const setupMail = smtp!.messages.at(-1)!;
    expect(setupMail.rcptTo).to.deep.equal(['alice@example.com']);
    expect(await socket.result({ type: 'auth/setup_mfa', flow_id: mailForm['flow_id'], user_input: { code: codeIn(setupMail.text) } })).to.deep.include({ type: 'create_entry' });
    socket.close();

    for (const [module, delivered] of [
      ['webhook', () => String(webhook!.calls.at(-1)!.body.code)],
      ['email', () => codeIn(smtp!.messages.at(-1)!.text)],
    ] as const) {
      const { client } = await RawClient.open(url(0));
      const init: Reply = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
      const select: Reply = await client.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: credentials('alice') });
      expect(select['step_id']).to.equal('select_mfa_module');
      client.close();
      const other = (await RawClient.open(url(1))).client;
      const form: Reply = await other.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: { multi_factor_auth_module: module } });
      expect(form).to.deep.include({ step_id: 'mfa' });
      const code = delivered();
      // A wrong code does not send another.
      const sentBefore = webhook!.calls.length + smtp!.messages.length;
      const wrong: Reply = await other.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: { code: code === '000000' ? '111111' : '000000' } });
      expect(wrong['errors']).to.deep.equal({ base: 'invalid_code' });
      expect(webhook!.calls.length + smtp!.messages.length).to.equal(sentBefore);
      const done: Reply = await other.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: { code } });
      expect(done['type'], module).to.equal('create_entry');
      other.close();
    }
  });

  it('aborts with too_many_retry after three wrong codes, sending no code after the first', async function () {
    await setUpWebhook('carol');
    const { client } = await RawClient.open(url(1));
    const init: Reply = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
    const form: Reply = await client.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: credentials('carol') });
    expect(form).to.deep.include({ step_id: 'mfa' });
    const sent = webhook!.calls.length;
    const code = String(webhook!.calls.at(-1)!.body.code);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let n = 0; n < 2; n++) {
      const reply: Reply = await client.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: { code: wrong } });
      expect(reply['errors']).to.deep.equal({ base: 'invalid_code' });
    }
    const last: Reply = await client.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: { code: wrong } });
    client.close();
    expect(last).to.deep.include({ type: 'abort', reason: 'too_many_retry' });
    expect(webhook!.calls.length).to.equal(sent);
  });

  it('aborts the login with unknown_error when the webhook fails', async function () {
    await setUpWebhook('bob');
    webhook!.respondWith(500);
    try {
      const { client } = await RawClient.open(url(0));
      const init: Reply = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID });
      const reply: Reply = await client.result({ type: 'login_flow/step', flow_id: init['flow_id'], client_id: CLIENT_ID, user_input: credentials('bob') });
      client.close();
      expect(reply).to.deep.include({ type: 'abort', reason: 'unknown_error' });
    } finally {
      webhook!.respondWith(204);
    }
  });
});
