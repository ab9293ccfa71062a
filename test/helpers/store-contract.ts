/** The Store contract as one mocha suite, run against every backend (Kratos runs TestFlowPersister against every database). */
import { expect } from 'chai';
import type { Store } from '../../server/src/store/types.js';
import { describeRefreshTokenContract } from './store-contract-tokens.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Resolves with the first message `subscribe` delivers on `channel`, or rejects after `timeoutMs`. */
export async function firstMessage(store: Store, channel: string, timeoutMs = 2_000): Promise<{ message: Promise<string> }> {
  let resolveMessage = (_: string): void => {};
  const message = new Promise<string>((resolve, reject) => {
    resolveMessage = resolve;
    setTimeout(() => reject(new Error(`no message on ${channel} within ${timeoutMs} ms`)), timeoutMs).unref();
  });
  await store.subscribe(channel, (received) => resolveMessage(received));
  return { message };
}

const HOUR = 3_600_000;
/** Short enough to keep the suite fast, long enough that the write and the first read land well inside it. */
// Long enough that a read right after the write lands inside the window on a loaded 2-core machine.
const SHORT_TTL_MS = 500;
const PAST_SHORT_TTL_MS = 650;

const user = (id: string, createdAt = Date.now()) => ({ id, name: `user ${id}`, isActive: true, groupIds: ['system-users'], localOnly: false, createdAt });

export function describeStoreContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, function () {
    let store: Store;
    beforeEach(async function () {
      store = await makeStore();
    });
    afterEach(async function () {
      await store.close();
    });

    describe('#createFlow / #getFlow', function () {
      it('reads back a created flow at version 1', async function () {
        const expiresAt = Date.now() + HOUR;
        const created = await store.createFlow('flow-1', { step: 'init', nested: { n: [1, 'two', null] } }, expiresAt);
        expect(created).to.deep.equal({ id: 'flow-1', version: 1, data: { step: 'init', nested: { n: [1, 'two', null] } }, expiresAt });
        expect(await store.getFlow('flow-1')).to.deep.equal(created);
      });

      it('answers null for an unknown id', async function () {
        expect(await store.getFlow('no-such-flow')).to.equal(null);
      });

      it('answers null once the flow expired', async function () {
        await store.createFlow('flow-1', { step: 'init' }, Date.now() + SHORT_TTL_MS);
        expect(await store.getFlow('flow-1')).to.not.equal(null);
        await sleep(PAST_SHORT_TTL_MS);
        expect(await store.getFlow('flow-1')).to.equal(null);
      });

      it('throws when the id exists and leaves the existing flow untouched', async function () {
        await store.createFlow('flow-1', { owner: 'first' }, Date.now() + HOUR);
        const error = await rejectionOf(store.createFlow('flow-1', { owner: 'second' }, Date.now() + HOUR));
        expect(error).to.be.instanceOf(Error);
        expect((await store.getFlow('flow-1'))?.data).to.deep.equal({ owner: 'first' });
      });
    });

    describe('#replaceFlow', function () {
      it('writes the data as the next version when the version matches', async function () {
        await store.createFlow('flow-1', { step: 'init' }, Date.now() + HOUR);
        const expiresAt = Date.now() + 2 * HOUR;
        expect(await store.replaceFlow('flow-1', 1, { step: 'mfa' }, expiresAt)).to.equal('ok');
        expect(await store.getFlow('flow-1')).to.deep.equal({ id: 'flow-1', version: 2, data: { step: 'mfa' }, expiresAt });
      });

      it('answers conflict for a stale version and keeps the stored flow', async function () {
        await store.createFlow('flow-1', { step: 'init' }, Date.now() + HOUR);
        await store.replaceFlow('flow-1', 1, { step: 'mfa' }, Date.now() + HOUR);
        expect(await store.replaceFlow('flow-1', 1, { step: 'stale' }, Date.now() + HOUR)).to.equal('conflict');
        expect(await store.getFlow('flow-1')).to.include({ version: 2 }).and.to.have.deep.property('data', { step: 'mfa' });
      });

      it('answers not_found for an unknown flow without creating it', async function () {
        expect(await store.replaceFlow('no-such-flow', 1, { step: 'x' }, Date.now() + HOUR)).to.equal('not_found');
        expect(await store.getFlow('no-such-flow')).to.equal(null);
      });

      it('answers not_found for an expired flow', async function () {
        await store.createFlow('flow-1', { step: 'init' }, Date.now() + SHORT_TTL_MS);
        await sleep(PAST_SHORT_TTL_MS);
        expect(await store.replaceFlow('flow-1', 1, { step: 'late' }, Date.now() + HOUR)).to.equal('not_found');
      });

      it('lets exactly one of 50 concurrent writers with the same expected version win', async function () {
        await store.createFlow('flow-1', { writer: -1 }, Date.now() + HOUR);
        const outcomes = await Promise.all(
          Array.from({ length: 50 }, (_, writer) => store.replaceFlow('flow-1', 1, { writer }, Date.now() + HOUR)),
        );
        expect(outcomes.filter((outcome) => outcome === 'ok')).to.have.length(1);
        expect(outcomes.filter((outcome) => outcome === 'conflict')).to.have.length(49);
        const flow = await store.getFlow('flow-1');
        expect(flow?.version).to.equal(2);
        expect(flow?.data['writer']).to.equal(outcomes.indexOf('ok'));
      });
    });

    describe('#deleteFlow', function () {
      it('deletes the flow when the version matches', async function () {
        await store.createFlow('flow-1', { step: 'init' }, Date.now() + HOUR);
        expect(await store.deleteFlow('flow-1', 1)).to.equal('ok');
        expect(await store.getFlow('flow-1')).to.equal(null);
      });

      it('answers conflict for a stale version and keeps the flow', async function () {
        await store.createFlow('flow-1', { step: 'init' }, Date.now() + HOUR);
        await store.replaceFlow('flow-1', 1, { step: 'mfa' }, Date.now() + HOUR);
        expect(await store.deleteFlow('flow-1', 1)).to.equal('conflict');
        expect((await store.getFlow('flow-1'))?.version).to.equal(2);
      });

      it('answers not_found for an unknown flow', async function () {
        expect(await store.deleteFlow('no-such-flow', 1)).to.equal('not_found');
      });
    });

    describe('#putCode / #takeCode', function () {
      it('returns the data on the first take and null on the second', async function () {
        await store.putCode('code-1', 'client-a', { userId: 'u1' }, Date.now() + HOUR);
        expect(await store.takeCode('code-1', 'client-a')).to.deep.equal({ userId: 'u1' });
        expect(await store.takeCode('code-1', 'client-a')).to.equal(null);
      });

      it('answers null to another client id and keeps the code for its own client', async function () {
        await store.putCode('code-1', 'client-a', { userId: 'u1' }, Date.now() + HOUR);
        expect(await store.takeCode('code-1', 'client-b')).to.equal(null);
        expect(await store.takeCode('code-1', 'client-a')).to.deep.equal({ userId: 'u1' });
      });

      it('answers null once the code expired', async function () {
        await store.putCode('code-1', 'client-a', { userId: 'u1' }, Date.now() + SHORT_TTL_MS);
        await sleep(PAST_SHORT_TTL_MS);
        expect(await store.takeCode('code-1', 'client-a')).to.equal(null);
      });

      it('gives a code to exactly one of 20 concurrent takers', async function () {
        await store.putCode('code-1', 'client-a', { userId: 'u1' }, Date.now() + HOUR);
        const taken = await Promise.all(Array.from({ length: 20 }, () => store.takeCode('code-1', 'client-a')));
        expect(taken.filter((data) => data !== null)).to.have.length(1);
      });
    });

    describe('users', function () {
      it('makes nobody the owner unless asked to claim it, also the first user ever', async function () {
        expect((await store.createUser(user('u1'))).isOwner).to.equal(false);
        expect((await store.createUser(user('u2'), { claimOwner: true })).isOwner).to.equal(true);
        expect((await store.getUser('u1'))?.isOwner).to.equal(false);
        expect((await store.getUser('u2'))?.isOwner).to.equal(true);
      });

      it('makes the first user that claims the owner the owner, and no later one', async function () {
        expect((await store.createUser(user('u1'), { claimOwner: true })).isOwner).to.equal(true);
        expect((await store.createUser(user('u2'), { claimOwner: true })).isOwner).to.equal(false);
        expect((await store.getUser('u1'))?.isOwner).to.equal(true);
      });

      it('elects exactly one owner among concurrent first users that claim it', async function () {
        const created = await Promise.all(Array.from({ length: 10 }, (_, i) => store.createUser(user(`u${i}`), { claimOwner: true })));
        expect(created.filter((u) => u.isOwner)).to.have.length(1);
        expect((await store.listUsers()).filter((u) => u.isOwner)).to.have.length(1);
      });

      it('does not promote anyone when the owner is removed', async function () {
        await store.createUser(user('u1'), { claimOwner: true });
        await store.removeUser('u1');
        expect((await store.createUser(user('u2'), { claimOwner: true })).isOwner).to.equal(false);
      });

      it('throws when the user id exists', async function () {
        await store.createUser(user('u1'));
        expect(await rejectionOf(store.createUser({ ...user('u1'), name: 'other' }))).to.be.instanceOf(Error);
        expect((await store.getUser('u1'))?.name).to.equal('user u1');
      });

      it('answers null for an unknown user', async function () {
        expect(await store.getUser('nobody')).to.equal(null);
      });

      it('updates only the patched fields', async function () {
        await store.createUser(user('owner'));
        const created = await store.createUser(user('u1', 1_000));
        const updated = await store.updateUser('u1', { name: 'Alice', groupIds: ['system-admin'] });
        const expected = { ...created, name: 'Alice', groupIds: ['system-admin'], isAdmin: true };
        expect(updated).to.deep.equal(expected);
        expect(await store.getUser('u1')).to.deep.equal(expected);
        expect(await store.updateUser('u1', { isActive: false })).to.deep.equal({ ...expected, isActive: false });
        const local = { ...expected, isActive: false, localOnly: true, groupIds: ['system-read-only'], isAdmin: false };
        expect(await store.updateUser('u1', { localOnly: true, groupIds: ['system-read-only'] })).to.deep.equal(local);
      });

      it('keeps the groups and local_only it was created with; an admin is a member of system-admin', async function () {
        await store.createUser(user('owner'));
        const admin = await store.createUser({ ...user('u1'), groupIds: ['system-admin', 'system-read-only'], localOnly: true });
        expect(admin).to.deep.include({ isAdmin: true, localOnly: true, isOwner: false });
        expect(admin.groupIds).to.deep.equal(['system-admin', 'system-read-only']);
        expect(await store.getUser('u1')).to.deep.equal(admin);
        expect(await store.createUser(user('u2'))).to.deep.include({ isAdmin: false, localOnly: false });
      });

      it('keeps the owner an admin whatever groups it is given', async function () {
        const owner = await store.createUser({ ...user('u1'), groupIds: ['system-users'] }, { claimOwner: true });
        expect(owner).to.deep.include({ isOwner: true, isAdmin: true });
        expect(owner.groupIds).to.include('system-admin');
        const updated = await store.updateUser('u1', { groupIds: ['system-read-only'] });
        expect(updated).to.deep.include({ isAdmin: true });
        expect(updated?.groupIds).to.deep.equal(['system-admin', 'system-read-only']);
      });

      it('answers null when updating an unknown user and does not create it', async function () {
        expect(await store.updateUser('nobody', { name: 'x' })).to.equal(null);
        expect(await store.getUser('nobody')).to.equal(null);
      });

      it('removes the user and its credentials', async function () {
        await store.createUser(user('u1'));
        const credential = await store.getOrCreateCredential('homeassistant', null, 'alice', { hash: 'h' });
        expect(await store.linkCredential(credential.id, 'u1')).to.equal(true);
        expect(await store.removeUser('u1')).to.equal(true);
        expect(await store.getUser('u1')).to.equal(null);
        expect(await store.getCredential(credential.id)).to.equal(null);
        expect(await store.findCredential('homeassistant', null, 'alice')).to.equal(null);
        expect(await store.listCredentials('u1')).to.deep.equal([]);
        expect(await store.listUsers()).to.deep.equal([]);
        const again = await store.getOrCreateCredential('homeassistant', null, 'alice', { hash: 'h2' });
        expect(again.id).to.not.equal(credential.id);
        expect(again.userId).to.equal(null);
      });

      it('answers false when removing an unknown user', async function () {
        expect(await store.removeUser('nobody')).to.equal(false);
      });

      it('lists users by createdAt', async function () {
        await store.createUser(user('b', 3_000));
        await store.createUser(user('a', 1_000));
        await store.createUser(user('c', 2_000));
        expect((await store.listUsers()).map((u) => u.id)).to.deep.equal(['a', 'c', 'b']);
      });
    });

    describe('credentials', function () {
      it('creates a credential once and returns it, with its first data, afterwards', async function () {
        const first = await store.getOrCreateCredential('homeassistant', null, 'alice', { v: 1 });
        expect(first).to.include({ providerType: 'homeassistant', providerId: null, subject: 'alice', userId: null });
        expect(first.data).to.deep.equal({ v: 1 });
        expect(await store.getOrCreateCredential('homeassistant', null, 'alice', { v: 2 })).to.deep.equal(first);
        expect(await store.getCredential(first.id)).to.deep.equal(first);
        expect(await store.findCredential('homeassistant', null, 'alice')).to.deep.equal(first);
      });

      it('creates one credential for 20 concurrent callers', async function () {
        const credentials = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.getOrCreateCredential('homeassistant', null, 'alice', { caller: i })),
        );
        expect(new Set(credentials.map((credential) => credential.id)).size).to.equal(1);
      });

      it('keeps providers and provider ids apart', async function () {
        const ids = new Set([
          (await store.getOrCreateCredential('homeassistant', null, 'alice', {})).id,
          (await store.getOrCreateCredential('homeassistant', '', 'alice', {})).id,
          (await store.getOrCreateCredential('homeassistant', 'second', 'alice', {})).id,
          (await store.getOrCreateCredential('command_line', null, 'alice', {})).id,
        ]);
        expect(ids.size).to.equal(4);
        expect(await store.findCredential('homeassistant', 'third', 'alice')).to.equal(null);
      });

      it('links a credential to one user and refuses another', async function () {
        await store.createUser(user('u1'));
        await store.createUser(user('u2'));
        const credential = await store.getOrCreateCredential('homeassistant', null, 'alice', {});
        expect(await store.linkCredential(credential.id, 'u1')).to.equal(true);
        expect(await store.linkCredential(credential.id, 'u2')).to.equal(false);
        expect(await store.linkCredential(credential.id, 'u1')).to.equal(true);
        expect((await store.getCredential(credential.id))?.userId).to.equal('u1');
        expect((await store.listCredentials('u1')).map((c) => c.id)).to.deep.equal([credential.id]);
        expect(await store.listCredentials('u2')).to.deep.equal([]);
      });

      it('removes one credential, freeing its subject and leaving its user', async function () {
        await store.createUser(user('u1'));
        const credential = await store.getOrCreateCredential('homeassistant', null, 'alice', {});
        await store.linkCredential(credential.id, 'u1');
        expect(await store.removeCredential(credential.id)).to.equal(true);
        expect(await store.removeCredential(credential.id)).to.equal(false);
        expect(await store.getCredential(credential.id)).to.equal(null);
        expect(await store.findCredential('homeassistant', null, 'alice')).to.equal(null);
        expect(await store.listCredentials('u1')).to.deep.equal([]);
        expect(await store.getUser('u1')).to.not.equal(null);
        expect((await store.getOrCreateCredential('homeassistant', null, 'alice', {})).id).to.not.equal(credential.id);
      });

      it('moves a credential to a free subject, keeping its id, data and user', async function () {
        await store.createUser(user('u1'));
        const credential = await store.getOrCreateCredential('homeassistant', null, 'alice', { hash: 'h' });
        await store.linkCredential(credential.id, 'u1');
        expect(await store.changeCredentialSubject(credential.id, 'alicia')).to.equal('ok');
        expect(await store.findCredential('homeassistant', null, 'alice')).to.equal(null);
        const moved = await store.findCredential('homeassistant', null, 'alicia');
        expect(moved).to.deep.equal({ ...credential, subject: 'alicia', userId: 'u1' });
        expect(await store.changeCredentialSubject(credential.id, 'alicia')).to.equal('ok');
        expect(await store.changeCredentialSubject('no-such-credential', 'x')).to.equal('not_found');
      });

      it('refuses a subject another credential of the provider holds, and lets one of 10 racers have a free one', async function () {
        const alice = await store.getOrCreateCredential('homeassistant', null, 'alice', {});
        const bob = await store.getOrCreateCredential('homeassistant', null, 'bob', {});
        expect(await store.changeCredentialSubject(alice.id, 'bob')).to.equal('taken');
        expect((await store.getCredential(alice.id))?.subject).to.equal('alice');
        expect((await store.findCredential('homeassistant', null, 'bob'))?.id).to.equal(bob.id);
        const others = await Promise.all(Array.from({ length: 10 }, (_, i) => store.getOrCreateCredential('homeassistant', null, `c${i}`, {})));
        const outcomes = await Promise.all(others.map((c) => store.changeCredentialSubject(c.id, 'carol')));
        expect(outcomes.filter((o) => o === 'ok')).to.have.length(1);
        expect(outcomes.filter((o) => o === 'taken')).to.have.length(9);
      });

      it('refuses to link an unknown credential or to an unknown user', async function () {
        await store.createUser(user('u1'));
        expect(await store.linkCredential('no-such-credential', 'u1')).to.equal(false);
        const credential = await store.getOrCreateCredential('homeassistant', null, 'alice', {});
        expect(await store.linkCredential(credential.id, 'nobody')).to.equal(false);
        expect((await store.getCredential(credential.id))?.userId).to.equal(null);
      });
    });

    describe('#makeOwner', function () {
      it('makes a user the owner (and an admin) while there is none', async function () {
        await store.createUser(user('u1'));
        expect(await store.makeOwner('u1')).to.equal('ok');
        expect(await store.getUser('u1')).to.deep.include({ isOwner: true, isAdmin: true });
        expect(await store.makeOwner('u1')).to.equal('ok');
        // Elected: a later claim does not make another owner.
        expect((await store.createUser(user('u2'), { claimOwner: true })).isOwner).to.equal(false);
      });

      it('refuses while another user is the owner, and for an unknown user', async function () {
        await store.createUser(user('u1'), { claimOwner: true });
        await store.createUser(user('u2'));
        expect(await store.makeOwner('u2')).to.equal('owner_exists');
        expect(await store.getUser('u2')).to.deep.include({ isOwner: false });
        expect(await store.makeOwner('nobody')).to.equal('not_found');
      });

      it('takes the place of an owner that was removed', async function () {
        await store.createUser(user('u1'), { claimOwner: true });
        await store.createUser(user('u2'));
        await store.removeUser('u1');
        expect(await store.makeOwner('u2')).to.equal('ok');
        expect((await store.listUsers()).filter((u) => u.isOwner).map((u) => u.id)).to.deep.equal(['u2']);
      });

      it('makes exactly one owner of 10 users promoted at once', async function () {
        await Promise.all(Array.from({ length: 10 }, (_, i) => store.createUser(user(`u${i}`))));
        const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => store.makeOwner(`u${i}`)));
        expect(outcomes.filter((outcome) => outcome === 'ok')).to.have.length(1);
        expect((await store.listUsers()).filter((u) => u.isOwner)).to.have.length(1);
      });
    });

    describe('#createUserForCredential', function () {
      it('creates a user that claims the owner as owner and admin, bound to the credential, and later users as neither', async function () {
        const alice = await store.getOrCreateCredential('homeassistant', null, 'alice', {});
        const first = await store.createUserForCredential(alice.id, user('u1', 1_000), { claimOwner: true });
        const owner = { ...user('u1', 1_000), groupIds: ['system-admin', 'system-users'], isOwner: true, isAdmin: true };
        expect(first).to.deep.equal({ user: owner, created: true });
        expect((await store.getCredential(alice.id))?.userId).to.equal('u1');
        expect((await store.listCredentials('u1')).map((c) => c.id)).to.deep.equal([alice.id]);
        const bob = await store.getOrCreateCredential('homeassistant', null, 'bob', {});
        const second = await store.createUserForCredential(bob.id, user('u2'), { claimOwner: true });
        expect(second?.user).to.deep.include({ id: 'u2', isOwner: false, isAdmin: false });
        expect(await store.getUser('u2')).to.deep.equal(second?.user);
      });

      it('returns the user a credential already has, creating nothing', async function () {
        const credential = await store.getOrCreateCredential('homeassistant', null, 'alice', {});
        const made = await store.createUserForCredential(credential.id, user('u1'));
        const again = await store.createUserForCredential(credential.id, user('u2'));
        expect(again).to.deep.equal({ user: made?.user, created: false });
        expect((await store.listUsers()).map((u) => u.id)).to.deep.equal(['u1']);
      });

      it('never makes the owner unless asked to claim it, also for the first user ever (a login)', async function () {
        const alice = await store.getOrCreateCredential('homeassistant', null, 'alice', {});
        expect((await store.createUserForCredential(alice.id, user('u1')))?.user).to.deep.include({ isOwner: false, isAdmin: false });
        expect((await store.createUser(user('u2'), { claimOwner: true })).isOwner).to.equal(true);
      });

      it('answers null for an unknown credential and creates no user or owner', async function () {
        expect(await store.createUserForCredential('no-such-credential', user('u1'), { claimOwner: true })).to.equal(null);
        expect(await store.getUser('u1')).to.equal(null);
        expect((await store.createUser(user('u2'), { claimOwner: true })).isOwner).to.equal(true);
      });

      it('gives 10 concurrent first adds of one credential the same user, which is the owner', async function () {
        const credential = await store.getOrCreateCredential('homeassistant', null, 'alice', {});
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.createUserForCredential(credential.id, user(`u${i}`), { claimOwner: true })),
        );
        expect(results.filter((result) => result?.created)).to.have.length(1);
        expect(new Set(results.map((result) => result?.user.id)).size).to.equal(1);
        const users = await store.listUsers();
        expect(users).to.have.length(1);
        expect(users[0]).to.deep.include({ isOwner: true, isAdmin: true });
      });
    });

    describe('#updateCredentialData', function () {
      it('replaces the data and keeps the rest of the credential', async function () {
        const credential = await store.getOrCreateCredential('homeassistant', null, 'alice', { hash: 'old', extra: 1 });
        expect(await store.updateCredentialData(credential.id, { hash: 'new' })).to.equal(true);
        expect(await store.getCredential(credential.id)).to.deep.equal({ ...credential, data: { hash: 'new' } });
        expect((await store.findCredential('homeassistant', null, 'alice'))?.data).to.deep.equal({ hash: 'new' });
      });

      it('given the expected data, writes only while the data is still exactly that', async function () {
        const credential = await store.getOrCreateCredential('homeassistant', null, 'alice', { hash: 'old', extra: 1 });
        expect(await store.updateCredentialData(credential.id, { hash: 'changed' }, { hash: 'old' })).to.equal(false);
        expect(await store.updateCredentialData(credential.id, { hash: 'rehashed', extra: 1 }, credential.data)).to.equal(true);
        expect(await store.updateCredentialData(credential.id, { hash: 'stale', extra: 1 }, credential.data)).to.equal(false);
        expect((await store.getCredential(credential.id))?.data).to.deep.equal({ hash: 'rehashed', extra: 1 });
        expect(await store.updateCredentialData('no-such-credential', { hash: 'x' }, { hash: 'x' })).to.equal(false);
      });

      it('answers false for an unknown credential and does not create it', async function () {
        expect(await store.updateCredentialData('no-such-credential', { hash: 'x' })).to.equal(false);
        expect(await store.getCredential('no-such-credential')).to.equal(null);
      });
    });

    describeRefreshTokenContract(() => store);

    describe('events', function () {
      it('delivers a published message to a subscriber', async function () {
        const { message } = await firstMessage(store, 'revocations');
        await store.publish('revocations', 'token-1');
        expect(await message).to.equal('token-1');
      });

      it('delivers only the channel subscribed to', async function () {
        const received: string[] = [];
        await store.subscribe('a', (message) => received.push(`a:${message}`));
        const { message } = await firstMessage(store, 'b');
        await store.publish('a', '1');
        await store.publish('b', '2');
        expect(await message).to.equal('2');
        expect(received).to.deep.equal(['a:1']);
      });

      it('stops delivering after unsubscribe', async function () {
        const received: string[] = [];
        const unsubscribe = await store.subscribe('revocations', (message) => received.push(message));
        const { message: sentinel } = await firstMessage(store, 'revocations');
        await unsubscribe();
        await store.publish('revocations', 'after');
        expect(await sentinel).to.equal('after'); // the other subscriber still gets it, so the message did go out
        await sleep(100);
        expect(received).to.deep.equal([]);
      });
    });
  });
}
