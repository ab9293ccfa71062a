/** `recovery`: ten single-use recovery codes, shown once at setup and kept only as slow salted hashes, each good for one login. */
import { randomBytes, randomInt } from 'node:crypto';
import * as argon2 from 'argon2';
import { isRight } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { closedObject } from '../codec.js';
import { constantTimeEqual } from '../crypto.js';
import { createEntry, defineFlowHandler, defineForm, field, showForm } from '../flow/index.js';
import type { MfaStore } from '../store/mfa.js';
import { moduleIdentity, type MfaModule, type MfaModuleFactory, type MfaSetupContext } from './module.js';

export const RECOVERY_MODULE_TYPE = 'recovery';
const DEFAULT_NAME = 'Recovery codes';
/** Wrong codes before the login aborts with too_many_retry: Home Assistant's default for a module. */
const RECOVERY_MAX_RETRIES = 3;

/** Codes per setup: enough for a year of lost phones, few enough to print on one card (GitHub and Google give 10 too). */
export const RECOVERY_CODE_COUNT = 10;
/**
 * Crockford's base32 alphabet, lower-cased: no `i`, `l`, `o` or `u`, so nothing on the card can be read as something else, and
 * a typed look-alike is folded back (see `normalizeRecoveryCode`). 32 letters: each one is exactly 5 random bits.
 */
export const RECOVERY_CODE_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
/** 12 letters of 5 bits: 60 bits per code, past the 50 the issue asks for, and still three short groups to type. */
export const RECOVERY_CODE_LENGTH = 12;
/** Letters between the dashes of a shown code (`abcd-efgh-jkmn`): groups of four are what people copy without losing their place. */
const GROUP_LENGTH = 4;
/** A typed answer longer than this cannot be a code even with generous spacing; it is refused before any hashing. */
const MAX_TYPED_CODE_LENGTH = 64;
/**
 * Writes tried when using a code up: a compare-and-set that lost means another login of this user used a code meanwhile; one
 * re-read settles whether ours is still there (the other took a different code) or was the one taken (then it is refused).
 */
const CONSUME_ATTEMPTS = 2;
/** Salt bytes per user (per set of codes): 128 bits, so no two sets, here or anywhere, share one. */
const SALT_BYTES = 16;

/**
 * How the codes are hashed, and why not plain SHA-256. With a copy of the database an attacker may guess offline. A GPU
 * does ~2e10 SHA-256 a second: against one user's ten salted codes, 2^60 / 10 / 2e10 s is about two GPU-months (a farm
 * makes it days), and without a salt every user's codes are searched at once (a million users: seconds). So each set gets
 * its own random salt (no guess is tried against two users) and the hash is argon2id at OWASP's password parameters, which
 * brings a GPU down to some thousands of guesses a second: some 10^5 GPU-years per user. The server pays one ~20 ms
 * hash per answer at the `mfa` step (only after a right password) and ten at setup. A keyed HMAC would be fast and as
 * strong, but only while its key stays out of the attacker's hands, and a key is one more thing to configure and share
 * between instances. The parameters are stored with the hashes, so changing them later leaves older codes working.
 */
export const RECOVERY_ARGON2 = { memory_kib: 19456, time_cost: 2, parallelism: 1 } as const;
/** Raw argon2 output bytes: 256 bits, the size of a SHA-256 digest. */
const HASH_BYTES = 32;

export const RecoveryConfig = closedObject(
  'recovery MFA module',
  { type: t.literal(RECOVERY_MODULE_TYPE) },
  { id: t.string, name: t.string },
);
export type RecoveryConfig = t.TypeOf<typeof RecoveryConfig>;

/** What the store keeps per user: the salt, the unused codes' hashes (base64), and the argon2 parameters they were made with. */
const RecoverySetting = t.type({
  salt: t.string,
  hashes: t.array(t.string),
  argon2: t.type({ memory_kib: t.number, time_cost: t.number, parallelism: t.number }),
});
type RecoverySetting = t.TypeOf<typeof RecoverySetting>;

const CodeForm = defineForm({ code: field.string('code', { lengthMax: MAX_TYPED_CODE_LENGTH }) });
const CODE_SHAPE = new RegExp(`^[${RECOVERY_CODE_ALPHABET}]{${RECOVERY_CODE_LENGTH}}$`);

/** Ten fresh codes, all different, grouped for reading (`abcd-efgh-jkmn`). */
export function generateRecoveryCodes(): string[] {
  const codes = new Set<string>();
  while (codes.size < RECOVERY_CODE_COUNT) {
    const letters = Array.from({ length: RECOVERY_CODE_LENGTH }, () => RECOVERY_CODE_ALPHABET[randomInt(RECOVERY_CODE_ALPHABET.length)]);
    const groups: string[] = [];
    for (let start = 0; start < letters.length; start += GROUP_LENGTH) groups.push(letters.slice(start, start + GROUP_LENGTH).join(''));
    codes.add(groups.join('-'));
  }
  return [...codes];
}

/**
 * A typed code as it is hashed: any case, without spaces or dashes (also the typographic dashes a word processor puts in), and
 * with Crockford's look-alikes folded (`i` and `l` are `1`, `o` is `0`), so what a person misreads on the card still works.
 */
export function normalizeRecoveryCode(typed: string): string {
  return typed
    .toLowerCase()
    .replace(/[\s\-\u2010-\u2015\u2212]/gu, '')
    .replace(/[il]/g, '1')
    .replace(/o/g, '0');
}

async function hashCode(code: string, salt: Buffer, params: RecoverySetting['argon2']): Promise<string> {
  const digest = await argon2.hash(code, {
    raw: true,
    salt,
    hashLength: HASH_BYTES,
    type: argon2.argon2id,
    memoryCost: params.memory_kib,
    timeCost: params.time_cost,
    parallelism: params.parallelism,
  });
  return digest.toString('base64');
}

/** The index of `digest` among `hashes`, or -1; every hash is compared, so the time taken says nothing about which one matched. */
function matchIndex(digest: string, hashes: readonly string[]): number {
  let found = -1;
  hashes.forEach((hash, index) => {
    if (constantTimeEqual(hash, digest) && found === -1) found = index;
  });
  return found;
}

type SetupState = Record<string, never>;

/**
 * The setup flow: one confirming form, then the codes. They are made by `setupUser` and shown in the `create_entry` data only,
 * not in the form's `description_placeholders`: the engine keeps a shown form (placeholders included) in the flow's record in
 * the store, and answers it again to any `get`, so codes put there would sit in clear in the store for the flow's life.
 * Made after the flow's end committed, they exist in clear only in this process and in the one answer that shows them. The
 * cost: an answer lost on the way (a dropped socket) cannot be asked for again; setting up again gives a new set.
 */
function setupFlow(moduleId: string, store: MfaStore) {
  return defineFlowHandler<SetupState, 'init', MfaSetupContext>({
    key: [moduleId, null],
    initialState: () => ({}),
    steps: {
      init: async ({ input, state, context }) => {
        if (input !== undefined) return createEntry({});
        // Tells the person, before they go on, that any codes they kept stop working.
        const replaces = (await store.getMfaSetting(context.userId, moduleId)) !== null;
        return showForm('init', [], state, {
          lastStep: true,
          descriptionPlaceholders: { count: String(RECOVERY_CODE_COUNT), replaces_codes: String(replaces) },
        });
      },
    },
  });
}

export const recoveryModule: MfaModuleFactory<RecoveryConfig> = {
  type: RECOVERY_MODULE_TYPE,
  configCodec: RecoveryConfig,
  create(config, { store }): MfaModule {
    const { id, name } = moduleIdentity(config, DEFAULT_NAME);

    async function readSetting(userId: string): Promise<{ setting: RecoverySetting; revision: string } | null> {
      const stored = await store.getMfaSetting(userId, id);
      if (stored === null) return null;
      const decoded = RecoverySetting.decode(stored.data);
      // A setting this module cannot read (hand-edited, another module's id reused) has no code that works.
      return isRight(decoded) ? { setting: decoded.right, revision: stored.revision } : null;
    }

    return {
      type: RECOVERY_MODULE_TYPE,
      id,
      name,
      inputSchema: CodeForm.dataSchema,
      maxRetries: RECOVERY_MAX_RETRIES,
      setupFlow: setupFlow(id, store),

      async setupUser(userId) {
        const codes = generateRecoveryCodes();
        const salt = randomBytes(SALT_BYTES);
        // One after the other: ten hashes at once would take every libuv thread from the rest of the server.
        const hashes: string[] = [];
        for (const code of codes) hashes.push(await hashCode(normalizeRecoveryCode(code), salt, RECOVERY_ARGON2));
        const setting: RecoverySetting = { salt: salt.toString('base64'), hashes, argon2: { ...RECOVERY_ARGON2 } };
        // No expected revision: a new set replaces every earlier code, used or not.
        await store.putMfaSetting(userId, id, setting);
        return { codes };
      },

      async deposeUser(userId) {
        await store.deleteMfaSetting(userId, id);
      },

      // A user who used up every code stays set up (and no code works): turning the module off by using it would let the
      // login skip MFA altogether when it is the only module. Setting up again, or an administrator's reset, is the way out.
      isUserSetup: async (userId) => (await store.getMfaSetting(userId, id)) !== null,

      async validate(userId, input) {
        const typed = input['code'];
        if (typeof typed !== 'string' || typed.length > MAX_TYPED_CODE_LENGTH) return false;
        const code = normalizeRecoveryCode(typed);
        // The shape is public, so refusing a malformed answer early tells nothing; it spares a hash.
        if (!CODE_SHAPE.test(code)) return false;
        // By salt: the answer is hashed again only when a new setup changed the salt between two reads.
        const digests = new Map<string, string>();
        for (let attempt = 0; attempt < CONSUME_ATTEMPTS; attempt += 1) {
          const current = await readSetting(userId);
          if (current === null) return false;
          const { setting, revision } = current;
          const digest = digests.get(setting.salt) ?? (await hashCode(code, Buffer.from(setting.salt, 'base64'), setting.argon2));
          digests.set(setting.salt, digest);
          const index = matchIndex(digest, setting.hashes);
          if (index === -1) return false;
          const rest: RecoverySetting = { ...setting, hashes: setting.hashes.filter((_, i) => i !== index) };
          // Compare-and-set: of two logins using this code at once (on any instances), only one removes it.
          if (await store.putMfaSetting(userId, id, rest, revision)) return true;
        }
        return false;
      },
    };
  },
};
