/** @flowgate/client and multi-factor login against a real server process: setup flows, the MFA login steps, their aborts. */
import { expect } from 'chai';
import { CommandError, FlowAbortedError, mfaLoginStep, type AnswerContext, type FormResult } from '@flowgate/client';
import { createNodeClient, type FlowgateClient } from '@flowgate/client/node';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { type ExampleUser, exampleUsers, mfaConfig, nextTotpCode, totpCode } from '../helpers/mfa.js';
import { useServer } from '../helpers/server-fixture.js';

const USERS = exampleUsers('ada', 'brian', 'cleo', 'dora', 'emil', 'fay');
const [ADA, BRIAN, CLEO, DORA, EMIL, FAY] = USERS as [ExampleUser, ExampleUser, ExampleUser, ExampleUser, ExampleUser, ExampleUser];

describe('@flowgate/client with MFA', function () {
  const fixture = useServer(() => ({ config: mfaConfig(USERS, [{ type: 'totp' }, { type: 'recovery' }]) }));
  const clients: FlowgateClient[] = [];
  const make = (): FlowgateClient => {
    const client = createNodeClient({ url: fixture.server().url, clientId: TEST_CLIENT_ID, deviceTokens: false });
    clients.push(client);
    return client;
  };
  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  const password = (user: ExampleUser) => ({ username: user.username, password: user.password });

  /** A signed-in client of `user` (no MFA set up yet, or `answer` for the MFA forms). */
  async function signedIn(user: ExampleUser, answer?: (form: FormResult, context: AnswerContext) => Record<string, unknown>): Promise<FlowgateClient> {
    const client = make();
    await client.login({ handler: 'insecure_example', answer: (form, context) => (form.step_id === 'init' ? password(user) : (answer?.(form, context) ?? {})) });
    return client;
  }

  /** Sets TOTP up through runMfaSetup (a fresh setup is retried once, should its code straddle a time step); returns the secret. */
  async function setUpTotp(client: FlowgateClient): Promise<string> {
    let secret = '';
    const entry = await client.runMfaSetup({
      moduleId: 'totp',
      answer: (form, { attempt }) => {
        expect(attempt).to.be.at.most(2);
        secret = form.description_placeholders?.['code'] ?? '';
        return { code: totpCode(secret) };
      },
    });
    expect(entry).to.deep.include({ type: 'create_entry', handler: ['totp', null], title: 'Authenticator app' });
    return secret;
  }

  describe('#runMfaSetup', function () {
    it('drives the TOTP setup through the answer callback, with the secret, URI and QR code in the placeholders', async function () {
      const client = await signedIn(ADA);
      const seen: FormResult[] = [];
      await client.runMfaSetup({
        moduleId: 'totp',
        answer: (form) => {
          seen.push(form);
          return { code: totpCode(form.description_placeholders?.['code'] ?? '') };
        },
      });
      const [first] = seen;
      expect(first?.step_id).to.equal('init');
      expect(first?.data_schema.map((f) => f.name)).to.deep.equal(['code']);
      expect(first?.description_placeholders?.['url']).to.match(/^otpauth:\/\/totp\/.*secret=/);
      expect(first?.description_placeholders?.['qr_code']).to.match(/^<svg[^>]*>/);
      const modules = (await client.currentUser()).mfa_modules;
      expect(modules).to.deep.equal([
        { id: 'totp', name: 'Authenticator app', enabled: true },
        { id: 'recovery', name: 'Recovery codes', enabled: false },
      ]);
    });

    it('returns the recovery codes in the entry data, ten of them', async function () {
      const client = await signedIn(BRIAN);
      const entry = await client.runMfaSetup({ moduleId: 'recovery', answer: () => ({}) });
      expect(entry.data['codes']).to.be.an('array').with.length(10);
    });

    it('rejects with a CommandError no_module for a module the server does not have', async function () {
      const client = await signedIn(CLEO);
      const error = await client.runMfaSetup({ moduleId: 'sms', answer: () => ({}) }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(CommandError).and.include({ code: 'no_module', command: 'auth/setup_mfa' });
    });
  });

  describe('#login', function () {
    it('shows the mfa step with the module name after the password, again with invalid_code after a wrong code, then signs in', async function () {
      const secret = await setUpTotp(await signedIn(DORA));
      const steps: Array<{ step: string; attempt: number; errors: unknown }> = [];
      const client = await signedIn(DORA, (form, { attempt }) => {
        steps.push({ step: form.step_id, attempt, errors: form.errors });
        expect(mfaLoginStep(form)).to.deep.equal({ kind: 'code', moduleId: 'totp', moduleName: 'Authenticator app' });
        return { code: attempt === 1 ? '000000' : nextTotpCode(secret) };
      });
      expect(steps).to.deep.equal([
        { step: 'mfa', attempt: 1, errors: null },
        { step: 'mfa', attempt: 2, errors: { base: 'invalid_code' } },
      ]);
      expect((await client.currentUser()).name).to.equal('Dora');
    });

    it('asks select_mfa_module, naming each module, when two are set up; a recovery code then signs in', async function () {
      const setup = await signedIn(EMIL);
      await setUpTotp(setup);
      const codes = (await setup.runMfaSetup({ moduleId: 'recovery', answer: () => ({}) })).data['codes'] as string[];
      const shown: unknown[] = [];
      await signedIn(EMIL, (form) => {
        shown.push(mfaLoginStep(form));
        return form.step_id === 'select_mfa_module' ? { multi_factor_auth_module: 'recovery' } : { code: codes[0] };
      });
      expect(shown).to.deep.equal([
        { kind: 'select_module', modules: [{ id: 'totp', name: 'Authenticator app' }, { id: 'recovery', name: 'Recovery codes' }] },
        { kind: 'code', moduleId: 'recovery', moduleName: 'Recovery codes' },
      ]);
    });

    it('rejects with FlowAbortedError too_many_retry after five wrong TOTP codes, and no mfa step once TOTP is deposed', async function () {
      const setup = await signedIn(FAY);
      await setUpTotp(setup);
      let asked = 0;
      const error = await signedIn(FAY, () => {
        asked++;
        return { code: '000000' };
      }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(FlowAbortedError).and.include({ reason: 'too_many_retry', flow: 'login' });
      expect(asked).to.equal(5);
      expect(await setup.deposeMfa('totp')).to.equal('done');
      const steps: string[] = [];
      await signedIn(FAY, (form) => {
        steps.push(form.step_id);
        return {};
      });
      expect(steps).to.deep.equal([]);
    });
  });
});
