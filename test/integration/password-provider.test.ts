/** The password provider on real stores: argon2id logins, one generic error, normalized usernames, and account management. */
import { expect } from 'chai';
import { AuthManager } from '../../server/src/auth/manager.js';
import { UserAdmin } from '../../server/src/auth/user-admin.js';
import { ServiceError } from '../../server/src/errors.js';
import { noAudit } from '../../server/src/observability/audit.js';
import { addPasswordUser, listPasswordUsers, type PasswordUserError } from '../../server/src/providers/password-accounts.js';
import { passwordProvider, verifyPassword, type VerifyPassword } from '../../server/src/providers/password.js';
import { AccessTokenKeys } from '../../server/src/tokens/access-tokens.js';
import { TokenService } from '../../server/src/tokens/refresh-tokens.js';
import type { Store } from '../../server/src/store/types.js';
import { testServerSecret } from '../helpers/server-secret.js';
import { BACKENDS, freshStore } from '../helpers/stores.js';

const CLIENT_ID = 'https://app.example/';
/** Small argon2 parameters keep these tests fast; one test below checks the real defaults. */
const FAST = { argon2: { memory_kib: 1024, time_cost: 1 } };
/** `flowgate user` acting on the server's machine. */
const OPERATOR = { userId: null, address: null, via: 'test' };

/** The `m`, `t` and `p` of an encoded argon2 hash (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`, in any order). */
function hashParams(hash: string): { type: string; m: number; t: number; p: number } {
  const [, type = '', , params = ''] = hash.split('$');
  const map = Object.fromEntries(params.split(',').map((pair) => pair.split('=') as [string, string]));
  return { type, m: Number(map['m']), t: Number(map['t']), p: Number(map['p']) };
}

async function expectRefusal(promise: Promise<unknown>, code: PasswordUserError['code']): Promise<void> {
  const error: unknown = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).to.be.instanceOf(ServiceError);
  expect((error as ServiceError).code).to.equal(code);
}

for (const backend of BACKENDS) {
  describe(`password provider (${backend} store)`, function () {
    let store: Store;

    beforeEach(async function () {
      store = await freshStore(backend);
    });
    afterEach(async () => store.close());

    function authWith(verify?: VerifyPassword, params: typeof FAST = FAST): AuthManager {
      const provider = passwordProvider.create({ type: 'password', ...params }, { store, ...(verify === undefined ? {} : { verify }) });
      return new AuthManager({ store, serverSecret: testServerSecret(), providers: [provider] });
    }

    async function startFlow(auth: AuthManager): Promise<string> {
      const form = await auth.startLogin(['password', null], { clientId: CLIENT_ID, redirectUri: null, remoteAddress: null, deviceToken: null });
      return String(form.flow_id);
    }

    async function attempt(auth: AuthManager, username: string, password: string): Promise<any> {
      return auth.loginStep(await startFlow(auth), CLIENT_ID, { username, password });
    }

    describe('login flow', function () {
      it('refuses attempts past the login limits before any argon2 verify runs', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' });
        let verifies = 0;
        const counting: VerifyPassword = async (hash, password) => {
          verifies += 1;
          return verifyPassword(hash, password);
        };
        const provider = passwordProvider.create({ type: 'password', ...FAST }, { store, verify: counting });
        const auth = new AuthManager({ store, serverSecret: testServerSecret(), providers: [provider], loginLimits: { addressFailures: 3 } });
        const flowId = await startFlow(auth);
        for (let n = 0; n < 3; n++) {
          const reply: any = await auth.loginStep(flowId, CLIENT_ID, { username: 'alice', password: 'nope' });
          expect(reply.errors).to.deep.equal({ base: 'invalid_auth' });
        }
        expect(verifies).to.equal(3);
        const refused = await auth.loginStep(flowId, CLIENT_ID, { username: 'alice', password: 'wonderland' }).then(
          () => null,
          (error: { code?: string; retryAfterSeconds?: number }) => error,
        );
        expect(refused).to.include({ code: 'rate_limited' });
        expect(refused?.retryAfterSeconds).to.be.within(590, 600);
        // The refused attempt cost nothing: no verify, and the flow is still at its form, ready once the window has passed.
        expect(verifies).to.equal(3);
        expect((await auth.loginGet(flowId, CLIENT_ID)).step_id).to.equal('init');
      });

      it('answers a wrong password and an unknown user with the same invalid_auth form', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' });
        const auth = authWith();
        const flowId = await startFlow(auth);
        const wrongPassword: any = await auth.loginStep(flowId, CLIENT_ID, { username: 'alice', password: 'nope' });
        const unknownUser: any = await auth.loginStep(flowId, CLIENT_ID, { username: 'mallory', password: 'wonderland' });
        expect(wrongPassword).to.deep.include({ type: 'form', step_id: 'init', errors: { base: 'invalid_auth' } });
        expect(unknownUser).to.deep.equal(wrongPassword);
      });

      it('logs "  ALICE " in as the credential of alice', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' });
        const done = await attempt(authWith(), '  ALICE ', 'wonderland');
        expect(done.type).to.equal('create_entry');
        const code = await store.takeCode(String(done.result), CLIENT_ID);
        const credential = await store.getCredential(String(code?.['credential_id']));
        expect(credential).to.deep.include({ providerType: 'password', providerId: null, subject: 'alice' });
      });

      it('folds case fully, as casefold does: "STRASSE" and "Ｓtraße" log in as the user added as "Straße" (kept as "strasse")', async function () {
        await addPasswordUser(store, FAST, { username: 'Straße', password: 'wonderland' });
        for (const spelling of ['STRASSE', 'strasse', 'Ｓtraße']) {
          expect((await attempt(authWith(), spelling, 'wonderland')).type, spelling).to.equal('create_entry');
        }
        expect((await listPasswordUsers(store)).map((row) => row.username)).to.deep.equal(['strasse']);
      });

      it('re-hashes a password with the configured parameters when they changed, at its next right login only', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' });
        const storedHash = async () => String((await store.findCredential('password', null, 'alice'))?.data['password_hash']);
        const before = await storedHash();
        const raised = { argon2: { memory_kib: 2048, time_cost: 2 } };
        expect((await attempt(authWith(undefined, raised), 'alice', 'nope')).errors).to.deep.equal({ base: 'invalid_auth' });
        expect(await storedHash()).to.equal(before);
        expect((await attempt(authWith(undefined, raised), 'alice', 'wonderland')).type).to.equal('create_entry');
        const after = await storedHash();
        expect(hashParams(after)).to.deep.equal({ type: 'argon2id', m: 2048, t: 2, p: 1 });
        expect(await verifyPassword(after, 'wonderland')).to.equal(true);
        expect((await attempt(authWith(undefined, raised), 'alice', 'wonderland')).type).to.equal('create_entry');
        expect(await storedHash()).to.equal(after);
      });

      it('does not normalize passwords', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'Wonderland' });
        expect((await attempt(authWith(), 'alice', 'wonderland')).errors).to.deep.equal({ base: 'invalid_auth' });
      });

      it('runs one real argon2 verify, against a dummy hash with the same parameters, for an unknown user', async function () {
        const calls: string[] = [];
        const spy: VerifyPassword = async (hash, password) => {
          calls.push(hash);
          return verifyPassword(hash, password);
        };
        const done = await attempt(authWith(spy), 'mallory', 'wonderland');
        expect(done.errors).to.deep.equal({ base: 'invalid_auth' });
        expect(calls).to.have.length(1);
        expect(hashParams(calls[0] ?? '')).to.deep.equal({ type: 'argon2id', m: 1024, t: 1, p: 1 });
      });

      it('runs exactly one argon2 verify, against the stored hash, for a known user', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' });
        const stored = (await store.findCredential('password', null, 'alice'))?.data['password_hash'];
        const calls: string[] = [];
        const done = await attempt(authWith(async (hash, password) => (calls.push(hash), verifyPassword(hash, password))), 'alice', 'nope');
        expect(done.errors).to.deep.equal({ base: 'invalid_auth' });
        expect(calls).to.deep.equal([stored]);
      });
    });

    describe('credentials and user meta', function () {
      it('never creates a credential for a username without an account', async function () {
        const provider = passwordProvider.create({ type: 'password', ...FAST }, { store });
        await expectRefusal(provider.getOrCreateCredentials({ username: 'mallory' }), 'user_not_found');
        expect(await store.findCredential('password', null, 'mallory')).to.equal(null);
      });

      it('gives the username as the name of a new user', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' });
        const provider = passwordProvider.create({ type: 'password', ...FAST }, { store });
        const credential = await provider.getOrCreateCredentials({ username: 'alice' });
        expect(await provider.userMetaForCredentials(credential)).to.deep.equal({ name: 'alice', isActive: true });
      });
    });

    describe('addPasswordUser', function () {
      it('makes the first user the owner (and so an admin) when asked to claim it, linked to its credential', async function () {
        const user = await addPasswordUser(store, FAST, { username: 'Alice', password: 'wonderland', name: 'Alice Liddell' }, { claimOwner: true });
        expect(user).to.deep.include({ name: 'Alice Liddell', isOwner: true, isAdmin: true, isActive: true });
        expect((await store.findCredential('password', null, 'alice'))?.userId).to.equal(user.id);
      });

      it('makes later users neither owner nor admin unless asked', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' }, { claimOwner: true });
        const bob = await addPasswordUser(store, FAST, { username: 'bob', password: 'builder' }, { claimOwner: true });
        const carol = await addPasswordUser(store, FAST, { username: 'carol', password: 'x', groupIds: ['system-admin'] });
        expect(bob).to.deep.include({ isOwner: false, isAdmin: false });
        expect(carol).to.deep.include({ isOwner: false, isAdmin: true });
      });

      it('refuses a username that normalizes to an existing one', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' });
        await expectRefusal(addPasswordUser(store, FAST, { username: '  ALICE ', password: 'other' }), 'username_already_exists');
        expect(await store.listUsers()).to.have.length(1);
      });

      it('keeps exactly one of two racing adds of the same normalized username', async function () {
        const outcomes = await Promise.allSettled([
          addPasswordUser(store, FAST, { username: 'alice', password: 'one' }),
          addPasswordUser(store, FAST, { username: 'ALICE', password: 'two' }),
        ]);
        expect(outcomes.map((o) => o.status).sort()).to.deep.equal(['fulfilled', 'rejected']);
        expect(await store.listUsers()).to.have.length(1);
      });

      it('refuses an empty password', async function () {
        await expectRefusal(addPasswordUser(store, FAST, { username: 'alice', password: '' }), 'invalid_password');
        expect(await store.listUsers()).to.deep.equal([]);
      });

      it('refuses a blank username', async function () {
        await expectRefusal(addPasswordUser(store, FAST, { username: '   ', password: 'x' }), 'invalid_username');
        expect(await store.listUsers()).to.deep.equal([]);
      });

      it('hashes with argon2id m=19456, t=2, p=1 when the config sets no parameters', async function () {
        await addPasswordUser(store, {}, { username: 'alice', password: 'wonderland' });
        const hash = String((await store.findCredential('password', null, 'alice'))?.data['password_hash']);
        expect(hash).to.match(/^\$argon2id\$v=19\$/);
        expect(hashParams(hash)).to.deep.equal({ type: 'argon2id', m: 19456, t: 2, p: 1 });
      });
    });

    const admin = () => new UserAdmin({ store, tokens: new TokenService(store, new AccessTokenKeys(testServerSecret())), audit: noAudit, passwordOptions: FAST });

    describe('UserAdmin#setPasswordOfUsername', function () {
      it('lets the new password in and keeps the old one out', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' });
        await admin().setPasswordOfUsername('ALICE', 'looking-glass', OPERATOR);
        const auth = authWith();
        expect((await attempt(auth, 'alice', 'looking-glass')).type).to.equal('create_entry');
        expect((await attempt(auth, 'alice', 'wonderland')).errors).to.deep.equal({ base: 'invalid_auth' });
      });

      it('refuses an unknown user', async function () {
        await expectRefusal(admin().setPasswordOfUsername('mallory', 'x', OPERATOR), 'auth_not_found');
      });
    });

    describe('UserAdmin#delete', function () {
      it('removes the user and its login', async function () {
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland' });
        await admin().delete(await admin().userOfUsername(' Alice'), OPERATOR);
        expect(await store.listUsers()).to.deep.equal([]);
        expect((await attempt(authWith(), 'alice', 'wonderland')).errors).to.deep.equal({ base: 'invalid_auth' });
      });

      it('refuses an unknown user', async function () {
        await expectRefusal(admin().userOfUsername('mallory'), 'auth_not_found');
      });
    });

    describe('listPasswordUsers', function () {
      it('lists every password user by username with its flags', async function () {
        await addPasswordUser(store, FAST, { username: 'bob', password: 'builder', name: 'Bob' }, { claimOwner: true });
        await addPasswordUser(store, FAST, { username: 'alice', password: 'wonderland', name: 'Alice', groupIds: ['system-admin'] });
        expect(await listPasswordUsers(store)).to.deep.equal([
          { username: 'alice', name: 'Alice', is_owner: false, is_admin: true, is_active: true },
          { username: 'bob', name: 'Bob', is_owner: true, is_admin: true, is_active: true },
        ]);
      });
    });
  });
}
