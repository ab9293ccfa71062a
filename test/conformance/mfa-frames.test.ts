/**
 * The frames of multi-factor login and login defense, decoded with the shared codecs a client uses: what the server sends must
 * be what `@flowgate/shared` says (device tokens, `retry_after`, MFA setup, the MFA steps, `auth/current_user`).
 */
import { expect } from 'chai';
import { isRight } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import {
  CurrentUser,
  DeposeMfaResult,
  ErrorBody,
  FlowResult,
  FormResult,
  MFA_MODULE_FIELD,
  MFA_STEP_IDS,
  MfaSetupEntry,
  ResultError,
  TokenResponse,
  describeErrors,
} from '@flowgate/shared';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { exampleUsers, mfaConfig, setUpTotp, signedInSocket } from '../helpers/mfa.js';
import { RawClient } from '../helpers/raw-client.js';
import { useServer } from '../helpers/server-fixture.js';

const HANDLER = ['insecure_example', null];

/** The value, decoded by `codec`; fails the test with the codec's own report when it does not decode. */
function decoded<A>(codec: t.Type<A, unknown, unknown>, value: unknown): A {
  const result = codec.decode(value);
  if (!isRight(result)) throw new Error(`${codec.name} does not decode ${JSON.stringify(value)}: ${describeErrors(result.left)}`);
  return result.right;
}

describe('MFA and login-defense frames against the shared codecs', function () {
  const [ada, ben] = exampleUsers('ada', 'ben');
  const { server, track } = useServer(() => ({
    config: { ...mfaConfig([ada!, ben!], [{ type: 'totp' }, { type: 'recovery' }]), login_limits: { address_failures: 2 } },
  }));

  it('sets up, lists, uses and removes a module with frames of the shared shapes', async function () {
    const socket = track(await signedInSocket(server().url, ada!));
    const form = decoded(FormResult, await socket.result({ type: 'auth/setup_mfa', mfa_module_id: 'recovery' }));
    const entry = decoded(MfaSetupEntry, await socket.result({ type: 'auth/setup_mfa', flow_id: form.flow_id, user_input: {} }));
    expect(entry).to.deep.include({ type: 'create_entry', handler: ['recovery', null], title: 'Recovery codes' });
    expect(entry.data['codes']).to.have.length(10);
    await setUpTotp(socket);
    const user = decoded(CurrentUser, await socket.result({ type: 'auth/current_user' }));
    expect(user.mfa_modules).to.deep.equal([
      { id: 'totp', name: 'Authenticator app', enabled: true },
      { id: 'recovery', name: 'Recovery codes', enabled: true },
    ]);
    const refused = decoded(ResultError, await socket.command({ type: 'auth/setup_mfa', mfa_module_id: 'sms' }));
    expect(refused.error.code).to.equal('no_module');

    const { client } = await RawClient.open(server().url);
    track(client);
    const init = decoded(FlowResult, await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: TEST_CLIENT_ID }));
    const mfa = decoded(FlowResult, await client.result({ type: 'login_flow/step', flow_id: init.flow_id, client_id: TEST_CLIENT_ID, user_input: { username: ada!.username, password: ada!.password } }));
    expect(mfa).to.deep.include({ type: 'form', step_id: MFA_STEP_IDS.select });
    if (mfa.type !== 'form') throw new Error('expected the module choice');
    expect(mfa.data_schema.map((field) => field.name)).to.deep.equal([MFA_MODULE_FIELD]);
    const code = decoded(FlowResult, await client.result({ type: 'login_flow/step', flow_id: init.flow_id, client_id: TEST_CLIENT_ID, user_input: { [MFA_MODULE_FIELD]: 'totp' } }));
    expect(code).to.deep.include({ type: 'form', step_id: MFA_STEP_IDS.code });
    expect(decoded(DeposeMfaResult, await socket.result({ type: 'auth/depose_mfa', mfa_module_id: 'totp' }))).to.equal('done');
  });

  it('answers a device token in the code exchange, and rate_limited with retry_after, in the shared shapes', async function () {
    const { client } = await RawClient.open(server().url, { localAddress: '127.0.0.9' });
    track(client);
    const login = async (password: string) => {
      const init = decoded(FlowResult, await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: TEST_CLIENT_ID }));
      return client.command({ type: 'login_flow/step', flow_id: init.flow_id, client_id: TEST_CLIENT_ID, user_input: { username: ben!.username, password } });
    };
    const done = decoded(FlowResult, (await login(ben!.password))['result']);
    if (done.type !== 'create_entry') throw new Error(`expected create_entry, got ${done.type}`);
    const tokens = decoded(TokenResponse, await client.result({ type: 'auth/token', grant_type: 'authorization_code', code: done.result, client_id: TEST_CLIENT_ID }));
    expect(tokens.device_token).to.be.a('string');
    for (let n = 0; n < 2; n++) await login('wrong');
    const refused = decoded(ResultError, await client.command({ type: 'login_flow/init', handler: HANDLER, client_id: TEST_CLIENT_ID }));
    expect(decoded(ErrorBody, refused.error)).to.deep.include({ code: 'rate_limited' });
    expect(refused.error.retry_after).to.be.a('number').and.above(0);
  });
});
