/** The login-defense part of the Store contract (attempt counters, bans, shared secrets), run against every backend. */
import { expect } from 'chai';
import type { AttemptCounters } from '../../server/src/store/login-defense.js';
import { useStoreGroup, type OpenStoreGroup } from './store-group.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const MINUTE = 60_000;

const counters = (limits: { address?: number; account?: number; device?: number }, windowMs = MINUTE): AttemptCounters => ({
  address: { key: '192.0.2.7', limit: limits.address ?? 0, windowMs },
  account: limits.account === undefined ? null : { key: '["password",null,"alice"]', limit: limits.account, windowMs },
  device: limits.device === undefined ? null : { key: 'device-1', limit: limits.device, windowMs },
});

/** `openGroup(n)`: n stores on the same data, as n server instances would have. */
export function describeLoginDefenseContract(name: string, openGroup: OpenStoreGroup): void {
  describe(`Store contract: ${name}: login defense`, function () {
    const group = useStoreGroup(openGroup);
    const ban = '192.0.2.7';

    describe('#reserveAttempt', function () {
      it('reserves up to the limit, then refuses with the wait until the window ends', async function () {
        const limits = counters({ address: 3 });
        for (let i = 0; i < 3; i += 1) expect((await group.store.loginDefense.reserveAttempt(ban, limits)).outcome).to.equal('reserved');
        const refused = await group.store.loginDefense.reserveAttempt(ban, limits);
        expect(refused).to.include({ outcome: 'limited', counter: 'address' });
        if (refused.outcome !== 'limited') throw new Error('unreachable');
        expect(refused.retryAfterMs).to.be.greaterThan(MINUTE - 5_000).and.at.most(MINUTE);
      });

      it('names the account counter when only the account is at its limit, and counts nothing then', async function () {
        await group.store.loginDefense.reserveAttempt(ban, counters({ address: 10, account: 1 }));
        const refused = await group.store.loginDefense.reserveAttempt(ban, counters({ address: 10, account: 1 }));
        expect(refused).to.include({ outcome: 'limited', counter: 'account' });
        // The refused attempt counted nothing: the address still has 9 left.
        for (let i = 0; i < 9; i += 1) expect((await group.store.loginDefense.reserveAttempt(ban, counters({ address: 10 }))).outcome).to.equal('reserved');
        expect((await group.store.loginDefense.reserveAttempt(ban, counters({ address: 10 }))).outcome).to.equal('limited');
      });

      it('lets exactly the limit through when many instances race', async function () {
        const limits = counters({ address: 5, account: 100 });
        const outcomes = await Promise.all(
          Array.from({ length: 24 }, (_, i) => group.stores[i % group.stores.length]!.loginDefense.reserveAttempt(ban, limits)),
        );
        expect(outcomes.filter((o) => o.outcome === 'reserved')).to.have.length(5);
      });

      it('starts a new window once the old one has passed', async function () {
        const limits = counters({ address: 1 }, 400);
        await group.store.loginDefense.reserveAttempt(ban, limits);
        expect((await group.store.loginDefense.reserveAttempt(ban, limits)).outcome).to.equal('limited');
        await sleep(700);
        expect((await group.store.loginDefense.reserveAttempt(ban, limits)).outcome).to.equal('reserved');
      });

      it('does not extend the window on later attempts', async function () {
        // A second attempt 500 ms into an 900 ms window; the window still ends 900 ms after the first.
        const limits = counters({ address: 2 }, 900);
        await group.store.loginDefense.reserveAttempt(ban, limits);
        await sleep(500);
        await group.store.loginDefense.reserveAttempt(ban, limits);
        expect((await group.store.loginDefense.checkAttempt(ban, limits)).outcome).to.equal('limited');
        await sleep(600);
        expect((await group.store.loginDefense.checkAttempt(ban, limits)).outcome).to.equal('reserved');
      });

      it('names the counters a reservation brings to their limit, so that a failure of it starts their lockout', async function () {
        const limits = counters({ address: 2, account: 3 });
        expect(await group.store.loginDefense.reserveAttempt(ban, limits)).to.deep.equal({ outcome: 'reserved', filled: [] });
        expect(await group.stores[1]!.loginDefense.reserveAttempt(ban, limits)).to.deep.equal({ outcome: 'reserved', filled: ['address'] });
        const both = counters({ address: 3, account: 3 });
        expect(await group.store.loginDefense.reserveAttempt(ban, both)).to.deep.equal({ outcome: 'reserved', filled: ['address', 'account'] });
        // A look counts nothing, so it fills nothing.
        expect(await group.store.loginDefense.checkAttempt(ban, counters({ device: 5 }))).to.deep.equal({ outcome: 'reserved', filled: [] });
      });

      it('ignores a counter whose limit is 0', async function () {
        for (let i = 0; i < 20; i += 1) expect((await group.store.loginDefense.reserveAttempt(ban, counters({}))).outcome).to.equal('reserved');
      });
    });

    describe('#settleAttempt', function () {
      it('gives every counter its attempt back on release', async function () {
        const limits = counters({ address: 1, account: 1 });
        await group.store.loginDefense.reserveAttempt(ban, limits);
        await group.store.loginDefense.settleAttempt(ban, limits, 'release', 0);
        expect((await group.store.loginDefense.reserveAttempt(ban, limits)).outcome).to.equal('reserved');
      });

      it('keeps a failure counted, and says which counters it brought to their limit', async function () {
        const limits = counters({ address: 2, account: 1 });
        await group.store.loginDefense.reserveAttempt(ban, limits);
        const settled = await group.store.loginDefense.settleAttempt(ban, limits, 'failure', 0);
        expect(settled).to.deep.equal({ banned: false, lockedOut: ['account'] });
        expect(await group.store.loginDefense.reserveAttempt(ban, limits)).to.include({ outcome: 'limited', counter: 'account' });
      });

      it('on success clears the address and device counters but gives the account back only its one', async function () {
        const untrusted = counters({ address: 3, account: 3 });
        await group.store.loginDefense.reserveAttempt(ban, untrusted);
        await group.store.loginDefense.settleAttempt(ban, untrusted, 'failure', 0);
        await group.store.loginDefense.reserveAttempt(ban, untrusted);
        await group.store.loginDefense.settleAttempt(ban, untrusted, 'failure', 0);
        await group.store.loginDefense.reserveAttempt(ban, untrusted);
        await group.store.loginDefense.settleAttempt(ban, untrusted, 'success', 0);
        // Address: cleared, three places again.
        const addressOnly = counters({ address: 3 });
        for (let i = 0; i < 3; i += 1) expect((await group.store.loginDefense.reserveAttempt(ban, addressOnly)).outcome).to.equal('reserved');
        expect((await group.store.loginDefense.reserveAttempt(ban, addressOnly)).outcome).to.equal('limited');
        // Account: its 2 failures stay counted, one place left.
        const accountOnly = { ...untrusted, address: { ...untrusted.address, limit: 0 } };
        expect((await group.store.loginDefense.reserveAttempt(ban, accountOnly)).outcome).to.equal('reserved');
        expect(await group.store.loginDefense.reserveAttempt(ban, accountOnly)).to.include({ counter: 'account' });
      });

      it('bans the address at the threshold, and a ban refuses every later attempt', async function () {
        const limits = counters({ address: 100 });
        for (let i = 0; i < 2; i += 1) {
          await group.store.loginDefense.reserveAttempt(ban, limits);
          expect((await group.store.loginDefense.settleAttempt(ban, limits, 'failure', 3)).banned).to.equal(false);
        }
        await group.store.loginDefense.reserveAttempt(ban, limits);
        expect((await group.store.loginDefense.settleAttempt(ban, limits, 'failure', 3)).banned).to.equal(true);
        expect(await group.stores[1]!.loginDefense.reserveAttempt(ban, limits)).to.deep.equal({ outcome: 'banned' });
        expect(await group.stores[2]!.loginDefense.isBanned(ban)).to.equal(true);
        expect((await group.store.loginDefense.listBans()).map((b) => b.address)).to.deep.equal([ban]);
        expect(await group.store.loginDefense.removeBan(ban)).to.equal(true);
        expect(await group.store.loginDefense.removeBan(ban)).to.equal(false);
        expect((await group.store.loginDefense.reserveAttempt(ban, limits)).outcome).to.equal('reserved');
      });

      it('does not consult the ban list when asked with no ban key (bans turned off since)', async function () {
        const limits = counters({ address: 100 });
        await group.store.loginDefense.reserveAttempt(ban, limits);
        await group.store.loginDefense.settleAttempt(ban, limits, 'failure', 1);
        expect(await group.store.loginDefense.reserveAttempt(ban, limits)).to.deep.equal({ outcome: 'banned' });
        expect((await group.store.loginDefense.reserveAttempt(null, limits)).outcome).to.equal('reserved');
        expect((await group.store.loginDefense.checkAttempt(null, limits)).outcome).to.equal('reserved');
      });

      it('resets the ban count on a success', async function () {
        const limits = counters({ address: 100 });
        await group.store.loginDefense.reserveAttempt(ban, limits);
        await group.store.loginDefense.settleAttempt(ban, limits, 'failure', 2);
        await group.store.loginDefense.reserveAttempt(ban, limits);
        await group.store.loginDefense.settleAttempt(ban, limits, 'success', 2);
        await group.store.loginDefense.reserveAttempt(ban, limits);
        expect((await group.store.loginDefense.settleAttempt(ban, limits, 'failure', 2)).banned).to.equal(false);
      });
    });

    describe('#checkAttempt', function () {
      it('reports a limit without counting anything', async function () {
        const limits = counters({ address: 1 });
        for (let i = 0; i < 5; i += 1) expect((await group.store.loginDefense.checkAttempt(ban, limits)).outcome).to.equal('reserved');
        await group.store.loginDefense.reserveAttempt(ban, limits);
        expect(await group.store.loginDefense.checkAttempt(ban, limits)).to.include({ outcome: 'limited', counter: 'address' });
      });
    });

    describe('#sharedSecret', function () {
      it('keeps the first candidate for every instance', async function () {
        const secrets = await Promise.all(group.stores.map((s, i) => s.loginDefense.sharedSecret('device-token-key', `candidate-${i}`)));
        expect(new Set(secrets).size).to.equal(1);
        expect(await group.store.loginDefense.sharedSecret('device-token-key', 'another')).to.equal(secrets[0]);
      });
    });
  });
}
