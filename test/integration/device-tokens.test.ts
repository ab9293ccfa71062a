/** Device tokens on real stores: what verifies, what never does, and that every instance shares one signing key. */
import { expect } from 'chai';
import { SignJWT, UnsecuredJWT } from 'jose';
import { DeviceTokens } from '../../server/src/defense/device-tokens.js';
import type { Store } from '../../server/src/store/types.js';
import { BACKENDS, freshStore } from '../helpers/stores.js';

const DAY = 24 * 60 * 60 * 1000;
const ACCOUNT = '["password",null,"alice"]';

for (const backend of BACKENDS) {
  describe(`DeviceTokens (${backend} store)`, function () {
    let store: Store;
    beforeEach(async function () {
      store = await freshStore(backend);
    });
    afterEach(async () => store.close());

    describe('#verify', function () {
      it('proves the account and a device id of its own for every token issued', async function () {
        const tokens = new DeviceTokens(store.loginDefense, 30 * DAY);
        const [first, second] = [await tokens.issue(ACCOUNT), await tokens.issue(ACCOUNT)];
        const [a, b] = [await tokens.verify(first), await tokens.verify(second)];
        expect(a?.account).to.equal(ACCOUNT);
        expect(a?.id).to.match(/^[0-9a-f]{32}$/);
        expect(b?.id).to.not.equal(a?.id);
      });

      it('accepts on one instance what another issued (the key is shared through the store)', async function () {
        const issued = await new DeviceTokens(store.loginDefense, DAY).issue(ACCOUNT);
        expect((await new DeviceTokens(store.loginDefense, DAY).verify(issued))?.account).to.equal(ACCOUNT);
      });

      it('answers null for expired, forged, unsigned, tampered and oversized tokens, never an error', async function () {
        const tokens = new DeviceTokens(store.loginDefense, DAY);
        const expired = await tokens.issue(ACCOUNT, Date.now() - 2 * DAY);
        const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('flowgate-device').setSubject(ACCOUNT)
          .setJti('x').setExpirationTime('1d').sign(new TextEncoder().encode('not-the-deployment-key-at-all-0123456789'));
        const unsigned = new UnsecuredJWT({}).setIssuer('flowgate-device').setSubject(ACCOUNT).setJti('x').encode();
        const good = await tokens.issue(ACCOUNT);
        const [header, payload, signature] = good.split('.');
        const otherAccount = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: '["password",null,"bob"]' })).toString('base64url');
        for (const token of [expired, forged, unsigned, `${header}.${otherAccount}.${signature}`, 'garbage', '', `${good}${'a'.repeat(2000)}`]) {
          expect(await tokens.verify(token), token.slice(0, 40)).to.equal(null);
        }
      });
    });
  });
}
