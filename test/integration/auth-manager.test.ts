/** A finished login flow becomes a credential and a single-use authorization code bound to the client, kept in the store. */
import { expect } from 'chai';
import { AuthManager } from '../../server/src/auth/manager.js';
import { getOrCreateUser } from '../../server/src/auth/users.js';
import type { AuthProvider } from '../../server/src/providers/registry.js';
import { insecureExample } from '../../server/src/providers/insecure-example.js';
import type { Store } from '../../server/src/store/types.js';
import { testServerSecret } from '../helpers/server-secret.js';
import { BACKENDS, freshStore } from '../helpers/stores.js';

const CLIENT_ID = 'https://app.example/';

for (const backend of BACKENDS) {
  describe(`AuthManager with insecure_example (${backend} store)`, function () {
    let store: Store;
    let auth: AuthManager;
    let provider: AuthProvider;

    beforeEach(async function () {
      store = await freshStore(backend);
      provider = insecureExample.create(
        { type: 'insecure_example', users: [{ username: 'alice', password: 'wonderland', name: 'Alice' }] },
        { store },
      );
      auth = new AuthManager({ store, serverSecret: testServerSecret(), providers: [provider] });
    });
    afterEach(async () => store.close());

    async function login(): Promise<string> {
      const form = await auth.startLogin(['insecure_example', null], { clientId: CLIENT_ID, redirectUri: null, remoteAddress: null, deviceToken: null });
      const done = await auth.loginStep(form.flow_id, CLIENT_ID, { username: 'alice', password: 'wonderland' });
      if (done.type !== 'create_entry') throw new Error(`expected create_entry, got ${done.type}`);
      return done.result;
    }

    it('lists its providers in config order', function () {
      expect(auth.providers(null)).to.deep.equal([{ type: 'insecure_example', id: null, name: 'Example accounts' }]);
    });

    it('issues a code that proves the credential, once, and only to its own client id', async function () {
      const code = await login();
      expect(await store.takeCode(code, 'https://other.example/')).to.equal(null);
      const data = await store.takeCode(code, CLIENT_ID);
      expect(data).to.have.property('credential_id').that.is.a('string');
      expect(await store.takeCode(code, CLIENT_ID)).to.equal(null);
      const credential = await store.getCredential(String(data?.['credential_id']));
      expect(credential).to.deep.include({ providerType: 'insecure_example', providerId: null, subject: 'alice', userId: null });
    });

    it('reuses the credential on a second login', async function () {
      const first = await store.takeCode(await login(), CLIENT_ID);
      const second = await store.takeCode(await login(), CLIENT_ID);
      expect(first?.['credential_id']).to.be.a('string');
      expect(second?.['credential_id']).to.equal(first?.['credential_id']);
    });

    it('makes one user, not the owner, when the first logins of a credential are exchanged at the same moment', async function () {
      const data = await store.takeCode(await login(), CLIENT_ID);
      const credential = await store.getCredential(String(data?.['credential_id']));
      if (credential === null) throw new Error('the code names no credential');
      const users = await Promise.all(Array.from({ length: 5 }, () => getOrCreateUser(store, provider, credential)));
      expect(new Set(users.map((user) => user.id)).size).to.equal(1);
      expect(await store.listUsers()).to.deep.equal([users[0]]);
      expect(users[0]).to.deep.include({ name: 'Alice', isOwner: false, isAdmin: false });
    });

    it("accepts a configured user's own password only: not another user's, not the same text split differently", async function () {
      const two = insecureExample.create(
        { type: 'insecure_example', users: [{ username: 'alice', password: 'wonderland' }, { username: 'bob', password: 'builder' }] },
        { store },
      );
      const manager = new AuthManager({ store, serverSecret: testServerSecret(), providers: [two] });
      const answer = async (username: string, password: string) => {
        const form = await manager.startLogin(['insecure_example', null], { clientId: CLIENT_ID, redirectUri: null, remoteAddress: null, deviceToken: null });
        const result = await manager.loginStep(form.flow_id, CLIENT_ID, { username, password });
        return result.type === 'form' ? result.errors?.['base'] : result.type;
      };
      const answers = await Promise.all([
        answer('alice', 'wonderland'),
        answer('bob', 'builder'),
        answer('alice', 'builder'),
        answer('bob', 'wonderland'),
        answer('alic', 'ewonderland'),
        answer('carol', 'wonderland'),
      ]);
      expect(answers).to.deep.equal(['create_entry', 'create_entry', 'invalid_auth', 'invalid_auth', 'invalid_auth', 'invalid_auth']);
    });

    it('makes ordinary users of logins, the first one on an empty store too: a login never makes the owner', async function () {
      const both = insecureExample.create(
        { type: 'insecure_example', users: [{ username: 'alice', password: 'a', name: 'Alice' }, { username: 'bob', password: 'b', name: 'Bob' }] },
        { store },
      );
      const users = [];
      for (const username of ['alice', 'bob']) {
        const credential = await both.getOrCreateCredentials({ username });
        users.push(await getOrCreateUser(store, both, credential));
      }
      expect(users[0]).to.deep.include({ name: 'Alice', isOwner: false, isAdmin: false });
      expect(users[1]).to.deep.include({ name: 'Bob', isOwner: false, isAdmin: false });
    });

    it('with every limit off, never refuses an attempt and still reports each in the audit log', async function () {
      const events: string[] = [];
      const unlimited = new AuthManager({
        store,
        serverSecret: testServerSecret(),
        providers: [provider],
        loginLimits: { addressFailures: 0, accountFailures: 0, deviceFailures: 0 },
        audit: (event, fields) => events.push(`${event} ${String(fields['username'])}`),
      });
      for (let n = 0; n < 12; n++) {
        const form = await unlimited.startLogin(['insecure_example', null], { clientId: CLIENT_ID, redirectUri: null, remoteAddress: '192.0.2.1', deviceToken: null });
        const reply = await unlimited.loginStep(form.flow_id, CLIENT_ID, { username: 'alice', password: 'nope' });
        expect(reply.type === 'form' ? reply.errors : null).to.deep.equal({ base: 'invalid_auth' });
      }
      expect(events).to.deep.equal(Array.from({ length: 12 }, () => 'login_failed alice'));
    });

    it('settles a failed step without a second store call, and reports each lockout once, from the failure that filled it', async function () {
      const calls: string[] = [];
      const events: string[] = [];
      const limited = new AuthManager({
        store: countingLoginDefense(store, calls),
        serverSecret: testServerSecret(),
        providers: [provider],
        loginLimits: { addressFailures: 3, accountFailures: 5, deviceFailures: 0 },
        audit: (event, fields) => events.push(`${event} ${String(fields['kind'] ?? fields['username'])}`),
      });
      const attempt = async (password: string, remoteAddress: string) => {
        const form = await limited.startLogin(['insecure_example', null], { clientId: CLIENT_ID, redirectUri: null, remoteAddress, deviceToken: null });
        return limited.loginStep(form.flow_id, CLIENT_ID, { username: 'alice', password });
      };
      for (let n = 0; n < 3; n++) expect(await attempt('nope', '192.0.2.1')).to.have.property('type', 'form');
      expect(calls.filter((call) => call === 'reserveAttempt')).to.have.length(3);
      expect(calls).to.not.include('settleAttempt');
      expect(events).to.deep.equal(['login_failed alice', 'login_failed alice', 'login_failed alice', 'lockout address']);
      // Over its limit, the address is refused before the provider checks anything.
      const refused = await attempt('wonderland', '192.0.2.1').catch((error: unknown) => error);
      expect(refused).to.have.property('code', 'rate_limited');
      // From elsewhere the account, 3 of its 5 used, still logs in: a success settles (it clears the counters it may).
      expect(await attempt('wonderland', '192.0.2.2')).to.have.property('type', 'create_entry');
      expect(calls.filter((call) => call === 'settleAttempt')).to.have.length(1);
      expect(events.filter((event) => event.startsWith('lockout'))).to.have.length(1);
    });

    it('gives the display name from the config as user meta', async function () {
      const provider = insecureExample.create(
        { type: 'insecure_example', users: [{ username: 'alice', password: 'w', name: 'Alice Liddell' }] },
        { store },
      );
      const credential = await provider.getOrCreateCredentials({ username: 'alice' });
      expect(await provider.userMetaForCredentials(credential)).to.deep.equal({ name: 'Alice Liddell', isActive: true });
    });
  });
}

/** The store, with the names of its login-defense calls written to `calls` as they are made. */
function countingLoginDefense(store: Store, calls: string[]): Store {
  const defense = store.loginDefense;
  const countedDefense = new Proxy(defense, {
    get(target, name) {
      const value: unknown = Reflect.get(target, name);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return new Proxy(store, {
    get(target, name) {
      if (name === 'loginDefense') return countedDefense;
      const value: unknown = Reflect.get(target, name);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
