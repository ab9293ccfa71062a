/** The refresh-token part of the Store contract, run by describeStoreContract (store-contract.ts) against every backend. */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { newRefreshTokenId } from '../../server/src/store/ids.js';
import type { RefreshToken, Store } from '../../server/src/store/types.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const HOUR = 3_600_000;
/** As in store-contract.ts: short enough to keep the suite fast, long enough for the write and first read to land inside it. */
// Long enough that a read right after the write lands inside the window on a loaded 2-core machine.
const SHORT_TTL_MS = 500;
const PAST_SHORT_TTL_MS = 650;

const sha256 = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** A normal token of user u1 expiring in an hour, every nullable field set; `overrides` adjust it. */
function refreshToken(id: string, overrides: Partial<RefreshToken> = {}): RefreshToken {
  return {
    id,
    userId: 'u1',
    clientId: 'https://app.example/',
    clientName: 'Phone',
    type: 'normal',
    tokenHash: sha256(`secret-${id}`),
    keySalt: `salt-${id}`,
    accessTokenTtlMs: 1_800_000,
    credentialId: 'credential-1',
    createdAt: 1_000,
    loggedInAt: 1_000,
    lastUsedAt: 2_000,
    lastUsedIp: '192.0.2.1',
    expireAt: Date.now() + HOUR,
    ...overrides,
  };
}

const longLived = (id: string, clientName: string | null, userId = 'u1'): RefreshToken =>
  refreshToken(id, { type: 'long_lived_access_token', clientId: null, clientName, userId, expireAt: null });

const user = (id: string) => ({ id, name: `user ${id}`, isActive: true, groupIds: ['system-users'], localOnly: false, createdAt: Date.now() });

const CREATED = { outcome: 'created', evicted: [] };
const NAME_TAKEN = { outcome: 'name_taken' };
/** The per-user limit the tests run with, unless they test the limit itself. */
const ROOMY_LIMIT = 100;

export function describeRefreshTokenContract(getStore: () => Store): void {
  describe('refresh tokens', function () {
    let store: Store;
    const create = (token: RefreshToken, maxPerUser = ROOMY_LIMIT, keepId?: string) => store.createRefreshToken(token, maxPerUser, keepId);
    beforeEach(function () {
      store = getStore();
    });

    describe('#createRefreshToken / #getRefreshToken / #findRefreshTokenByHash', function () {
      it('reads back every field by id and by hash', async function () {
        const token = refreshToken('t1');
        expect(await create(token)).to.deep.equal(CREATED);
        expect(await store.getRefreshToken('t1')).to.deep.equal(token);
        expect(await store.findRefreshTokenByHash(token.tokenHash)).to.deep.equal(token);
      });

      it('keeps null fields null (and "null" a string)', async function () {
        const token = refreshToken('t1', {
          clientId: null,
          clientName: 'null',
          credentialId: null,
          lastUsedAt: null,
          lastUsedIp: null,
          expireAt: null,
        });
        expect(await create(token)).to.deep.equal(CREATED);
        expect(await store.getRefreshToken('t1')).to.deep.equal(token);
        expect(await store.findRefreshTokenByHash(token.tokenHash)).to.deep.equal(token);
      });

      it('answers null for an unknown id or hash', async function () {
        await create(refreshToken('t1'));
        expect(await store.getRefreshToken('no-such-token')).to.equal(null);
        expect(await store.findRefreshTokenByHash(sha256('no-such-secret'))).to.equal(null);
      });
    });

    describe('#listRefreshTokens', function () {
      it("lists only the user's live tokens, oldest first", async function () {
        await create(refreshToken('b', { createdAt: 3_000 }));
        await create(refreshToken('a', { createdAt: 2_000 }));
        await create(refreshToken('other', { userId: 'u2' }));
        await create(refreshToken('expired', { createdAt: 1_000, expireAt: Date.now() - 1_000 }));
        expect((await store.listRefreshTokens('u1')).map((token) => token.id)).to.deep.equal(['a', 'b']);
        expect((await store.listRefreshTokens('u2')).map((token) => token.id)).to.deep.equal(['other']);
        expect(await store.listRefreshTokens('nobody')).to.deep.equal([]);
      });
    });

    describe('expiry', function () {
      it('reads an expired token as absent everywhere', async function () {
        const token = refreshToken('t1', { expireAt: Date.now() + SHORT_TTL_MS });
        await create(token);
        expect(await store.getRefreshToken('t1')).to.deep.equal(token);
        await sleep(PAST_SHORT_TTL_MS);
        expect(await store.getRefreshToken('t1')).to.equal(null);
        expect(await store.findRefreshTokenByHash(token.tokenHash)).to.equal(null);
        expect(await store.listRefreshTokens('u1')).to.deep.equal([]);
        expect(await store.touchRefreshToken('t1', Date.now(), null, Date.now() + HOUR)).to.equal(false);
        expect(await store.getRefreshToken('t1')).to.equal(null);
      });
    });

    describe('#touchRefreshToken', function () {
      it('records the use and the new expiry, leaving the other fields alone', async function () {
        const token = refreshToken('t1', { lastUsedAt: null, lastUsedIp: null });
        await create(token);
        const expireAt = Date.now() + 2 * HOUR;
        expect(await store.touchRefreshToken('t1', 5_000, '198.51.100.7', expireAt)).to.equal(true);
        const touched = { ...token, lastUsedAt: 5_000, lastUsedIp: '198.51.100.7', expireAt };
        expect(await store.getRefreshToken('t1')).to.deep.equal(touched);
        expect(await store.findRefreshTokenByHash(token.tokenHash)).to.deep.equal(touched);
      });

      it('slides the expiry: the token outlives its old expireAt', async function () {
        const token = refreshToken('t1', { expireAt: Date.now() + SHORT_TTL_MS });
        await create(token);
        expect(await store.touchRefreshToken('t1', Date.now(), null, Date.now() + HOUR)).to.equal(true);
        await sleep(PAST_SHORT_TTL_MS);
        expect((await store.getRefreshToken('t1'))?.id).to.equal('t1');
        expect((await store.findRefreshTokenByHash(token.tokenHash))?.id).to.equal('t1');
        expect((await store.listRefreshTokens('u1')).map((t) => t.id)).to.deep.equal(['t1']);
      });

      it('makes a token that it gives a null expireAt never expire', async function () {
        const token = refreshToken('t1', { expireAt: Date.now() + SHORT_TTL_MS });
        await create(token);
        expect(await store.touchRefreshToken('t1', Date.now(), null, null)).to.equal(true);
        await sleep(PAST_SHORT_TTL_MS);
        expect((await store.findRefreshTokenByHash(token.tokenHash))?.expireAt).to.equal(null);
      });

      it('answers false for a deleted or unknown token and does not recreate it', async function () {
        await create(refreshToken('t1'));
        await store.deleteRefreshToken('t1');
        expect(await store.touchRefreshToken('t1', Date.now(), '192.0.2.9', Date.now() + HOUR)).to.equal(false);
        expect(await store.touchRefreshToken('no-such-token', Date.now(), null, null)).to.equal(false);
        expect(await store.getRefreshToken('t1')).to.equal(null);
      });
    });

    describe('#recordRefreshTokenLogin', function () {
      it('moves the login time forward and nothing else: not the expiry, not the last use', async function () {
        const token = refreshToken('t1');
        await create(token);
        expect(await store.recordRefreshTokenLogin('t1', 9_000)).to.equal(true);
        const renewed = { ...token, loggedInAt: 9_000 };
        expect(await store.getRefreshToken('t1')).to.deep.equal(renewed);
        expect(await store.findRefreshTokenByHash(token.tokenHash)).to.deep.equal(renewed);
        expect(await store.listRefreshTokens('u1')).to.deep.equal([renewed]);
      });

      it('never moves it back, and gives a token without one (a long-lived token) its first', async function () {
        await create(refreshToken('t1', { loggedInAt: 9_000 }));
        expect(await store.recordRefreshTokenLogin('t1', 5_000)).to.equal(true);
        expect((await store.getRefreshToken('t1'))?.loggedInAt).to.equal(9_000);
        await create({ ...longLived('t2', 'CLI'), loggedInAt: null });
        expect((await store.getRefreshToken('t2'))?.loggedInAt).to.equal(null);
        expect(await store.recordRefreshTokenLogin('t2', 7_000)).to.equal(true);
        expect((await store.getRefreshToken('t2'))?.loggedInAt).to.equal(7_000);
      });

      it('is not moved by a use (touchRefreshToken): a refresh is no login', async function () {
        await create(refreshToken('t1', { loggedInAt: 3_000 }));
        expect(await store.touchRefreshToken('t1', 8_000, '192.0.2.8', Date.now() + HOUR)).to.equal(true);
        expect((await store.getRefreshToken('t1'))?.loggedInAt).to.equal(3_000);
      });

      it('answers false for a deleted, expired or unknown token and does not recreate it', async function () {
        await create(refreshToken('t1'));
        await store.deleteRefreshToken('t1');
        expect(await store.recordRefreshTokenLogin('t1', 9_000)).to.equal(false);
        expect(await store.getRefreshToken('t1')).to.equal(null);
        expect(await store.recordRefreshTokenLogin('no-such-token', 9_000)).to.equal(false);
        await create(refreshToken('t2', { expireAt: Date.now() + SHORT_TTL_MS }));
        await sleep(PAST_SHORT_TTL_MS);
        expect(await store.recordRefreshTokenLogin('t2', 9_000)).to.equal(false);
        expect(await store.getRefreshToken('t2')).to.equal(null);
      });
    });

    describe('#deleteRefreshToken', function () {
      it('deletes the token with its hash index, and answers false the second time', async function () {
        const token = refreshToken('t1');
        await create(token);
        await create(refreshToken('t2'));
        expect(await store.deleteRefreshToken('t1')).to.equal(true);
        expect(await store.deleteRefreshToken('t1')).to.equal(false);
        expect(await store.getRefreshToken('t1')).to.equal(null);
        expect(await store.findRefreshTokenByHash(token.tokenHash)).to.equal(null);
        expect((await store.listRefreshTokens('u1')).map((t) => t.id)).to.deep.equal(['t2']);
      });

      it('answers false for an unknown token', async function () {
        expect(await store.deleteRefreshToken('no-such-token')).to.equal(false);
      });
    });

    describe('long-lived access token names', function () {
      it("refuses a second long-lived token with a name its user already uses, keeping the first", async function () {
        expect(await create(longLived('t1', 'CI'))).to.deep.equal(CREATED);
        const second = longLived('t2', 'CI');
        expect(await create(second)).to.deep.equal(NAME_TAKEN);
        expect(await store.getRefreshToken('t2')).to.equal(null);
        expect(await store.findRefreshTokenByHash(second.tokenHash)).to.equal(null);
        expect((await store.listRefreshTokens('u1')).map((t) => t.id)).to.deep.equal(['t1']);
      });

      it('allows the same name for another user', async function () {
        expect(await create(longLived('t1', 'CI', 'u1'))).to.deep.equal(CREATED);
        expect(await create(longLived('t2', 'CI', 'u2'))).to.deep.equal(CREATED);
        expect((await store.getRefreshToken('t2'))?.userId).to.equal('u2');
      });

      it('allows the same name on normal tokens', async function () {
        expect(await create(longLived('t1', 'CI'))).to.deep.equal(CREATED);
        expect(await create(refreshToken('t2', { clientName: 'CI' }))).to.deep.equal(CREATED);
        expect(await create(refreshToken('t3', { clientName: 'CI' }))).to.deep.equal(CREATED);
        expect((await store.listRefreshTokens('u1')).map((t) => t.id)).to.have.members(['t1', 't2', 't3']);
      });

      it('frees the name when the long-lived token is deleted', async function () {
        await create(longLived('t1', 'CI'));
        await store.deleteRefreshToken('t1');
        expect(await create(longLived('t2', 'CI'))).to.deep.equal(CREATED);
      });

      it('frees the name when the long-lived token expired', async function () {
        await create({ ...longLived('t1', 'CI'), expireAt: Date.now() + SHORT_TTL_MS });
        expect(await create(longLived('t2', 'CI'))).to.deep.equal(NAME_TAKEN);
        await sleep(PAST_SHORT_TTL_MS);
        expect(await create(longLived('t3', 'CI'))).to.deep.equal(CREATED);
      });

      it('lets exactly one of 20 concurrent creators of one name succeed', async function () {
        const created = await Promise.all(
          Array.from({ length: 20 }, (_, i) => create(longLived(`t${i}`, 'CI'))),
        );
        const winners = created.flatMap((creation, i) => (creation.outcome === 'created' ? [`t${i}`] : []));
        expect(winners).to.have.length(1);
        expect(created.filter((creation) => creation.outcome === 'name_taken')).to.have.length(19);
        expect((await store.listRefreshTokens('u1')).map((t) => t.id)).to.deep.equal(winners);
      });
    });

    describe('the per-user limit', function () {
      const ids = async (userId = 'u1') => (await store.listRefreshTokens(userId)).map((t) => t.id).sort();

      it('signs out the least recently used sessions to make room, and never a long-lived token', async function () {
        await create(longLived('ll', 'CI'), 4);
        await create(refreshToken('used-late', { lastUsedAt: 9_000 }), 4);
        await create(refreshToken('never-used', { createdAt: 5_000, lastUsedAt: null }), 4);
        await create(refreshToken('used-early', { lastUsedAt: 3_000 }), 4);
        await create(refreshToken('other-user', { userId: 'u2', lastUsedAt: 1 }), 4);
        expect(await create(refreshToken('new-1', { createdAt: 10_000, lastUsedAt: null }), 4)).to.deep.equal({
          outcome: 'created',
          evicted: ['used-early'],
        });
        expect(await ids()).to.deep.equal(['ll', 'never-used', 'new-1', 'used-late']);
        expect(await store.findRefreshTokenByHash(sha256('secret-used-early'))).to.equal(null);
        expect(await create(refreshToken('new-2', { createdAt: 11_000, lastUsedAt: null }), 2)).to.deep.equal({
          outcome: 'created',
          evicted: ['never-used', 'used-late', 'new-1'],
        });
        expect(await ids()).to.deep.equal(['ll', 'new-2']);
        expect(await ids('u2')).to.deep.equal(['other-user']);
      });

      it('refuses, writing and deleting nothing, when only long-lived tokens could make room', async function () {
        await create(longLived('ll-1', 'one'), 3);
        await create(longLived('ll-2', 'two'), 3);
        await create(refreshToken('session'), 3);
        expect(await create(longLived('ll-3', 'three'), 2)).to.deep.equal({ outcome: 'limit_reached' });
        expect(await ids()).to.deep.equal(['ll-1', 'll-2', 'session']);
        expect(await create(refreshToken('new'), 3)).to.deep.equal({ outcome: 'created', evicted: ['session'] });
        expect(await ids()).to.deep.equal(['ll-1', 'll-2', 'new']);
      });

      it('never signs out the session asking for the new token', async function () {
        await create(longLived('ll-1', 'one'), 3);
        await create(refreshToken('asking', { lastUsedAt: 1_000 }), 3);
        await create(refreshToken('other', { lastUsedAt: 9_000 }), 3);
        expect(await create(longLived('ll-2', 'two'), 3, 'asking')).to.deep.equal({ outcome: 'created', evicted: ['other'] });
        expect(await create(longLived('ll-3', 'three'), 3, 'asking')).to.deep.equal({ outcome: 'limit_reached' });
        expect(await ids()).to.deep.equal(['asking', 'll-1', 'll-2']);
      });

      it('does not count expired tokens', async function () {
        await create(refreshToken('expiring', { expireAt: Date.now() + SHORT_TTL_MS }), 1);
        await sleep(PAST_SHORT_TTL_MS);
        expect(await create(refreshToken('fresh'), 1)).to.deep.equal(CREATED);
        expect(await ids()).to.deep.equal(['fresh']);
      });

      it('holds under 20 concurrent logins: the user ends with exactly the limit', async function () {
        const created = await Promise.all(Array.from({ length: 20 }, (_, i) => create(refreshToken(`t${i}`, { createdAt: i }), 5)));
        expect(created.every((creation) => creation.outcome === 'created')).to.equal(true);
        const evicted = created.flatMap((creation) => (creation.outcome === 'created' ? creation.evicted : []));
        expect(evicted).to.have.length(15);
        expect(new Set(evicted).size).to.equal(15);
        expect(await ids()).to.have.length(5);
      });
    });

    describe('#sessionState', function () {
      it('reads the token and its user together when the id carries the user (as every id Flowgate makes does)', async function () {
        const created = await store.createUser(user('u1'));
        const token = refreshToken(newRefreshTokenId('u1'));
        expect(await create(token)).to.deep.equal(CREATED);
        expect(await store.sessionState(token.id, 'u1')).to.deep.equal({ refreshToken: token, user: created });
        expect(await store.getRefreshToken(token.id)).to.deep.equal(token);
        expect(await store.findRefreshTokenByHash(token.tokenHash)).to.deep.equal(token);
      });

      it('reads a token whose id carries no tag (an id of the previous Redis layout) with its user', async function () {
        const created = await store.createUser(user('u1'));
        const token = refreshToken('t1');
        expect(await create(token)).to.deep.equal(CREATED);
        expect(await store.sessionState('t1', 'u1')).to.deep.equal({ refreshToken: token, user: created });
      });

      it('answers null for a token that is gone, and the user all the same', async function () {
        const created = await store.createUser(user('u1'));
        const token = refreshToken(newRefreshTokenId('u1'));
        await create(token);
        await store.deleteRefreshToken(token.id);
        expect(await store.sessionState(token.id, 'u1')).to.deep.equal({ refreshToken: null, user: created });
        expect(await store.sessionState(newRefreshTokenId('u1'), 'u1')).to.deep.equal({ refreshToken: null, user: created });
      });

      it('answers null for a user that is gone, and for an expired token', async function () {
        const token = refreshToken(newRefreshTokenId('u1'), { expireAt: Date.now() + SHORT_TTL_MS });
        await create(token);
        expect(await store.sessionState(token.id, 'u1')).to.deep.equal({ refreshToken: token, user: null });
        await sleep(PAST_SHORT_TTL_MS);
        expect(await store.sessionState(token.id, 'u1')).to.deep.equal({ refreshToken: null, user: null });
      });

      it("returns another user's token as it is, for the caller to compare", async function () {
        const created = await store.createUser(user('u2'));
        const token = refreshToken(newRefreshTokenId('u1'));
        await create(token);
        expect(await store.sessionState(token.id, 'u2')).to.deep.equal({ refreshToken: token, user: created });
      });
    });

    describe('#removeUser', function () {
      it("deletes the user's refresh tokens and no one else's", async function () {
        await store.createUser(user('u1'));
        await store.createUser(user('u2'));
        const mine = refreshToken('t1');
        await create(mine);
        await create(longLived('t2', 'CI'));
        await create(refreshToken('t3', { userId: 'u2' }));
        expect(await store.removeUser('u1')).to.equal(true);
        expect(await store.getRefreshToken('t1')).to.equal(null);
        expect(await store.getRefreshToken('t2')).to.equal(null);
        expect(await store.findRefreshTokenByHash(mine.tokenHash)).to.equal(null);
        expect(await store.listRefreshTokens('u1')).to.deep.equal([]);
        expect((await store.listRefreshTokens('u2')).map((t) => t.id)).to.deep.equal(['t3']);
      });
    });
  });
}
