/** The refresh-token part of the Store contract, run by describeStoreContract (store-contract.ts) against every backend. */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import type { RefreshToken, Store } from '../../server/src/store/types.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const HOUR = 3_600_000;
/** As in store-contract.ts: short enough to keep the suite fast, long enough for the write and first read to land inside it. */
// Long enough that a read right after the write lands inside the window on a loaded 2-core machine.
const SHORT_TTL_MS = 600;
const PAST_SHORT_TTL_MS = 900;

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
    jwtKey: `jwt-key-${id}`,
    accessTokenTtlMs: 1_800_000,
    credentialId: 'credential-1',
    createdAt: 1_000,
    lastUsedAt: 2_000,
    lastUsedIp: '192.0.2.1',
    expireAt: Date.now() + HOUR,
    ...overrides,
  };
}

const longLived = (id: string, clientName: string | null, userId = 'u1'): RefreshToken =>
  refreshToken(id, { type: 'long_lived_access_token', clientId: null, clientName, userId, expireAt: null });

const user = (id: string) => ({ id, name: `user ${id}`, isAdmin: false, isActive: true, createdAt: Date.now() });

export function describeRefreshTokenContract(getStore: () => Store): void {
  describe('refresh tokens', function () {
    let store: Store;
    beforeEach(function () {
      store = getStore();
    });

    describe('#createRefreshToken / #getRefreshToken / #findRefreshTokenByHash', function () {
      it('reads back every field by id and by hash', async function () {
        const token = refreshToken('t1');
        expect(await store.createRefreshToken(token)).to.equal(true);
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
        expect(await store.createRefreshToken(token)).to.equal(true);
        expect(await store.getRefreshToken('t1')).to.deep.equal(token);
        expect(await store.findRefreshTokenByHash(token.tokenHash)).to.deep.equal(token);
      });

      it('answers null for an unknown id or hash', async function () {
        await store.createRefreshToken(refreshToken('t1'));
        expect(await store.getRefreshToken('no-such-token')).to.equal(null);
        expect(await store.findRefreshTokenByHash(sha256('no-such-secret'))).to.equal(null);
      });
    });

    describe('#listRefreshTokens', function () {
      it("lists only the user's live tokens, oldest first", async function () {
        await store.createRefreshToken(refreshToken('b', { createdAt: 3_000 }));
        await store.createRefreshToken(refreshToken('a', { createdAt: 2_000 }));
        await store.createRefreshToken(refreshToken('other', { userId: 'u2' }));
        await store.createRefreshToken(refreshToken('expired', { createdAt: 1_000, expireAt: Date.now() - 1_000 }));
        expect((await store.listRefreshTokens('u1')).map((token) => token.id)).to.deep.equal(['a', 'b']);
        expect((await store.listRefreshTokens('u2')).map((token) => token.id)).to.deep.equal(['other']);
        expect(await store.listRefreshTokens('nobody')).to.deep.equal([]);
      });
    });

    describe('expiry', function () {
      it('reads an expired token as absent everywhere', async function () {
        const token = refreshToken('t1', { expireAt: Date.now() + SHORT_TTL_MS });
        await store.createRefreshToken(token);
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
        await store.createRefreshToken(token);
        const expireAt = Date.now() + 2 * HOUR;
        expect(await store.touchRefreshToken('t1', 5_000, '198.51.100.7', expireAt)).to.equal(true);
        const touched = { ...token, lastUsedAt: 5_000, lastUsedIp: '198.51.100.7', expireAt };
        expect(await store.getRefreshToken('t1')).to.deep.equal(touched);
        expect(await store.findRefreshTokenByHash(token.tokenHash)).to.deep.equal(touched);
      });

      it('slides the expiry: the token outlives its old expireAt', async function () {
        const token = refreshToken('t1', { expireAt: Date.now() + SHORT_TTL_MS });
        await store.createRefreshToken(token);
        expect(await store.touchRefreshToken('t1', Date.now(), null, Date.now() + HOUR)).to.equal(true);
        await sleep(PAST_SHORT_TTL_MS);
        expect((await store.getRefreshToken('t1'))?.id).to.equal('t1');
        expect((await store.findRefreshTokenByHash(token.tokenHash))?.id).to.equal('t1');
        expect((await store.listRefreshTokens('u1')).map((t) => t.id)).to.deep.equal(['t1']);
      });

      it('makes a token that it gives a null expireAt never expire', async function () {
        const token = refreshToken('t1', { expireAt: Date.now() + SHORT_TTL_MS });
        await store.createRefreshToken(token);
        expect(await store.touchRefreshToken('t1', Date.now(), null, null)).to.equal(true);
        await sleep(PAST_SHORT_TTL_MS);
        expect((await store.findRefreshTokenByHash(token.tokenHash))?.expireAt).to.equal(null);
      });

      it('answers false for a deleted or unknown token and does not recreate it', async function () {
        await store.createRefreshToken(refreshToken('t1'));
        await store.deleteRefreshToken('t1');
        expect(await store.touchRefreshToken('t1', Date.now(), '192.0.2.9', Date.now() + HOUR)).to.equal(false);
        expect(await store.touchRefreshToken('no-such-token', Date.now(), null, null)).to.equal(false);
        expect(await store.getRefreshToken('t1')).to.equal(null);
      });
    });

    describe('#deleteRefreshToken', function () {
      it('deletes the token with its hash index, and answers false the second time', async function () {
        const token = refreshToken('t1');
        await store.createRefreshToken(token);
        await store.createRefreshToken(refreshToken('t2'));
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
        expect(await store.createRefreshToken(longLived('t1', 'CI'))).to.equal(true);
        const second = longLived('t2', 'CI');
        expect(await store.createRefreshToken(second)).to.equal(false);
        expect(await store.getRefreshToken('t2')).to.equal(null);
        expect(await store.findRefreshTokenByHash(second.tokenHash)).to.equal(null);
        expect((await store.listRefreshTokens('u1')).map((t) => t.id)).to.deep.equal(['t1']);
      });

      it('allows the same name for another user', async function () {
        expect(await store.createRefreshToken(longLived('t1', 'CI', 'u1'))).to.equal(true);
        expect(await store.createRefreshToken(longLived('t2', 'CI', 'u2'))).to.equal(true);
        expect((await store.getRefreshToken('t2'))?.userId).to.equal('u2');
      });

      it('allows the same name on normal tokens', async function () {
        expect(await store.createRefreshToken(longLived('t1', 'CI'))).to.equal(true);
        expect(await store.createRefreshToken(refreshToken('t2', { clientName: 'CI' }))).to.equal(true);
        expect(await store.createRefreshToken(refreshToken('t3', { clientName: 'CI' }))).to.equal(true);
        expect((await store.listRefreshTokens('u1')).map((t) => t.id)).to.have.members(['t1', 't2', 't3']);
      });

      it('frees the name when the long-lived token is deleted', async function () {
        await store.createRefreshToken(longLived('t1', 'CI'));
        await store.deleteRefreshToken('t1');
        expect(await store.createRefreshToken(longLived('t2', 'CI'))).to.equal(true);
      });

      it('frees the name when the long-lived token expired', async function () {
        await store.createRefreshToken({ ...longLived('t1', 'CI'), expireAt: Date.now() + SHORT_TTL_MS });
        expect(await store.createRefreshToken(longLived('t2', 'CI'))).to.equal(false);
        await sleep(PAST_SHORT_TTL_MS);
        expect(await store.createRefreshToken(longLived('t3', 'CI'))).to.equal(true);
      });

      it('lets exactly one of 20 concurrent creators of one name succeed', async function () {
        const created = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.createRefreshToken(longLived(`t${i}`, 'CI'))),
        );
        expect(created.filter((outcome) => outcome)).to.have.length(1);
        const listed = await store.listRefreshTokens('u1');
        expect(listed.map((t) => t.id)).to.deep.equal([`t${created.indexOf(true)}`]);
      });
    });

    describe('#removeUser', function () {
      it("deletes the user's refresh tokens and no one else's", async function () {
        await store.createUser(user('u1'));
        await store.createUser(user('u2'));
        const mine = refreshToken('t1');
        await store.createRefreshToken(mine);
        await store.createRefreshToken(longLived('t2', 'CI'));
        await store.createRefreshToken(refreshToken('t3', { userId: 'u2' }));
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
