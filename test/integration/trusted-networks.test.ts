/** The trusted_networks provider on real stores: who may log in from where, as whom, and what a refresh from elsewhere gets. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { GROUP_ID_ADMIN, GROUP_ID_USER, type PositiveInt } from '@flowgate/shared';
import { AuthManager } from '../../server/src/auth/manager.js';
import { exchangeToken } from '../../server/src/auth/token-endpoint.js';
import { ConfigError, loadConfig } from '../../server/src/config/config.js';
import { ServiceError } from '../../server/src/errors.js';
import { trustedNetworksProvider, type TrustedNetworksConfig } from '../../server/src/providers/trusted-networks.js';
import type { RefreshToken, Store, User } from '../../server/src/store/types.js';
import { testServerSecret } from '../helpers/server-secret.js';
import { BACKENDS, freshStore } from '../helpers/stores.js';

const CLIENT_ID = 'https://app.example/';
const HANDLER = ['trusted_networks', null] as const;
const LAN = '192.168.0.0/24';
const PROXY = '192.168.0.1';
const INSIDE = '192.168.0.20';
const OUTSIDE = '203.0.113.5';

type Reply = Record<string, any>;

/** What `config` (a YAML text of one provider) decodes to, or the ConfigError's message. */
function decodeProvider(yaml: string): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-tn-config-'));
  const configPath = join(dir, 'flowgate.yaml');
  writeFileSync(configPath, `auth_providers:\n${yaml}`);
  try {
    return loadConfig({ configPath, env: {}, cwd: dir }).authProviders[0];
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
}

async function refusalOf(promise: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('trusted_networks config', function () {
  it('decodes HA\'s keys, with trusted_users by network and groups as one id or a list', function () {
    const decoded = decodeProvider(
      [
        '  - type: trusted_networks',
        '    trusted_networks: [192.168.0.0/24, "::1", 10.0.0.7]',
        '    trusted_users:',
        '      192.168.0.5: [abc123, {group: system-admin}]',
        '      "::1": [{group: [system-users, system-read-only]}]',
        '    allow_bypass_login: true',
      ].join('\n'),
    );
    expect(decoded).to.deep.include({ type: 'trusted_networks', allow_bypass_login: true });
    expect(decoded).to.have.nested.property('trusted_users.192\\.168\\.0\\.5').that.deep.equals(['abc123', { group: 'system-admin' }]);
  });

  it('names the bad entry of trusted_networks and of trusted_users', function () {
    expect(decodeProvider('  - {type: trusted_networks, trusted_networks: [10.0.0.0/8, 300.1.1.1]}')).to.be.a('string')
      .that.includes('auth_providers[0].trusted_networks[1]').and.includes('CIDR');
    expect(decodeProvider('  - {type: trusted_networks, trusted_networks: [10.0.0.0/8], trusted_users: {lan: [abc]}}')).to.be.a('string')
      .that.includes('auth_providers[0].trusted_users.lan');
  });

  it('refuses an empty network list, an unknown group, an unknown key', function () {
    expect(decodeProvider('  - {type: trusted_networks, trusted_networks: []}')).to.be.a('string').that.includes('trusted_networks');
    expect(decodeProvider('  - {type: trusted_networks, trusted_networks: [10.0.0.0/8], trusted_users: {10.0.0.1: [{group: admins}]}}'))
      .to.be.a('string').that.includes('trusted_users');
    expect(decodeProvider('  - {type: trusted_networks, trusted_networks: [10.0.0.0/8], trusted_proxies: [10.0.0.1]}'))
      .to.be.a('string').that.includes('unknown key');
  });

  it('throws a ConfigError naming the entry when code builds a provider with a bad network', async function () {
    const store = await freshStore('sqlite');
    try {
      const error = await refusalOf(() => trustedNetworksProvider.create({ type: 'trusted_networks', trusted_networks: ['10.0.0.0/33'] }, { store }));
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as Error).message).to.include('trusted_networks[0]');
    } finally {
      await store.close();
    }
  });
});

for (const backend of BACKENDS) {
  describe(`trusted_networks provider (${backend} store)`, function () {
    let store: Store;
    let owner: User;
    let alice: User;
    let bob: User;
    let carol: User;

    async function addUser(id: string, name: string, groupIds: string[], isActive = true): Promise<User> {
      return store.createUser({ id, name, isActive, groupIds, localOnly: false, createdAt: Date.now() });
    }

    beforeEach(async function () {
      store = await freshStore(backend);
      owner = await addUser('owner-id', 'Owner', [GROUP_ID_ADMIN]);
      alice = await addUser('alice-id', 'Alice', [GROUP_ID_USER]);
      bob = await addUser('bob-id', 'Bob', [GROUP_ID_USER]);
      // Inactive users are never offered, whatever the config says.
      carol = await addUser('carol-id', 'Carol', [GROUP_ID_USER], false);
    });
    afterEach(async () => store.close());

    function provider(extra: Partial<TrustedNetworksConfig> = {}, trustedProxies: string[] = [PROXY]) {
      return trustedNetworksProvider.create({ type: 'trusted_networks', trusted_networks: [LAN, '::1'], ...extra }, { store, trustedProxies });
    }

    function authWith(extra: Partial<TrustedNetworksConfig> = {}): AuthManager {
      return new AuthManager({ store, serverSecret: testServerSecret(), providers: [provider(extra)] });
    }

    const init = (auth: AuthManager, remoteAddress: string | null): Promise<Reply> =>
      auth.startLogin([...HANDLER], { clientId: CLIENT_ID, redirectUri: null, remoteAddress, deviceToken: null }) as Promise<Reply>;

    const offered = (form: Reply): string[] => form['data_schema'][0].options.map(([id]: [string, string]) => id);

    async function tokenUser(auth: AuthManager, code: string): Promise<string | undefined> {
      const tokens = await exchangeToken(auth, { id: 1 as PositiveInt, type: 'auth/token', grant_type: 'authorization_code', code, client_id: CLIENT_ID }, INSIDE);
      return (await auth.authenticate(tokens.access_token, INSIDE))?.userId;
    }

    describe('#loginFlow', function () {
      it('aborts with not_allowed from outside the networks, from an unknown address and from a trusted proxy', async function () {
        const auth = authWith();
        for (const address of [OUTSIDE, null, PROXY, '::ffff:192.168.0.1']) {
          expect(await init(auth, address), String(address)).to.deep.include({ type: 'abort', reason: 'not_allowed' });
        }
      });

      it('offers every active user, by name, when no trusted_users network holds the address', async function () {
        const form = await init(authWith({ trusted_users: { '10.0.0.0/8': [alice.id] } }), INSIDE);
        expect(form).to.deep.include({ type: 'form', step_id: 'init' });
        expect(form['data_schema']).to.deep.equal([
          { name: 'user', type: 'select', required: true, options: [[alice.id, 'Alice'], [bob.id, 'Bob'], [owner.id, 'Owner']] },
        ]);
      });

      it('offers only the users and group members of the first trusted_users network that holds the address', async function () {
        const auth = authWith({
          trusted_users: {
            '192.168.0.20': [bob.id, carol.id],
            [LAN]: [alice.id, { group: GROUP_ID_ADMIN }],
            '::1': [{ group: [GROUP_ID_USER] }],
          },
        });
        expect(offered(await init(auth, INSIDE))).to.deep.equal([bob.id]);
        expect(offered(await init(auth, '192.168.0.21'))).to.deep.equal([alice.id, owner.id]);
        expect(offered(await init(auth, '::1'))).to.deep.equal([alice.id, bob.id]);
      });

      it('aborts with not_allowed when the network allows no active user', async function () {
        expect(await init(authWith({ trusted_users: { [LAN]: [carol.id] } }), INSIDE)).to.deep.include({ type: 'abort', reason: 'not_allowed' });
        expect(await init(authWith({ trusted_users: { [LAN]: [] } }), INSIDE)).to.deep.include({ type: 'abort', reason: 'not_allowed' });
      });

      it('logs in as the user picked, through one credential linked to that user', async function () {
        const auth = authWith();
        for (let round = 0; round < 2; round++) {
          const form = await init(auth, INSIDE);
          const done: Reply = await auth.loginStep(String(form['flow_id']), CLIENT_ID, { user: bob.id });
          expect(done['type']).to.equal('create_entry');
          expect(await tokenUser(auth, String(done['result']))).to.equal(bob.id);
        }
        const credentials = await store.listCredentials(bob.id);
        expect(credentials.map((c) => [c.providerType, c.subject])).to.deep.equal([['trusted_networks', bob.id]]);
        // No user was created by these logins.
        expect((await store.listUsers()).length).to.equal(4);
      });

      it('refuses an id the form did not offer: an inactive user, a user of another network, an unknown id', async function () {
        const auth = authWith({ trusted_users: { [LAN]: [alice.id] } });
        const form = await init(auth, INSIDE);
        for (const id of [carol.id, bob.id, owner.id, 'nobody']) {
          const again: Reply = await auth.loginStep(String(form['flow_id']), CLIENT_ID, { user: id });
          expect(again, id).to.deep.include({ type: 'form', errors: { user: 'invalid_option' } });
        }
        const done: Reply = await auth.loginStep(String(form['flow_id']), CLIENT_ID, { user: alice.id });
        expect(done['type']).to.equal('create_entry');
      });

      it('refuses a user deactivated after the form was shown, and shows the list as it is now', async function () {
        const auth = authWith();
        const form = await init(auth, INSIDE);
        await store.updateUser(bob.id, { isActive: false });
        const again: Reply = await auth.loginStep(String(form['flow_id']), CLIENT_ID, { user: bob.id });
        expect(again).to.deep.include({ type: 'form', errors: { user: 'invalid_option' } });
        expect(offered(again)).to.deep.equal([alice.id, owner.id]);
      });

      it('with allow_bypass_login, logs in at once as the only user allowed, and shows the form when there are more', async function () {
        const auth = authWith({ allow_bypass_login: true, trusted_users: { '192.168.0.20': [alice.id] } });
        const done = await init(auth, INSIDE);
        expect(done['type']).to.equal('create_entry');
        expect(await tokenUser(auth, String(done['result']))).to.equal(alice.id);
        expect(offered(await init(auth, '192.168.0.21'))).to.deep.equal([alice.id, bob.id, owner.id]);
      });

      it('never bypasses without allow_bypass_login', async function () {
        expect(await init(authWith({ trusted_users: { [LAN]: [alice.id] } }), INSIDE)).to.deep.include({ type: 'form' });
      });
    });

    describe('#getOrCreateCredentials', function () {
      it('links a credential whose subject is the user id, and finds the same one again', async function () {
        const tn = provider();
        const first = await tn.getOrCreateCredentials({ user: alice.id });
        expect(first).to.deep.include({ providerType: 'trusted_networks', providerId: null, subject: alice.id, userId: alice.id });
        expect((await tn.getOrCreateCredentials({ user: alice.id })).id).to.equal(first.id);
        expect((await tn.getOrCreateCredentials({ user: owner.id })).id).to.not.equal(first.id);
      });

      it('refuses an unknown or inactive user with a ServiceError, creating nothing', async function () {
        for (const id of ['nobody', carol.id]) {
          const error = await refusalOf(provider().getOrCreateCredentials({ user: id }));
          expect(error, id).to.be.instanceOf(ServiceError);
        }
        expect(await store.findCredential('trusted_networks', null, carol.id)).to.equal(null);
      });
    });

    describe('#userMetaForCredentials', function () {
      it('throws: the provider never creates users', async function () {
        const tn = provider();
        const credential = await tn.getOrCreateCredentials({ user: alice.id });
        expect(await refusalOf(tn.userMetaForCredentials(credential))).to.be.instanceOf(Error);
        expect(tn.supportsMfa).to.equal(false);
      });
    });

    describe('#validateRefreshToken', function () {
      const token = {} as RefreshToken;

      it('accepts an address of the trusted networks', function () {
        expect(() => provider().validateRefreshToken?.(token, INSIDE)).to.not.throw();
        expect(() => provider().validateRefreshToken?.(token, '::1')).to.not.throw();
      });

      it('refuses with access_denied an unknown address, one outside, and a trusted proxy', async function () {
        for (const address of [null, OUTSIDE, PROXY]) {
          const error = await refusalOf(() => provider().validateRefreshToken?.(token, address));
          expect(error, String(address)).to.be.instanceOf(ServiceError).and.include({ code: 'access_denied' });
        }
      });
    });
  });
}
