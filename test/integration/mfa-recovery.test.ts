/** The `recovery` MFA module on real stores: its setup flow on the real engine, hashes only at rest, each code once, races. */
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlowResult } from '@flowgate/shared';
import { randomId } from '../../server/src/crypto.js';
import { FlowManager } from '../../server/src/flow/index.js';
import { MfaSetupContext, type MfaModule } from '../../server/src/mfa/module.js';
import {
  generateRecoveryCodes,
  normalizeRecoveryCode,
  RECOVERY_CODE_ALPHABET,
  RECOVERY_CODE_COUNT,
  RECOVERY_CODE_LENGTH,
  recoveryModule,
} from '../../server/src/mfa/recovery.js';
import { mfaModuleFactory } from '../../server/src/mfa/registry.js';
import { openStore } from '../../server/src/store/open.js';
import type { MfaStore } from '../../server/src/store/mfa.js';
import type { Store } from '../../server/src/store/types.js';
import { testServerSecret } from '../helpers/server-secret.js';
import { BACKENDS, freshStore, redisTestUrl, silentLogger, type Backend } from '../helpers/stores.js';

/** The documented shape: three groups of four letters of the alphabet, dash-separated. */
const SHOWN_CODE = new RegExp(`^[${RECOVERY_CODE_ALPHABET}]{4}-[${RECOVERY_CODE_ALPHABET}]{4}-[${RECOVERY_CODE_ALPHABET}]{4}$`);
const USER = { userId: 'user-1', userName: 'Ada' };

function moduleOn(store: MfaStore, config: Record<string, unknown> = { type: 'recovery' }): MfaModule {
  const decoded = recoveryModule.configCodec.decode(config);
  if (decoded._tag === 'Left') throw new Error('the test config does not decode');
  return recoveryModule.create(decoded.right, { store, dataDir: tmpdir(), sharedStore: false, serverSecret: testServerSecret() });
}

/** A setup-flow engine wired as the auth layer wires it: the entry's data is what `setupUser` returns. */
function setupFlows(store: Store, module: MfaModule): FlowManager<MfaSetupContext> {
  return new FlowManager<MfaSetupContext>({
    store,
    contextCodec: MfaSetupContext,
    resolveHandler: ([id]) => (id === module.id ? module.setupFlow : undefined),
    finish: async (flow, data) => ({ kind: 'create_entry', result: module.id, data: await module.setupUser(flow.context.userId, data) }),
  });
}

const ownUser = (context: MfaSetupContext): boolean => context.userId === USER.userId;

/** Runs the setup flow to its end; answers the codes the entry showed. */
async function setUp(store: Store, module: MfaModule): Promise<string[]> {
  const flows = setupFlows(store, module);
  const form = await flows.init([module.id, null], USER);
  if (form.type !== 'form') throw new Error(`expected a form, got ${form.type}`);
  const entry = await flows.step(form.flow_id, {}, ownUser);
  if (entry.type !== 'create_entry') throw new Error(`expected create_entry, got ${entry.type}`);
  return entry.data?.['codes'] as string[];
}

/** Two stores on the same data, as two server instances have: one Redis key prefix, or one SQLite file. */
function openPair(backend: Backend): Promise<Store[]> {
  if (backend === 'redis') {
    const keyPrefix = `test-${randomId(6)}`;
    return Promise.all([0, 1].map(() => openStore(redisTestUrl(), { dataDir: tmpdir(), logger: silentLogger, keyPrefix })));
  }
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-recovery-'));
  return Promise.all([0, 1].map(() => openStore(`sqlite://${join(dir, 'flowgate.db')}`, { dataDir: dir, logger: silentLogger })));
}

/**
 * The real stores, with their first read after `arm()` held until both have read: both instances then see the same revision
 * before either writes, the race that a compare-and-set must settle (without the hold, one may finish before the other starts).
 */
function racingReads(real: Store[]) {
  let release: (() => void) | null = null;
  let waiting = 0;
  let held: Promise<void> = Promise.resolve();
  let lost = 0;
  const stores: MfaStore[] = real.map((store) => ({
    listMfaSettings: (userId) => store.listMfaSettings(userId),
    deleteMfaSetting: (userId, moduleId) => store.deleteMfaSetting(userId, moduleId),
    async getMfaSetting(userId, moduleId) {
      const setting = await store.getMfaSetting(userId, moduleId);
      if (release !== null) {
        const gate = held;
        waiting += 1;
        if (waiting === real.length) {
          release();
          release = null;
        }
        await gate;
      }
      return setting;
    },
    async putMfaSetting(userId, moduleId, data, expectedRevision) {
      const written = await store.putMfaSetting(userId, moduleId, data, expectedRevision);
      if (!written) lost += 1;
      return written;
    },
  }));
  return {
    stores,
    arm(): void {
      waiting = 0;
      held = new Promise((resolve) => (release = resolve));
    },
    lostWrites: () => lost,
  };
}

describe('recovery MFA module', function () {
  describe('generateRecoveryCodes', function () {
    it('makes ten distinct codes of three groups of four, at least 50 random bits each', function () {
      const codes = generateRecoveryCodes();
      expect(codes).to.have.length(RECOVERY_CODE_COUNT).and.to.have.length(10);
      expect(new Set(codes).size).to.equal(10);
      for (const code of codes) expect(code).to.match(SHOWN_CODE);
      expect(new Set(RECOVERY_CODE_ALPHABET).size).to.equal(32);
      expect(RECOVERY_CODE_LENGTH * Math.log2(RECOVERY_CODE_ALPHABET.length)).to.be.at.least(50);
    });

    it('draws every letter of the alphabet at every position', function () {
      // 300 draws per position: a letter missing from a uniform draw has odds (31/32)^300, about 1 in 14 000, per position.
      const seen = Array.from({ length: RECOVERY_CODE_LENGTH }, () => new Set<string>());
      for (let round = 0; round < 30; round += 1) {
        for (const code of generateRecoveryCodes()) [...code.replaceAll('-', '')].forEach((letter, position) => seen[position]!.add(letter));
      }
      for (const letters of seen) expect(letters.size).to.be.at.least(31);
    });

    it('leaves out the letters people misread (i, l, o, u)', function () {
      expect(RECOVERY_CODE_ALPHABET).not.to.match(/[ilou]/);
    });
  });

  describe('normalizeRecoveryCode', function () {
    it('ignores case, spaces and dashes, and folds the look-alikes', function () {
      expect(normalizeRecoveryCode(' ABCD-efgh - JKMN ')).to.equal('abcdefghjkmn');
      expect(normalizeRecoveryCode('abcd\u2013efgh\u2014jkmn')).to.equal('abcdefghjkmn');
      expect(normalizeRecoveryCode('OolI-1000-abcd')).to.equal('00111000abcd');
    });
  });

  describe('config', function () {
    it('is registered as the recovery type, with the id recovery and the name Recovery codes by default', async function () {
      expect(mfaModuleFactory('recovery')).to.equal(recoveryModule);
      const store = await freshStore('sqlite');
      try {
        const module = moduleOn(store);
        expect(module).to.deep.include({ type: 'recovery', id: 'recovery', name: 'Recovery codes', maxRetries: 3 });
        expect(module.inputSchema).to.have.length(1);
        expect(module.inputSchema[0]).to.deep.include({ name: 'code', type: 'string' });
        expect(moduleOn(store, { type: 'recovery', id: 'backup', name: 'Backup codes' })).to.deep.include({ id: 'backup', name: 'Backup codes' });
      } finally {
        await store.close();
      }
    });

    it('refuses an unknown key', function () {
      expect(recoveryModule.configCodec.decode({ type: 'recovery', count: 20 })._tag).to.equal('Left');
    });
  });

  for (const backend of BACKENDS) {
    describe(`on the ${backend} store`, function () {
      let store: Store;
      let module: MfaModule;
      beforeEach(async function () {
        store = await freshStore(backend);
        module = moduleOn(store);
      });
      afterEach(async function () {
        await store.close();
      });

      describe('setupFlow', function () {
        it('asks to confirm, then shows ten distinct codes of the documented shape in the entry only', async function () {
          const flows = setupFlows(store, module);
          const form: FlowResult = await flows.init(['recovery', null], USER);
          expect(form).to.deep.include({
            type: 'form',
            step_id: 'init',
            data_schema: [],
            last_step: true,
            description_placeholders: { count: '10', replaces_codes: 'false' },
          });
          if (form.type !== 'form') throw new Error('unreachable');
          const entry = await flows.step(form.flow_id, {}, ownUser);
          expect(entry.type).to.equal('create_entry');
          const codes = (entry.type === 'create_entry' ? entry.data?.['codes'] : undefined) as string[];
          expect(codes).to.have.length(10);
          expect(new Set(codes).size).to.equal(10);
          for (const code of codes) expect(code).to.match(SHOWN_CODE);
          expect(await module.isUserSetup(USER.userId)).to.equal(true);
        });

        it('says that it replaces the codes when the user has some', async function () {
          await setUp(store, module);
          const form = await setupFlows(store, module).init(['recovery', null], USER);
          expect(form.type === 'form' ? form.description_placeholders : null).to.deep.equal({ count: '10', replaces_codes: 'true' });
        });

        it('is continued only by its own user', async function () {
          const flows = setupFlows(store, module);
          const form = await flows.init(['recovery', null], USER);
          if (form.type !== 'form') throw new Error('expected a form');
          const error = await flows.step(form.flow_id, {}, (context) => context.userId === 'someone-else').catch((e: unknown) => e);
          expect(error).to.have.property('code', 'not_found');
          expect(await module.isUserSetup(USER.userId)).to.equal(false);
        });
      });

      describe('#setupUser', function () {
        it('keeps no code in clear, in any spelling, only salted hashes', async function () {
          const codes = await setUp(store, module);
          const stored = JSON.stringify(await store.getMfaSetting(USER.userId, 'recovery'));
          for (const code of codes) {
            expect(stored).not.to.include(code);
            expect(stored).not.to.include(normalizeRecoveryCode(code));
          }
          const setting = (await store.getMfaSetting(USER.userId, 'recovery'))?.data;
          expect(setting?.['hashes']).to.have.length(10);
          expect(setting?.['salt']).to.be.a('string');
        });

        it('gives two users different salts, so one guess is never tried against both', async function () {
          await setUp(store, module);
          await module.setupUser('user-2', {});
          const salts = await Promise.all(['user-1', 'user-2'].map(async (id) => (await store.getMfaSetting(id, 'recovery'))?.data['salt']));
          expect(salts[0]).not.to.equal(salts[1]);
        });

        it('replaces every earlier code when set up again', async function () {
          const first = await setUp(store, module);
          const second = await setUp(store, module);
          expect(second.filter((code) => first.includes(code))).to.deep.equal([]);
          for (const code of first) expect(await module.validate(USER.userId, { code }, {})).to.equal(false);
          expect(await module.validate(USER.userId, { code: second[0] }, {})).to.equal(true);
        });
      });

      describe('#validate', function () {
        it('takes each code once and only once', async function () {
          const codes = await setUp(store, module);
          for (const code of codes) expect(await module.validate(USER.userId, { code }, {})).to.equal(true);
          for (const code of codes) expect(await module.validate(USER.userId, { code }, {})).to.equal(false);
          expect((await store.getMfaSetting(USER.userId, 'recovery'))?.data['hashes']).to.deep.equal([]);
        });

        it('takes a code typed in capitals, with spaces, without dashes, or with look-alikes', async function () {
          const codes = await setUp(store, module);
          const [a, b, c, d] = codes as [string, string, string, string];
          expect(await module.validate(USER.userId, { code: a.toUpperCase() }, {})).to.equal(true);
          expect(await module.validate(USER.userId, { code: ` ${b.replaceAll('-', ' ')} ` }, {})).to.equal(true);
          expect(await module.validate(USER.userId, { code: c.replaceAll('-', '') }, {})).to.equal(true);
          expect(await module.validate(USER.userId, { code: d.replaceAll('0', 'O').replaceAll('1', 'l') }, {})).to.equal(true);
        });

        it('refuses a wrong code, a malformed one, a missing one, and keeps every code', async function () {
          const codes = await setUp(store, module);
          const wrong = codes[0]!.replace(/^./, (first) => (first === 'a' ? 'b' : 'a'));
          for (const code of [wrong, 'abcd-efgh', '', 'x'.repeat(200)]) expect(await module.validate(USER.userId, { code }, {})).to.equal(false);
          expect(await module.validate(USER.userId, {}, {})).to.equal(false);
          expect((await store.getMfaSetting(USER.userId, 'recovery'))?.data['hashes']).to.have.length(10);
        });

        it('refuses every code for a user who has none', async function () {
          expect(await module.validate('nobody', { code: generateRecoveryCodes()[0] }, {})).to.equal(false);
        });
      });

      describe('#validate on two instances at once', function () {
        let stores: Store[];
        beforeEach(async function () {
          stores = await openPair(backend);
        });
        afterEach(async function () {
          await Promise.all(stores.map((s) => s.close()));
        });

        it('takes one code exactly once when two instances check it at the same time', async function () {
          const race = racingReads(stores);
          const [a, b] = race.stores.map((s) => moduleOn(s)) as [MfaModule, MfaModule];
          const codes = await setUp(stores[0]!, moduleOn(stores[0]!));
          for (const code of codes.slice(0, 3)) {
            race.arm();
            const results = await Promise.all([a.validate(USER.userId, { code }, {}), b.validate(USER.userId, { code }, {})]);
            expect(results.filter(Boolean)).to.have.length(1);
          }
          expect(race.lostWrites()).to.equal(3);
          expect((await stores[1]!.getMfaSetting(USER.userId, 'recovery'))?.data['hashes']).to.have.length(7);
        });

        it('takes two different codes checked at the same time, one on each instance', async function () {
          const race = racingReads(stores);
          const [a, b] = race.stores.map((s) => moduleOn(s)) as [MfaModule, MfaModule];
          const codes = await setUp(stores[0]!, moduleOn(stores[0]!));
          for (let i = 0; i < 4; i += 2) {
            race.arm();
            const results = await Promise.all([a.validate(USER.userId, { code: codes[i] }, {}), b.validate(USER.userId, { code: codes[i + 1] }, {})]);
            expect(results).to.deep.equal([true, true]);
          }
          // Each round one write lost the compare-and-set and went through on its re-read.
          expect(race.lostWrites()).to.equal(2);
          expect((await stores[0]!.getMfaSetting(USER.userId, 'recovery'))?.data['hashes']).to.have.length(6);
        });
      });

      describe('#deposeUser', function () {
        it('removes the codes: none works and the user is no longer set up', async function () {
          const codes = await setUp(store, module);
          await module.deposeUser(USER.userId);
          expect(await module.isUserSetup(USER.userId)).to.equal(false);
          expect(await store.getMfaSetting(USER.userId, 'recovery')).to.equal(null);
          expect(await module.validate(USER.userId, { code: codes[0] }, {})).to.equal(false);
        });
      });

      describe('#isUserSetup', function () {
        it('stays true once every code is used, so using them up never turns MFA off', async function () {
          const codes = await setUp(store, module);
          for (const code of codes) await module.validate(USER.userId, { code }, {});
          expect(await module.isUserSetup(USER.userId)).to.equal(true);
        });
      });
    });
  }
});
