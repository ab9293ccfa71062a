/** Device tokens on real stores: what verifies, what never does, and that every instance with the deployment's secret shares one key. */
import { expect } from 'chai';
import { SignJWT, UnsecuredJWT } from 'jose';
import { DeviceTokens } from '../../server/src/defense/device-tokens.js';
import type { Store } from '../../server/src/store/types.js';
import { testServerSecret } from '../helpers/server-secret.js';
import { BACKENDS, freshStore } from '../helpers/stores.js';

const DAY = 24 * 60 * 60 * 1000;
const ACCOUNT = '["password",null,"alice"]';

for (const backend of BACKENDS) {
  describe(`DeviceTokens (${backend} store)`, function () {
    let store: Store;
    /** The deployment's server secret: every "instance" below shares it, as they share the store. */
    const secret = testServerSecret();
    beforeEach(async function () {
      store = await freshStore(backend);
    });
    afterEach(async () => store.close());

    describe('#verify', function () {
      it('proves the account and a device id of its own for every token issued', async function () {
        const tokens = new DeviceTokens(store.loginDefense, secret, 30 * DAY);
        const [first, second] = [await tokens.issue(ACCOUNT), await tokens.issue(ACCOUNT)];
        const [a, b] = [await tokens.verify(first), await tokens.verify(second)];
        expect(a?.account).to.equal(ACCOUNT);
        expect(a?.id).to.match(/^[0-9a-f]{32}$/);
        expect(b?.id).to.not.equal(a?.id);
      });

      it('accepts on one instance what another issued (the salt is shared through the store, the secret by the config)', async function () {
        const issued = await new DeviceTokens(store.loginDefense, secret, DAY).issue(ACCOUNT);
        expect((await new DeviceTokens(store.loginDefense, secret, DAY).verify(issued))?.account).to.equal(ACCOUNT);
      });

      it('refuses a token signed with what the store holds, or by a server with another secret on the same store', async function () {
        const tokens = new DeviceTokens(store.loginDefense, secret, DAY);
        await tokens.issue(ACCOUNT);
        // What a copy of the store gives: the salt (and, from stores of earlier versions, the old clear key).
        const stored = await store.loginDefense.sharedSecret('device-token-salt', 'unused');
        const forge = (key: Uint8Array) =>
          new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('flowgate-device').setSubject(ACCOUNT).setJti('x')
            .setIssuedAt().setExpirationTime('1d').sign(key);
        for (const key of [Buffer.from(stored, 'utf8'), Buffer.from(stored, 'hex'), Buffer.from(stored, 'base64url')]) {
          expect(await tokens.verify(await forge(key))).to.equal(null);
        }
        const elsewhere = await new DeviceTokens(store.loginDefense, testServerSecret(), DAY).issue(ACCOUNT);
        expect(await tokens.verify(elsewhere)).to.equal(null);
      });

      it('answers null for expired, forged, unsigned, tampered and oversized tokens, never an error', async function () {
        const tokens = new DeviceTokens(store.loginDefense, secret, DAY);
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
