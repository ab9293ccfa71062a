/** The lease part of the Store contract (bounded sets of expiring members), run against every backend. */
import { expect } from 'chai';
import { useStoreGroup, type OpenStoreGroup } from './store-group.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const MINUTE = 60_000;
/** Long enough that the write and a read right after it land inside it on a loaded 2-core machine. */
const SHORT_TTL_MS = 500;
const PAST_SHORT_TTL_MS = 650;

/**
 * `openGroup(n)` opens n stores on the same data (one Redis key prefix, one SQLite file), as n server instances would: the
 * races run across them, so atomicity is shown between processes' connections, not just within one client.
 */
export function describeLeaseContract(name: string, openGroup: OpenStoreGroup): void {
  describe(`Store contract: ${name}: leases`, function () {
    const group = useStoreGroup(openGroup);
    const inAMinute = (): number => Date.now() + MINUTE;

    describe('#acquireLease', function () {
      it('admits members up to the limit and refuses the next one', async function () {
        for (const member of ['a', 'b', 'c']) expect(await group.store.acquireLease('sockets:192.0.2.1', member, 3, inAMinute()), member).to.equal(true);
        expect(await group.store.acquireLease('sockets:192.0.2.1', 'd', 3, inAMinute())).to.equal(false);
      });

      it('lets a member already in a full set refresh its lease', async function () {
        await group.store.acquireLease('set', 'a', 1, Date.now() + SHORT_TTL_MS);
        expect(await group.store.acquireLease('set', 'a', 1, inAMinute())).to.equal(true);
        await sleep(PAST_SHORT_TTL_MS);
        // The refreshed expiry holds: the set is still full for anyone else.
        expect(await group.store.acquireLease('set', 'b', 1, inAMinute())).to.equal(false);
      });

      it('does not count expired members', async function () {
        expect(await group.store.acquireLease('set', 'a', 2, Date.now() + SHORT_TTL_MS)).to.equal(true);
        expect(await group.store.acquireLease('set', 'b', 2, Date.now() + SHORT_TTL_MS)).to.equal(true);
        expect(await group.store.acquireLease('set', 'c', 2, inAMinute())).to.equal(false);
        await sleep(PAST_SHORT_TTL_MS);
        expect(await group.store.acquireLease('set', 'c', 2, inAMinute())).to.equal(true);
        expect(await group.store.acquireLease('set', 'd', 2, inAMinute())).to.equal(true);
        expect(await group.store.acquireLease('set', 'e', 2, inAMinute())).to.equal(false);
      });

      it('keeps sets apart', async function () {
        expect(await group.store.acquireLease('sockets:192.0.2.1', 'a', 1, inAMinute())).to.equal(true);
        expect(await group.store.acquireLease('sockets:192.0.2.2', 'a', 1, inAMinute())).to.equal(true);
        expect(await group.store.acquireLease('sockets:2001:db8:1:2::/64', 'a', 1, inAMinute())).to.equal(true);
        expect(await group.store.acquireLease('sockets:192.0.2.1', 'b', 1, inAMinute())).to.equal(false);
      });

      it('answers false for a limit of 0 or an expiry already past, and adds nothing', async function () {
        expect(await group.store.acquireLease('set', 'a', 0, inAMinute())).to.equal(false);
        expect(await group.store.acquireLease('set', 'b', 1, Date.now() - 1)).to.equal(false);
        expect(await group.store.acquireLease('set', 'c', 1, inAMinute())).to.equal(true);
      });

      it('lets exactly `limit` of 20 racing members in, across stores', async function () {
        const members = Array.from({ length: 20 }, (_, i) => `member-${i}`);
        const outcomes = await Promise.all(
          members.map((member, i) => group.stores[i % group.stores.length]!.acquireLease('race', member, 5, inAMinute())),
        );
        expect(outcomes.filter(Boolean)).to.have.length(5);
        // The set really is full: the winners stay in it, nobody else gets in.
        expect(await group.store.acquireLease('race', 'late', 5, inAMinute())).to.equal(false);
        const winners = members.filter((_, i) => outcomes[i]);
        expect(await group.store.acquireLease('race', winners[0]!, 5, inAMinute())).to.equal(true);
      });
    });

    describe('#releaseLease', function () {
      it('frees the member’s place for another', async function () {
        await group.store.acquireLease('set', 'a', 1, inAMinute());
        await group.stores[1]!.releaseLease('set', 'a');
        expect(await group.store.acquireLease('set', 'b', 1, inAMinute())).to.equal(true);
      });

      it('does nothing for a member or a set that is not there', async function () {
        await group.store.releaseLease('no-such-set', 'a');
        await group.store.acquireLease('set', 'a', 1, inAMinute());
        await group.store.releaseLease('set', 'b');
        expect(await group.store.acquireLease('set', 'c', 1, inAMinute())).to.equal(false);
      });
    });

    describe('#nextLeaseExpiry', function () {
      it('answers the earliest expiry of the live members, on every store', async function () {
        const later = inAMinute() + MINUTE;
        const sooner = inAMinute();
        await group.store.acquireLease('set', 'late', 5, later);
        await group.store.acquireLease('set', 'soon', 5, sooner);
        await group.store.acquireLease('other', 'x', 5, Date.now() + SHORT_TTL_MS);
        for (const store of group.stores) expect(await store.nextLeaseExpiry('set')).to.equal(sooner);
        await group.stores[1]!.releaseLease('set', 'soon');
        expect(await group.store.nextLeaseExpiry('set')).to.equal(later);
      });

      it('answers null for an unknown set, and skips members that expired', async function () {
        expect(await group.store.nextLeaseExpiry('no-such-set')).to.equal(null);
        await group.store.acquireLease('set', 'a', 2, Date.now() + SHORT_TTL_MS);
        const kept = inAMinute();
        await group.store.acquireLease('set', 'b', 2, kept);
        await sleep(PAST_SHORT_TTL_MS);
        // Nothing acquired since: the expired member may still be stored, and must not be answered.
        expect(await group.store.nextLeaseExpiry('set')).to.equal(kept);
        await group.store.releaseLease('set', 'b');
        expect(await group.store.nextLeaseExpiry('set')).to.equal(null);
      });
    });
  });
}
