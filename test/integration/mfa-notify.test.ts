/** The notify MFA module against a real webhook receiver, a real SMTP server and real stores: setup flows, login codes, config. */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlowResult } from '@flowgate/shared';
import { ConfigError, loadConfig } from '../../server/src/config/config.js';
import { FlowManager } from '../../server/src/flow/index.js';
import { MfaSetupContext, type MfaModule } from '../../server/src/mfa/module.js';
import { NotifyError } from '../../server/src/mfa/notifiers.js';
import { createNotifyModule, NotifyConfig, type NotifyOptions } from '../../server/src/mfa/notify.js';
import type { JsonObject, Store } from '../../server/src/store/types.js';
import { startSmtpServer, startWebhookReceiver, type SmtpReceiver, type WebhookReceiver } from '../helpers/mail-and-webhook.js';
import { testServerSecret } from '../helpers/server-secret.js';
import { BACKENDS, freshStore } from '../helpers/stores.js';

const USER: MfaSetupContext = { userId: 'user-1', userName: 'Ada' };
const SECRET_HEADER = { name: 'X-Flowgate-Secret', value: 's3cret-value' };

/** A port nothing listens on: bound, read, and closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function decodeConfig(raw: unknown): NotifyConfig {
  const decoded = NotifyConfig.decode(raw);
  if (decoded._tag === 'Left') throw new Error('test config does not decode');
  return decoded.right;
}

/** The module on `store`, and a real setup-flow manager that hands a finished flow's data to `setupUser`, as auth does. */
function notifyOn(store: Store, config: Record<string, unknown>, options: NotifyOptions = {}) {
  const module = createNotifyModule(decodeConfig({ type: 'notify', ...config }), { store, leases: store, dataDir: tmpdir(), sharedStore: false, serverSecret: testServerSecret() }, options);
  const flows = new FlowManager<MfaSetupContext>({
    store,
    contextCodec: MfaSetupContext,
    resolveHandler: (key) => (key[0] === module.id && key[1] === null ? module.setupFlow : undefined),
    finish: async (flow, data) => ({ kind: 'create_entry', result: 'done', data: await module.setupUser(flow.context.userId, data) }),
  });
  const mine = (context: MfaSetupContext) => context.userId === USER.userId;
  return {
    module,
    start: () => flows.init([module.id, null], USER),
    step: (flowId: string, input: Record<string, unknown>) => flows.step(flowId, input, mine),
  };
}

const codeIn = (text: string): string => {
  const match = /\b(\d{6})\b/.exec(text);
  if (match?.[1] === undefined) throw new Error(`no code in ${JSON.stringify(text)}`);
  return match[1];
};
const lastWebhookCode = (receiver: WebhookReceiver): string => receiver.calls.at(-1)?.body.code as string;

/** A 6-digit code that is not `code`. */
const otherThan = (code: string): string => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

for (const backend of BACKENDS) {
  describe(`notify MFA module (${backend} store)`, function () {
    let store: Store;
    let webhook: WebhookReceiver;
    let smtp: SmtpReceiver;

    beforeEach(async function () {
      store = await freshStore(backend);
      webhook = await startWebhookReceiver();
      smtp = await startSmtpServer();
    });
    afterEach(async function () {
      await Promise.all([webhook.stop(), smtp.stop()]);
      await store.close();
    });

    const overWebhook = (options: NotifyOptions = {}, extra: Record<string, unknown> = {}) =>
      notifyOn(store, { webhook: { url: webhook.url, secret_header: SECRET_HEADER, timeout_seconds: 1, ...extra } }, options);

    describe('#setupFlow', function () {
      it('delivers a code over the webhook, with the secret header, that then finishes the setup', async function () {
        const { module, start, step } = overWebhook();
        const first = await start();
        expect(first).to.include({ type: 'form', step_id: 'init' });
        const asked = await step(first.flow_id, { target: '+15550100' });
        expect(asked).to.include({ type: 'form', step_id: 'setup' });
        expect(webhook.calls).to.have.length(1);
        const [call] = webhook.calls;
        expect(call?.method).to.equal('POST');
        expect(call?.headers['content-type']).to.equal('application/json');
        expect(call?.headers['x-flowgate-secret']).to.equal(SECRET_HEADER.value);
        expect(call?.body).to.have.keys(['message', 'target', 'code']);
        expect(call?.body.target).to.equal('+15550100');
        expect(call?.body.message).to.equal(`${call?.body.code} is your Flowgate login code`);

        const done = await step(first.flow_id, { code: lastWebhookCode(webhook) });
        expect(done).to.deep.include({ type: 'create_entry', data: {} });
        expect(await module.isUserSetup(USER.userId)).to.equal(true);
        expect((await store.getMfaSetting(USER.userId, 'notify'))?.data).to.deep.equal({ target: '+15550100' });
      });

      it('delivers an e-mail to the target whose text holds the code', async function () {
        const { module, start, step } = notifyOn(store, { smtp: smtp.config({ subject: 'Sign-in code' }), message: 'Your code: {}' });
        const first = await start();
        await step(first.flow_id, { target: 'ada@example.test' });
        expect(smtp.messages).to.have.length(1);
        const [mail] = smtp.messages;
        expect(mail?.rcptTo).to.deep.equal(['ada@example.test']);
        expect(mail?.mailFrom).to.equal('flowgate@example.test');
        expect(mail?.subject).to.equal('Sign-in code');
        expect(mail?.text).to.match(/^Your code: \d{6}$/);
        const done = await step(first.flow_id, { code: codeIn(mail?.text ?? '') });
        expect(done).to.include({ type: 'create_entry' });
        expect(await module.isUserSetup(USER.userId)).to.equal(true);
      });

      it('answers invalid_target for a target that is not one e-mail address, and sends nothing', async function () {
        const { start, step } = notifyOn(store, { smtp: smtp.config() });
        const first = await start();
        for (const target of ['not-an-address', 'a@b.test, c@d.test', 'Ada <ada@example.test>', 'ada@localhost']) {
          const again = await step(first.flow_id, { target });
          expect(again, target).to.deep.include({ type: 'form', step_id: 'init', errors: { target: 'invalid_target' } });
        }
        expect(smtp.messages).to.have.length(0);
      });

      it('answers invalid_code for a wrong code without sending another, and aborts too_many_retry at the third', async function () {
        const { module, start, step } = overWebhook();
        const first = await start();
        await step(first.flow_id, { target: 'ops-phone' });
        const wrong = otherThan(lastWebhookCode(webhook));
        for (let attempt = 1; attempt < 3; attempt += 1) {
          const again = await step(first.flow_id, { code: wrong });
          expect(again).to.deep.include({ type: 'form', step_id: 'setup', errors: { base: 'invalid_code' } });
        }
        expect(await step(first.flow_id, { code: wrong })).to.include({ type: 'abort', reason: 'too_many_retry' });
        expect(webhook.calls).to.have.length(1);
        expect(await module.isUserSetup(USER.userId)).to.equal(false);
      });

      it('keeps no code in clear in the flow state', async function () {
        const { start, step } = overWebhook();
        const first = await start();
        await step(first.flow_id, { target: 'ops-phone' });
        const stored = JSON.stringify((await store.getFlow(first.flow_id))?.data);
        expect(stored).to.include('ops-phone');
        expect(stored).not.to.include(lastWebhookCode(webhook));
      });

      const failures: Array<[string, (receiver: WebhookReceiver) => Promise<Record<string, unknown>>]> = [
        ['answers 500', async (receiver) => (receiver.respondWith(500), {})],
        ['is unreachable', async () => ({ url: `http://127.0.0.1:${await closedPort()}/hook` })],
        ['answers a redirect (not followed: it would take the code elsewhere)', async (receiver) => (receiver.respondWith(307), {})],
        ['answers after the timeout', async (receiver) => (receiver.respondWith(204, 3000), {})],
      ];
      for (const [what, arrange] of failures) {
        it(`aborts unknown_error when the webhook ${what}`, async function () {
          const { module, start, step } = overWebhook({}, await arrange(webhook));
          const first = await start();
          const started = Date.now();
          const result: FlowResult = await step(first.flow_id, { target: 'ops-phone' });
          expect(result).to.include({ type: 'abort', reason: 'unknown_error' });
          expect(Date.now() - started).to.be.below(2500);
          expect(await module.isUserSetup(USER.userId)).to.equal(false);
        });
      }

      it('aborts unknown_error when the SMTP server cannot be reached', async function () {
        const { start, step } = notifyOn(store, { smtp: { ...smtp.config(), port: await closedPort(), timeout_seconds: 1 } });
        const first = await start();
        expect(await step(first.flow_id, { target: 'ada@example.test' })).to.include({ type: 'abort', reason: 'unknown_error' });
      });
    });

    describe('#beginLogin', function () {
      it('sends a new code each time, kept only as a salted hash with its expiry', async function () {
        const { module } = overWebhook();
        await store.putMfaSetting(USER.userId, 'notify', { target: 'ops-phone' });
        const states: JsonObject[] = [];
        for (let i = 0; i < 3; i += 1) states.push(await module.beginLogin!(USER.userId));
        expect(webhook.calls.map((call) => call.body.target)).to.deep.equal(['ops-phone', 'ops-phone', 'ops-phone']);
        for (const [i, state] of states.entries()) {
          expect(state).to.have.keys(['code_hash', 'salt', 'expires_at']);
          expect(JSON.stringify(state)).not.to.include(webhook.calls[i]?.body.code);
        }
        expect(new Set(states.map((state) => state['salt'])).size).to.equal(3);
      });

      it('throws when the user has no target, or the webhook fails', async function () {
        const { module } = overWebhook();
        await rejects(module.beginLogin!(USER.userId));
        await store.putMfaSetting(USER.userId, 'notify', { target: 'ops-phone' });
        webhook.respondWith(503);
        const refused = await rejects(module.beginLogin!(USER.userId));
        expect(refused).to.be.instanceOf(NotifyError);
        expect((refused as Error).message).to.equal('The notify webhook failed: it answered HTTP 503');
        webhook.respondWith(204, 3000);
        expect(await rejects(module.beginLogin!(USER.userId))).to.be.instanceOf(NotifyError);
      });

      it('throws when the SMTP server is gone', async function () {
        const refusing = notifyOn(store, { smtp: smtp.config() });
        await store.putMfaSetting(USER.userId, 'notify', { target: 'ada@example.test' });
        await smtp.stop();
        expect(await rejects(refusing.module.beginLogin!(USER.userId))).to.be.instanceOf(NotifyError);
      });
    });

    describe('#validate', function () {
      let clock: number;
      let module: MfaModule;
      beforeEach(async function () {
        clock = Date.now();
        module = overWebhook({ now: () => clock, codeTtlMs: 60_000 }).module;
        await store.putMfaSetting(USER.userId, 'notify', { target: 'ops-phone' });
      });

      it('accepts only the latest code sent', async function () {
        const first = await module.beginLogin!(USER.userId);
        const firstCode = lastWebhookCode(webhook);
        const second = await module.beginLogin!(USER.userId);
        const secondCode = lastWebhookCode(webhook);
        expect(await module.validate(USER.userId, { code: secondCode }, second)).to.equal(true);
        // The login keeps only the latest state; an older code does not match it (unless the two codes happen to be equal).
        if (firstCode !== secondCode) expect(await module.validate(USER.userId, { code: firstCode }, second)).to.equal(false);
        expect(await module.validate(USER.userId, { code: firstCode }, first)).to.equal(true);
      });

      it('rejects a wrong, an empty or a missing code, and accepts the right one typed with spaces', async function () {
        const state = await module.beginLogin!(USER.userId);
        const code = lastWebhookCode(webhook);
        expect(await module.validate(USER.userId, { code: otherThan(code) }, state)).to.equal(false);
        expect(await module.validate(USER.userId, { code: '' }, state)).to.equal(false);
        expect(await module.validate(USER.userId, {}, state)).to.equal(false);
        expect(await module.validate(USER.userId, { code: `${code.slice(0, 3)} ${code.slice(3)}` }, state)).to.equal(true);
      });

      it('rejects the right code once it expired', async function () {
        const state = await module.beginLogin!(USER.userId);
        const code = lastWebhookCode(webhook);
        clock += 60_000;
        expect(await module.validate(USER.userId, { code }, state)).to.equal(true);
        clock += 1;
        expect(await module.validate(USER.userId, { code }, state)).to.equal(false);
      });

      it('rejects a state that is not one beginLogin made, and a code once the module was turned off', async function () {
        const state = await module.beginLogin!(USER.userId);
        const code = lastWebhookCode(webhook);
        expect(await module.validate(USER.userId, { code }, {})).to.equal(false);
        await module.deposeUser(USER.userId);
        expect(await module.isUserSetup(USER.userId)).to.equal(false);
        expect(await module.validate(USER.userId, { code }, state)).to.equal(false);
      });
    });
  });
}

async function rejects(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('notify MFA module config', function () {
  const fileWith = (module: string): string => {
    const path = join(mkdtempSync(join(tmpdir(), 'flowgate-notify-')), 'flowgate.yaml');
    writeFileSync(path, `mfa_modules:\n  - ${module}\n`);
    return path;
  };
  const load = (module: string) => () => loadConfig({ configPath: fileWith(module), env: {}, cwd: '/' });

  it('reads a webhook module, leaving id and name to their defaults', function () {
    const config = load('{type: notify, webhook: {url: "https://hooks.example/flowgate"}}')();
    expect(config.mfaModules).to.deep.equal([{ type: 'notify', webhook: { url: 'https://hooks.example/flowgate' } }]);
  });

  it('asks for a notifier when there is none', function () {
    expect(load('{type: notify}')).to.throw(ConfigError, /mfa_modules\[0\]: say how codes are sent: add `webhook/);
  });

  it('refuses both a webhook and smtp', function () {
    expect(load('{type: notify, webhook: {url: "https://h.example/"}, smtp: {host: mail, port: 25, from: a@b.example}}'))
      .to.throw(ConfigError, /mfa_modules\[0\]: give one way to send codes, `webhook` or `smtp`, not both/);
  });

  it('names a bad webhook URL', function () {
    expect(load('{type: notify, webhook: {url: "hooks.example/x"}}')).to.throw(ConfigError, /mfa_modules\[0\]\.webhook\.url: "hooks\.example\/x" is not a URL/);
    expect(load('{type: notify, webhook: {url: "ftp://hooks.example/x"}}')).to.throw(ConfigError, /webhook\.url: the URL must start with http:\/\/ or https:\/\//);
  });

  it('names what an smtp block lacks, and unknown keys', function () {
    expect(load('{type: notify, smtp: {host: mail, port: 25}}')).to.throw(ConfigError, /mfa_modules\[0\]\.smtp\.from is required/);
    expect(load('{type: notify, smtp: {host: mail, port: 25, from: a@b.example, tls: true}}')).to.throw(ConfigError, /smtp\.tls: unknown key/);
    expect(load('{type: notify, webhook: {url: "https://h.example/", timeout_seconds: 0}}')).to.throw(ConfigError, /webhook\.timeout_seconds/);
  });

  it('wants the code in the message', function () {
    expect(load('{type: notify, message: "Your code", webhook: {url: "https://h.example/"}}'))
      .to.throw(ConfigError, /mfa_modules\[0\]\.message: expected a message with \{code\} where the code goes/);
  });
});
