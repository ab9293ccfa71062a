/** The MFA part of the Store contract (each user's settings per module, with compare-and-set on a revision), run against every backend. */
import { expect } from 'chai';
import type { JsonObject } from '../../server/src/store/types.js';
import { useStoreGroup, type OpenStoreGroup } from './store-group.js';

/** How many writers race in the compare-and-set test, spread over the group's stores (as over server instances). */
const RACING_WRITERS = 20;

const user = (id: string) => ({ id, name: `user ${id}`, isActive: true, groupIds: ['system-users'], localOnly: false, createdAt: 1_000 });

/** `openGroup(n)`: n stores on the same data (one Redis key prefix, one SQLite file), as n server instances would have. */
export function describeMfaContract(name: string, openGroup: OpenStoreGroup): void {
  describe(`Store contract: ${name}: MFA settings`, function () {
    const group = useStoreGroup(openGroup);

    /** Writes unconditionally and answers the revision the write produced. */
    async function put(userId: string, moduleId: string, data: JsonObject): Promise<string> {
      expect(await group.store.putMfaSetting(userId, moduleId, data)).to.equal(true);
      const setting = await group.store.getMfaSetting(userId, moduleId);
      if (setting === null) throw new Error(`${moduleId} of ${userId} was not written`);
      return setting.revision;
    }

    describe('#putMfaSetting', function () {
      it('creates the settings without a revision, and replaces them again without one', async function () {
        const first = await put('u1', 'totp', { secret: 'a' });
        const second = await put('u1', 'totp', { secret: 'b' });
        expect(second).to.not.equal(first);
        expect(await group.store.getMfaSetting('u1', 'totp')).to.deep.equal({ data: { secret: 'b' }, revision: second });
      });

      it('writes with the current revision and gives the settings a new one', async function () {
        const revision = await put('u1', 'totp', { lastStep: 1 });
        expect(await group.store.putMfaSetting('u1', 'totp', { lastStep: 2 }, revision)).to.equal(true);
        const after = await group.store.getMfaSetting('u1', 'totp');
        expect(after?.data).to.deep.equal({ lastStep: 2 });
        expect(after?.revision).to.be.a('string').and.not.equal(revision);
      });

      it('changes the revision even when the same data is written again', async function () {
        const revision = await put('u1', 'totp', { lastStep: 1 });
        expect(await group.store.putMfaSetting('u1', 'totp', { lastStep: 1 }, revision)).to.equal(true);
        // The old revision no longer matches: a second use of the same time step is refused.
        expect(await group.store.putMfaSetting('u1', 'totp', { lastStep: 1 }, revision)).to.equal(false);
      });

      it('answers false for a stale revision and leaves the settings alone', async function () {
        const stale = await put('u1', 'recovery', { codes: ['h1', 'h2'] });
        const current = await put('u1', 'recovery', { codes: ['h2'] });
        expect(await group.store.putMfaSetting('u1', 'recovery', { codes: [] }, stale)).to.equal(false);
        expect(await group.store.getMfaSetting('u1', 'recovery')).to.deep.equal({ data: { codes: ['h2'] }, revision: current });
      });

      it('answers false for a revision when there are no settings, and creates nothing', async function () {
        const revision = await put('u1', 'totp', { secret: 'a' });
        expect(await group.store.deleteMfaSetting('u1', 'totp')).to.equal(true);
        expect(await group.store.putMfaSetting('u1', 'totp', { secret: 'b' }, revision)).to.equal(false);
        expect(await group.store.putMfaSetting('u2', 'totp', { secret: 'b' }, revision)).to.equal(false);
        expect(await group.store.getMfaSetting('u1', 'totp')).to.equal(null);
        expect(await group.store.getMfaSetting('u2', 'totp')).to.equal(null);
      });

      it('answers false for a revision this store never handed out, including ones shaped like a prefix of the data', async function () {
        const revision = await put('u1', 'totp', { secret: 'a' });
        for (const forged of ['', ':', `${revision}:`, `${revision}:{"secret"`, revision.slice(0, -1), `${revision}0`]) {
          expect(await group.store.putMfaSetting('u1', 'totp', { secret: 'forged' }, forged), JSON.stringify(forged)).to.equal(false);
        }
        expect(await group.store.getMfaSetting('u1', 'totp')).to.deep.equal({ data: { secret: 'a' }, revision });
      });

      it('writes with null only when there are no settings yet', async function () {
        expect(await group.store.putMfaSetting('u1', 'totp', { secret: 'a' }, null)).to.equal(true);
        expect(await group.store.putMfaSetting('u1', 'totp', { secret: 'b' }, null)).to.equal(false);
        expect((await group.store.getMfaSetting('u1', 'totp'))?.data).to.deep.equal({ secret: 'a' });
        await group.store.deleteMfaSetting('u1', 'totp');
        expect(await group.store.putMfaSetting('u1', 'totp', { secret: 'c' }, null)).to.equal(true);
        expect((await group.store.getMfaSetting('u1', 'totp'))?.data).to.deep.equal({ secret: 'c' });
      });

      it(`lets exactly one of ${RACING_WRITERS} writers with the same revision win, across stores`, async function () {
        const revision = await put('u1', 'totp', { lastStep: 0 });
        const outcomes = await Promise.all(
          Array.from({ length: RACING_WRITERS }, (_, i) =>
            group.stores[i % group.stores.length]!.putMfaSetting('u1', 'totp', { lastStep: 1, writer: i }, revision),
          ),
        );
        expect(outcomes.filter(Boolean)).to.have.length(1);
        const winner = outcomes.indexOf(true);
        expect((await group.stores[1]!.getMfaSetting('u1', 'totp'))?.data).to.deep.equal({ lastStep: 1, writer: winner });
      });

      it(`lets exactly one of ${RACING_WRITERS} writers create absent settings with null, across stores`, async function () {
        const outcomes = await Promise.all(
          Array.from({ length: RACING_WRITERS }, (_, i) => group.stores[i % group.stores.length]!.putMfaSetting('u1', 'totp', { writer: i }, null)),
        );
        expect(outcomes.filter(Boolean)).to.have.length(1);
        expect((await group.store.getMfaSetting('u1', 'totp'))?.data).to.deep.equal({ writer: outcomes.indexOf(true) });
      });

      it('round-trips nested JSON and unicode unchanged', async function () {
        const data: JsonObject = {
          target: 'zoë@exämple.test',
          note: '二段階認証 ✓ 🔐 "quoted" \\ back:slash\nnew line',
          codes: [{ hash: 'a'.repeat(64), used: false }, { hash: 'b'.repeat(64), used: true }],
          nested: { deeper: { list: [1, -2.5, 0, null, true, false, ''], empty: {} } },
          ':colon-key': ':value:',
        };
        await put('u1', 'notify', data);
        expect((await group.stores[2]!.getMfaSetting('u1', 'notify'))?.data).to.deep.equal(data);
        expect((await group.stores[3]!.listMfaSettings('u1'))['notify']?.data).to.deep.equal(data);
      });
    });

    describe('#getMfaSetting', function () {
      it('answers null for a module the user has no settings for', async function () {
        await put('u1', 'totp', { secret: 'a' });
        expect(await group.store.getMfaSetting('u1', 'recovery')).to.equal(null);
        expect(await group.store.getMfaSetting('nobody', 'totp')).to.equal(null);
      });

      it('answers what another store wrote, with the same revision', async function () {
        const revision = await put('u1', 'totp', { secret: 'a' });
        expect(await group.stores[1]!.getMfaSetting('u1', 'totp')).to.deep.equal({ data: { secret: 'a' }, revision });
      });
    });

    describe('#listMfaSettings', function () {
      it('answers every module of the user by id, with its revision', async function () {
        const totp = await put('u1', 'totp', { secret: 'a' });
        const recovery = await put('u1', 'recovery', { codes: ['h'] });
        expect(await group.store.listMfaSettings('u1')).to.deep.equal({
          totp: { data: { secret: 'a' }, revision: totp },
          recovery: { data: { codes: ['h'] }, revision: recovery },
        });
      });

      it('answers an empty record for a user without settings', async function () {
        expect(await group.store.listMfaSettings('nobody')).to.deep.equal({});
      });

      it('keeps the settings of two users and two modules apart', async function () {
        await put('u1', 'totp', { owner: 'u1 totp' });
        await put('u1', 'notify', { owner: 'u1 notify' });
        await put('u2', 'totp', { owner: 'u2 totp' });
        await put('u2', 'notify', { owner: 'u2 notify' });
        await group.store.putMfaSetting('u1', 'totp', { owner: 'u1 totp, again' });
        await group.store.deleteMfaSetting('u2', 'notify');
        const data = async (userId: string): Promise<Record<string, unknown>> =>
          Object.fromEntries(Object.entries(await group.store.listMfaSettings(userId)).map(([id, setting]) => [id, setting.data]));
        expect(await data('u1')).to.deep.equal({ totp: { owner: 'u1 totp, again' }, notify: { owner: 'u1 notify' } });
        expect(await data('u2')).to.deep.equal({ totp: { owner: 'u2 totp' } });
      });
    });

    describe('#deleteMfaSetting', function () {
      it('removes the module’s settings and answers true', async function () {
        await put('u1', 'totp', { secret: 'a' });
        await put('u1', 'recovery', { codes: [] });
        expect(await group.store.deleteMfaSetting('u1', 'totp')).to.equal(true);
        expect(await group.store.getMfaSetting('u1', 'totp')).to.equal(null);
        expect(Object.keys(await group.store.listMfaSettings('u1'))).to.deep.equal(['recovery']);
      });

      it('answers false when there was nothing to delete', async function () {
        expect(await group.store.deleteMfaSetting('u1', 'totp')).to.equal(false);
        await put('u1', 'totp', { secret: 'a' });
        expect(await group.store.deleteMfaSetting('u1', 'recovery')).to.equal(false);
        expect(await group.store.deleteMfaSetting('u1', 'totp')).to.equal(true);
        expect(await group.store.deleteMfaSetting('u1', 'totp')).to.equal(false);
      });
    });

    describe('#removeUser', function () {
      it('removes the user’s MFA settings with the user, and no one else’s', async function () {
        await group.store.createUser(user('u1'));
        await group.store.createUser(user('u2'));
        await put('u1', 'totp', { secret: 'a' });
        await put('u1', 'recovery', { codes: ['h'] });
        await put('u2', 'totp', { secret: 'b' });
        expect(await group.store.removeUser('u1')).to.equal(true);
        expect(await group.store.listMfaSettings('u1')).to.deep.equal({});
        expect(await group.store.getMfaSetting('u1', 'totp')).to.equal(null);
        expect((await group.store.getMfaSetting('u2', 'totp'))?.data).to.deep.equal({ secret: 'b' });
        // A user created again under the same id starts without MFA.
        await group.store.createUser(user('u1'));
        expect(await group.store.listMfaSettings('u1')).to.deep.equal({});
      });
    });
  });
}
