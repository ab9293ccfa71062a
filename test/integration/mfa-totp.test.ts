/** The totp MFA module on real stores: its setup flow through the flow engine, one-use codes across instances, sealed secrets. */
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLeft } from 'fp-ts/lib/Either.js';
import { authenticator } from 'otplib';
import { describeErrors } from '@flowgate/shared';
import { randomId } from '../../server/src/crypto.js';
import { FlowManager } from '../../server/src/flow/index.js';
import { MfaSetupContext, type MfaModule } from '../../server/src/mfa/module.js';
import { TOTP_KEY_FILE_NAME, TotpConfig, createTotpModule } from '../../server/src/mfa/totp.js';
import type { MfaStore } from '../../server/src/store/mfa.js';
import { openStore } from '../../server/src/store/open.js';
import type { JsonObject, Store } from '../../server/src/store/types.js';
import { testServerSecret } from '../helpers/server-secret.js';
import { BACKENDS, redisTestUrl, silentLogger, type Backend } from '../helpers/stores.js';

const STEP_MS = 30_000;
const KEY = Buffer.alloc(32, 7).toString('base64');
const OTHER_KEY = Buffer.alloc(32, 9).toString('hex');
/** The deployment's `secret_key`, what a module without a key of its own seals with. */
const SERVER_SECRET = testServerSecret();
const ALICE: MfaSetupContext = { userId: 'user-alice', userName: 'alice' };

/** The code an authenticator app shows at `ms`. */
const codeAt = (secret: string, ms: number): string => authenticator.clone({ epoch: ms }).generate(secret);

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-totp-test-'));
  tempDirs.push(dir);
  return dir;
}
after(function () {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** `count` stores on the same data (one Redis key prefix, one SQLite file), as `count` server instances would have. */
function openGroup(backend: Backend, count: number): Promise<Store[]> {
  const dir = tempDir();
  const keyPrefix = `test-${randomId(6)}`;
  const open = () =>
    backend === 'redis'
      ? openStore(redisTestUrl(), { dataDir: dir, logger: silentLogger, keyPrefix })
      : openStore(`sqlite://${join(dir, 'flowgate.db')}`, { dataDir: dir, logger: silentLogger });
  return Promise.all(Array.from({ length: count }, open));
}

/** The real store, except that its first getMfaSetting answer waits for `between` to run: another login's write lands in between. */
function interleaved(store: Store, between: () => Promise<unknown>): MfaStore {
  let pending = true;
  return {
    listMfaSettings: (userId) => store.listMfaSettings(userId),
    getMfaSetting: async (userId, moduleId) => {
      const setting = await store.getMfaSetting(userId, moduleId);
      if (pending) {
        pending = false;
        await between();
      }
      return setting;
    },
    putMfaSetting: (...args) => store.putMfaSetting(...args),
    deleteMfaSetting: (userId, moduleId) => store.deleteMfaSetting(userId, moduleId),
  };
}

for (const backend of BACKENDS) {
  describe(`totp MFA module (${backend} store)`, function () {
    let stores: Store[];
    let store: Store;
    let dataDir: string;
    /** The middle of a time step, so that no code straddles a step boundary during a test. */
    let clock: number;
    let entries: JsonObject[];

    const totp = (options: { on?: MfaStore; config?: Partial<TotpConfig> } = {}): MfaModule =>
      createTotpModule(
        { type: 'totp', secret_key: KEY, ...options.config },
        { store: options.on ?? store, dataDir, sharedStore: backend === 'redis', serverSecret: SERVER_SECRET },
        { now: () => clock },
      );

    /** The setup flows' engine, wired as the auth layer does: a committed end goes to `setupUser`. */
    const setupFlows = (module: MfaModule) =>
      new FlowManager<MfaSetupContext>({
        store,
        contextCodec: MfaSetupContext,
        resolveHandler: (key) => (key[0] === module.id ? module.setupFlow : undefined),
        finish: async (flow, data) => {
          entries.push(data);
          return { kind: 'create_entry', result: 'done', data: await module.setupUser(flow.context.userId, data) };
        },
        now: () => clock,
      });
    const forAlice = (context: MfaSetupContext) => context.userId === ALICE.userId;

    /** Runs the setup flow to its end and answers the secret its form showed. */
    async function setUp(module: MfaModule): Promise<string> {
      const flows = setupFlows(module);
      const form = await flows.init([module.id, null], ALICE);
      if (form.type !== 'form') throw new Error(`expected the setup form, got ${form.type}`);
      const secret = form.description_placeholders?.['code'] ?? '';
      const done = await flows.step(form.flow_id, { code: codeAt(secret, clock) }, forAlice);
      expect(done.type).to.equal('create_entry');
      return secret;
    }

    /** setUp, then the clock one step on: the setup's code used its step (RFC 6238 s5.2), so the current code is a fresh one. */
    async function setUpAStepAgo(module: MfaModule): Promise<string> {
      const secret = await setUp(module);
      clock += STEP_MS;
      return secret;
    }

    beforeEach(async function () {
      stores = await openGroup(backend, 2);
      store = stores[0]!;
      dataDir = tempDir();
      clock = Math.floor(Date.now() / STEP_MS) * STEP_MS + STEP_MS / 2;
      entries = [];
    });
    afterEach(async function () {
      await Promise.all(stores.map((s) => s.close()));
    });

    describe('#setupFlow', function () {
      it('shows the init form with a 160-bit base32 secret, its otpauth URL and a QR code in SVG', async function () {
        const form = await setupFlows(totp()).init(['totp', null], ALICE);
        expect(form).to.deep.include({ type: 'form', step_id: 'init', errors: null });
        if (form.type !== 'form') throw new Error('expected a form');
        expect(form.data_schema).to.deep.equal([{ name: 'code', type: 'string', required: true }]);
        const { code, url, qr_code: qrCode } = form.description_placeholders ?? {};
        expect(code).to.match(/^[A-Z2-7]{32}$/);
        const uri = new URL(url ?? '');
        expect(uri.protocol).to.equal('otpauth:');
        expect(uri.host).to.equal('totp');
        expect(decodeURIComponent(uri.pathname)).to.equal('/Flowgate:alice');
        expect(Object.fromEntries(uri.searchParams)).to.deep.equal({
          secret: code,
          issuer: 'Flowgate',
          period: '30',
          digits: '6',
          algorithm: 'SHA1',
        });
        expect(qrCode).to.match(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
        expect(qrCode).to.not.include('<?xml');
      });

      it('names the configured issuer in the otpauth URL', async function () {
        const module = totp({ config: { id: 'work-app', issuer: 'Example Corp' } });
        const form = await setupFlows(module).init(['work-app', null], ALICE);
        const url = form.type === 'form' ? (form.description_placeholders?.['url'] ?? '') : '';
        expect(decodeURIComponent(new URL(url).pathname)).to.equal('/Example Corp:alice');
        expect(new URL(url).searchParams.get('issuer')).to.equal('Example Corp');
        expect(module.name).to.equal('Authenticator app');
      });

      it('shows the same secret again with invalid_code for a wrong code, and a code of the previous step is wrong', async function () {
        const flows = setupFlows(totp());
        const form = await flows.init(['totp', null], ALICE);
        const secret = form.type === 'form' ? (form.description_placeholders?.['code'] ?? '') : '';
        for (const wrong of ['000000', codeAt(secret, clock - STEP_MS)]) {
          if (wrong === codeAt(secret, clock)) continue;
          const again = await flows.step(form.flow_id, { code: wrong }, forAlice);
          expect(again).to.deep.include({ type: 'form', step_id: 'init', errors: { base: 'invalid_code' } });
          expect(again.type === 'form' ? again.description_placeholders : null).to.deep.equal(form.type === 'form' ? form.description_placeholders : null);
        }
        const done = await flows.step(form.flow_id, { code: codeAt(secret, clock) }, forAlice);
        expect(done).to.deep.include({ type: 'create_entry', result: 'done', data: {} });
      });

      it('keeps the secret sealed in the stored flow (form included) and in the entry data, never in clear', async function () {
        const flows = setupFlows(totp());
        const form = await flows.init(['totp', null], ALICE);
        const secret = form.type === 'form' ? (form.description_placeholders?.['code'] ?? '') : '';
        expect(secret).to.match(/^[A-Z2-7]{32}$/);
        const stored = await store.getFlow(form.flow_id);
        // The whole record: the state, and the form the engine keeps for a client that resumes elsewhere.
        expect(JSON.stringify(stored?.data)).to.not.include(secret);
        // A resumed client still sees the secret and its QR code, worked out again from the sealed state.
        const resumed = await flows.get(form.flow_id, forAlice);
        expect(resumed.description_placeholders).to.deep.include({ code: secret });
        expect(resumed.description_placeholders?.['qr_code']).to.match(/^<svg/);
        await flows.step(form.flow_id, { code: codeAt(secret, clock) }, forAlice);
        expect(entries).to.have.length(1);
        expect(JSON.stringify(entries)).to.not.include(secret);
      });
    });

    describe('#setupUser', function () {
      it('keeps the setting (isUserSetup) and answers nothing of the secret', async function () {
        const module = totp();
        expect(await module.isUserSetup(ALICE.userId)).to.equal(false);
        const secret = await setUp(module);
        expect(await module.isUserSetup(ALICE.userId)).to.equal(true);
        const setting = await store.getMfaSetting(ALICE.userId, 'totp');
        expect(setting).to.not.equal(null);
        expect(JSON.stringify(setting?.data)).to.not.include(secret);
        expect(JSON.stringify(setting?.data)).to.not.include(Buffer.from(authenticator.decode(secret), 'hex').toString('base64'));
      });

      it('refuses entry data that was sealed for another user', async function () {
        const module = totp();
        await setUp(module);
        const error = await module.setupUser('user-mallory', entries[0]!).then(() => null, (e: unknown) => e);
        expect(error).to.be.instanceOf(Error);
        expect(await module.isUserSetup('user-mallory')).to.equal(false);
      });
    });

    describe('#validate', function () {
      it('refuses the code that finished the setup, accepts the current code once and refuses the same code again', async function () {
        const module = totp();
        const secret = await setUpAStepAgo(module);
        // A step ago, so inside the login window: refused only because the setup used it.
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock - STEP_MS) }, {})).to.equal(false);
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock) }, {})).to.equal(true);
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock) }, {})).to.equal(false);
      });

      it('accepts a code typed with spaces, as apps show it', async function () {
        const module = totp();
        const secret = await setUpAStepAgo(module);
        const code = codeAt(secret, clock);
        expect(await module.validate(ALICE.userId, { code: `${code.slice(0, 3)} ${code.slice(3)}` }, {})).to.equal(true);
      });

      it('refuses a code replayed on another instance of the store', async function () {
        const secret = await setUpAStepAgo(totp());
        const code = codeAt(secret, clock);
        expect(await totp().validate(ALICE.userId, { code }, {})).to.equal(true);
        expect(await totp({ on: stores[1]! }).validate(ALICE.userId, { code }, {})).to.equal(false);
      });

      it('accepts a code one step either side of now, and refuses one two steps ago', async function () {
        const module = totp();
        const secret = await setUp(module);
        // Three steps past the setup's (used) one: two steps ago is then unused, so only the window refuses it.
        clock += 3 * STEP_MS;
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock - 2 * STEP_MS) }, {})).to.equal(false);
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock - STEP_MS) }, {})).to.equal(true);
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock + STEP_MS) }, {})).to.equal(true);
      });

      it('refuses a code of a step before the last one used, even inside the window', async function () {
        const module = totp();
        const secret = await setUp(module);
        // Two steps past the setup's one, so that the step before now was never used: only the order refuses it.
        clock += 2 * STEP_MS;
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock) }, {})).to.equal(true);
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock - STEP_MS) }, {})).to.equal(false);
        clock += STEP_MS;
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock) }, {})).to.equal(true);
      });

      it('accepts exactly one of two checks of one code at once on two store connections', async function () {
        const secret = await setUpAStepAgo(totp());
        const code = codeAt(secret, clock);
        const answers = await Promise.all(stores.map((on) => totp({ on }).validate(ALICE.userId, { code }, {})));
        expect(answers.filter(Boolean)).to.have.length(1);
      });

      it('checks again after losing the compare-and-set: a later code still works, the same code does not', async function () {
        const secret = await setUpAStepAgo(totp());
        const other = totp({ on: stores[1]! });
        const [now, next, afterNext] = [0, 1, 2].map((steps) => codeAt(secret, clock + steps * STEP_MS)) as [string, string, string];
        const later = totp({ on: interleaved(store, () => other.validate(ALICE.userId, { code: now }, {})) });
        expect(await later.validate(ALICE.userId, { code: next }, {})).to.equal(true);
        clock += 2 * STEP_MS;
        const same = totp({ on: interleaved(store, () => other.validate(ALICE.userId, { code: afterNext }, {})) });
        expect(await same.validate(ALICE.userId, { code: afterNext }, {})).to.equal(false);
        expect(await store.getMfaSetting(ALICE.userId, 'totp')).to.have.nested.property('data.last_step', Math.floor(clock / STEP_MS));
      });

      it('answers false for a user without a setting, and for a missing or non-string code', async function () {
        const module = totp();
        expect(await module.validate('user-nobody', { code: '123456' }, {})).to.equal(false);
        await setUp(module);
        expect(await module.validate(ALICE.userId, {}, {})).to.equal(false);
        expect(await module.validate(ALICE.userId, { code: 123456 }, {})).to.equal(false);
      });

      it('fails closed when the secret was sealed with another secret_key', async function () {
        const secret = await setUpAStepAgo(totp());
        const code = codeAt(secret, clock);
        expect(await totp({ config: { secret_key: OTHER_KEY } }).validate(ALICE.userId, { code }, {})).to.equal(false);
        expect(await totp().validate(ALICE.userId, { code }, {})).to.equal(true);
      });
    });

    describe('#deposeUser', function () {
      it('removes the setting: the user is no longer set up and codes are refused', async function () {
        const module = totp();
        const secret = await setUpAStepAgo(module);
        await module.deposeUser(ALICE.userId);
        expect(await module.isUserSetup(ALICE.userId)).to.equal(false);
        expect(await store.getMfaSetting(ALICE.userId, 'totp')).to.equal(null);
        expect(await module.validate(ALICE.userId, { code: codeAt(secret, clock) }, {})).to.equal(false);
      });
    });

    describe('create', function () {
      /** A module configured with no secret_key of its own, on a deployment whose server secret is `serverSecret`. */
      const withoutKey = (serverSecret = SERVER_SECRET) =>
        createTotpModule({ type: 'totp' }, { store, dataDir, sharedStore: backend === 'redis', serverSecret }, { now: () => clock });

      it('seals with the server secret when the module has no secret_key: the same secret opens, another does not', async function () {
        const secret = await setUpAStepAgo(withoutKey());
        const code = codeAt(secret, clock);
        expect(await withoutKey(testServerSecret()).validate(ALICE.userId, { code }, {})).to.equal(false);
        expect(await withoutKey().validate(ALICE.userId, { code }, {})).to.equal(true);
        expect(existsSync(join(dataDir, TOTP_KEY_FILE_NAME))).to.equal(false);
      });

      if (backend === 'sqlite') {
        it('keeps sealing with the totp-secret.key an earlier version generated, so secrets stored then still open', async function () {
          writeFileSync(join(dataDir, TOTP_KEY_FILE_NAME), `${KEY}\n`, { mode: 0o600 });
          const secret = await setUpAStepAgo(withoutKey());
          // Sealed with the file's key: a module given that key opens it.
          expect(await totp().validate(ALICE.userId, { code: codeAt(secret, clock) }, {})).to.equal(true);
        });
      }
    });
  });
}

describe('TotpConfig', function () {
  it('takes a secret_key of 32 bytes in base64 or hex', function () {
    for (const key of [KEY, OTHER_KEY, Buffer.alloc(32, 250).toString('base64url')]) {
      expect(isLeft(TotpConfig.decode({ type: 'totp', secret_key: key })), key).to.equal(false);
    }
  });

  it('refuses a secret_key of another length or encoding, and unknown keys', function () {
    for (const config of [
      { type: 'totp', secret_key: Buffer.alloc(16).toString('base64') },
      { type: 'totp', secret_key: 'correct horse battery staple' },
      { type: 'totp', secret: KEY },
    ]) {
      expect(isLeft(TotpConfig.decode(config)), JSON.stringify(config)).to.equal(true);
    }
  });

  it('explains a refused secret_key without repeating it', function () {
    const decoded = TotpConfig.decode({ type: 'totp', secret_key: 'correct horse battery staple' });
    const message = isLeft(decoded) ? describeErrors(decoded.left) : '';
    expect(message).to.include('secret_key: must be 32 random bytes written as base64 or hex');
    expect(message).to.not.include('horse');
  });
});
