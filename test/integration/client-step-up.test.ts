/**
 * @flowgate/client and step-up, against a real server process whose privileged window is two seconds: a privileged command
 * refused with `reauth_required` logs in again on the same socket with the login's own form callback (password, then second
 * factor) and is sent once more; a login that proves another user changes nothing.
 */
import { expect } from 'chai';
import { CommandError, ReauthenticationFailedError, type FormResult } from '@flowgate/client';
import { createNodeClient, type FlowgateClient } from '@flowgate/client/node';
import type { ClientOptions } from '@flowgate/client';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { nextTotpCode, totpCode } from '../helpers/mfa.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { ALICE, BOB, prepareAccounts, sleepPastWindow, stepUpConfig, type Account } from '../helpers/step-up.js';

const CAROL: Account = { username: 'carol', password: 'carol-ember-thistle-53', name: 'Carol' };
const DAN: Account = { username: 'dan', password: 'dan-copper-orchard-18', name: 'Dan' };

describe('@flowgate/client and step-up', function () {
  this.timeout(30_000);
  let server: ServerProcess;
  const clients: FlowgateClient[] = [];
  const make = (options: Partial<ClientOptions> = {}): FlowgateClient => {
    const client = createNodeClient({ url: server.url, clientId: TEST_CLIENT_ID, deviceTokens: false, ...options });
    clients.push(client);
    return client;
  };
  const credentials = (account: Account) => ({ username: account.username, password: account.password });
  const tokenNames = async (client: FlowgateClient) => (await client.refreshTokens()).map((t) => t.client_name);

  before(async function () {
    const config = stepUpConfig();
    const dir = await prepareAccounts(config, [ALICE, BOB, CAROL, DAN]);
    server = await startServerProcess({ config, dir });
  });
  afterEach(() => clients.splice(0).forEach((client) => client.close()));
  after(async () => server?.stop());

  it('logs in again with the login\'s own form callback after reauth_required, then sends the command once more', async function () {
    const client = make();
    const forms: FormResult[] = [];
    await client.login({ handler: 'password', answer: (form) => (forms.push(form), credentials(ALICE)) });
    await sleepPastWindow();
    const token = await client.longLivedAccessToken('after-step-up', 1);
    expect(token).to.be.a('string').and.not.equal('');
    // The login's form, then the re-authentication's: asked again, on the same socket, and no new session came of it.
    expect(forms.map((form) => form.step_id)).to.deep.equal(['init', 'init']);
    expect((await client.refreshTokens()).map((t) => t.type).sort()).to.deep.equal(['long_lived_access_token', 'normal']);
  });

  it('asks for the second factor again too, when the user has one', async function () {
    const client = make();
    let secret = '';
    const asked: string[] = [];
    await client.login({
      handler: 'password',
      answer: (form) => (asked.push(form.step_id), form.step_id === 'init' ? credentials(CAROL) : { code: nextTotpCode(secret) }),
    });
    await client.runMfaSetup({
      moduleId: 'totp',
      answer: (form) => {
        secret = form.description_placeholders?.['code'] ?? '';
        return { code: totpCode(secret) };
      },
    });
    await sleepPastWindow();
    await client.deposeMfa('totp');
    // The login asked for the password; the re-authentication for it and then for the code.
    expect(asked).to.deep.equal(['init', 'init', 'mfa']);
    expect((await client.currentUser()).mfa_modules.find((m) => m.id === 'totp')?.enabled).to.equal(false);
  });

  it('runs one re-authentication for privileged commands refused at once', async function () {
    let asked = 0;
    const client = make({ reauthentication: { handler: 'password', answer: () => ((asked += 1), credentials(DAN)) } });
    await client.login({ handler: 'password', answer: () => credentials(DAN) });
    await sleepPastWindow();
    await Promise.all([client.longLivedAccessToken('first', 1), client.longLivedAccessToken('second', 1)]);
    expect(asked).to.equal(1);
  });

  it('rejects with ReauthenticationFailedError (access_denied) and sends nothing when the login proves another user', async function () {
    const client = make({ reauthentication: { answer: () => credentials(BOB) } });
    await client.login({ handler: 'password', answer: () => credentials(ALICE) });
    await sleepPastWindow();
    const error = await client.longLivedAccessToken('as-bob', 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ReauthenticationFailedError);
    const cause = (error as ReauthenticationFailedError).cause;
    expect(cause).to.be.instanceOf(CommandError);
    expect((cause as CommandError).code).to.equal('access_denied');
    expect(await tokenNames(client)).to.not.include('as-bob');
  });

  it('hands reauth_required to the caller when told not to log in again', async function () {
    const client = make({ reauthentication: false });
    await client.login({ handler: 'password', answer: () => credentials(ALICE) });
    await sleepPastWindow();
    const error = await client.deposeMfa('totp').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(CommandError);
    expect((error as CommandError).code).to.equal('reauth_required');
    // And an explicit re-authentication lifts it.
    await client.reauthenticate({ handler: 'password', answer: () => credentials(ALICE) });
    expect(await client.longLivedAccessToken('explicit', 1)).to.be.a('string');
  });
});
