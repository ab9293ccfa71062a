/** `password`: local accounts with argon2id password hashes kept as credentials (Home Assistant's `homeassistant` provider). */
import * as argon2 from 'argon2';
import * as t from 'io-ts';
import { closedObject } from '../codec.js';
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import { createEntry, defineFlowHandler, defineForm, field, showForm } from '../flow/index.js';
import type { Credential, JsonObject } from '../store/types.js';
import { normalizeUsername } from '../usernames.js';
import type { AuthProvider, ProviderDependencies, ProviderFactory } from './provider.js';
import { verifyGate } from './verify-gate.js';

export const PASSWORD_PROVIDER_TYPE = 'password';

/** OWASP's argon2id minimum (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane. */
export const DEFAULT_ARGON2 = { memoryKib: 19456, timeCost: 2, parallelism: 1 } as const;

const PositiveInt = t.refinement(t.Int, (n) => n > 0, 'a positive integer');
// argon2 itself refuses m < 8p KiB; 1024 keeps test configs fast while still a real hash.
const MemoryKib = t.refinement(t.Int, (n) => n >= 1024, 'at least 1024 (KiB)');

export const PasswordConfig = closedObject(
  'password provider',
  { type: t.literal(PASSWORD_PROVIDER_TYPE) },
  {
    name: t.string,
    argon2: closedObject('argon2', {}, { memory_kib: MemoryKib, time_cost: PositiveInt, parallelism: PositiveInt }),
  },
);
export type PasswordConfig = t.TypeOf<typeof PasswordConfig>;

/** The password provider's entry among decoded provider configs, or null when none is configured. */
export function passwordConfigIn(entries: readonly { readonly type: string }[]): PasswordConfig | null {
  // The config loader decoded each entry with its provider's own codec, so a `password` entry is a PasswordConfig.
  const entry = entries.find((p) => p.type === PASSWORD_PROVIDER_TYPE);
  return entry === undefined ? null : (entry as unknown as PasswordConfig);
}

/** The argon2 part of a password config, also accepted from code (tests, the CLI) with plain numbers. */
export interface PasswordOptions {
  readonly argon2?: { readonly memory_kib?: number; readonly time_cost?: number; readonly parallelism?: number } | undefined;
}

export interface Argon2Params {
  readonly memoryKib: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

/** The argon2 parameters a config asks for, OWASP's defaults for whatever it leaves out. */
export function argon2Params(config: PasswordOptions = {}): Argon2Params {
  return {
    memoryKib: config.argon2?.memory_kib ?? DEFAULT_ARGON2.memoryKib,
    timeCost: config.argon2?.time_cost ?? DEFAULT_ARGON2.timeCost,
    parallelism: config.argon2?.parallelism ?? DEFAULT_ARGON2.parallelism,
  };
}

/** True when `hash` was not made with exactly these parameters (argon2id, current version): a login should re-hash it. */
export function needsRehash(hash: string, params: Argon2Params): boolean {
  if (!hash.startsWith('$argon2id$')) return true;
  return argon2.needsRehash(hash, { memoryCost: params.memoryKib, timeCost: params.timeCost, parallelism: params.parallelism });
}

/** The one place that calls argon2.hash, so every hash Flowgate makes is argon2id with the configured parameters. */
export function hashPassword(password: string, params: Argon2Params): Promise<string> {
  return argon2.hash(password, {
    type: argon2.argon2id,
    memoryCost: params.memoryKib,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
  });
}

export type VerifyPassword = (hash: string, password: string) => Promise<boolean>;

/** Production's verify; tests may inject another through the dependencies to observe that it ran. */
export const verifyPassword: VerifyPassword = (hash, password) => argon2.verify(hash, password);

/** The fold every username-keyed provider shares (usernames.ts), re-exported where its callers have always found it. */
export { normalizeUsername };

export interface PasswordDependencies extends ProviderDependencies {
  /** Replaces argon2.verify (tests only: to see that the unknown-user path really verifies). */
  readonly verify?: VerifyPassword;
}

const LoginForm = defineForm({ username: field.string('username'), password: field.string('password') });

/** The argon2 hash a password credential holds (undefined for a credential without one). */
export function storedHash(credential: Credential): string | undefined {
  const hash = credential.data['password_hash'];
  return typeof hash === 'string' ? hash : undefined;
}

export const passwordProvider = {
  type: PASSWORD_PROVIDER_TYPE,
  configCodec: PasswordConfig,
  // Wider than PasswordConfig (plain numbers) so code can build a provider without going through the codec.
  create(config: PasswordOptions & { type: typeof PASSWORD_PROVIDER_TYPE; name?: string }, dependencies: PasswordDependencies): AuthProvider {
    const { store } = dependencies;
    const verifyUngated = dependencies.verify ?? verifyPassword;
    const verify: VerifyPassword = (hash, password) => verifyGate.run(() => verifyUngated(hash, password));
    const params = argon2Params(config);
    // Made once, with the same parameters as real hashes, so an unknown user costs exactly what a wrong password does.
    const dummyHash = hashPassword(randomId(), params);
    // Observed here so a failure is not an unhandled rejection at startup; it surfaces on the first login that needs it.
    dummyHash.catch(() => undefined);

    /**
     * The credential just verified, keyed by the entry data handed to the flow engine, which passes that very object back to
     * getOrCreateCredentials in the same step: it saves reading the credential from the store twice per login.
     */
    const verified = new WeakMap<JsonObject, Credential>();

    /** The credential of a known user with this password, else null; an unknown user still pays one argon2 verify. */
    async function validLogin(username: string, password: string): Promise<Credential | null> {
      const credential = await store.findCredential(PASSWORD_PROVIDER_TYPE, null, username);
      const hash = credential === null ? undefined : storedHash(credential);
      if (credential === null || hash === undefined) {
        await verify(await dummyHash, password);
        return null;
      }
      return (await verify(hash, password)) ? credential : null;
    }

    /**
     * Re-hashes a password whose hash was made with other parameters (raised in the config since), at the one moment the
     * password is known. Until then such a verify costs less than an unknown user's, which would tell usernames apart. Best
     * effort: a failure or a password changed meanwhile leaves the stored hash alone, and the login goes on. Run only by the
     * step that committed, so racing logins re-hash once.
     */
    async function rehash(credential: Credential, password: string): Promise<void> {
      const hash = storedHash(credential);
      if (hash === undefined || !needsRehash(hash, params)) return;
      try {
        const fresh = await verifyGate.run(() => hashPassword(password, params));
        await store.updateCredentialData(credential.id, { ...credential.data, password_hash: fresh }, credential.data);
      } catch {
        // The old hash still verifies; the next login tries again.
      }
    }

    return {
      type: PASSWORD_PROVIDER_TYPE,
      id: null,
      name: config.name ?? 'Local accounts',
      loginFlow: defineFlowHandler<JsonObject, 'init'>({
        key: [PASSWORD_PROVIDER_TYPE, null],
        initialState: () => ({}),
        steps: {
          init: async ({ input, state }) => {
            if (input === undefined) return showForm('init', LoginForm.dataSchema, state);
            const { username, password } = LoginForm.read(input);
            const normalized = normalizeUsername(username);
            const credential = await validLogin(normalized, password);
            if (credential === null) return showForm('init', LoginForm.dataSchema, state, { errors: { base: 'invalid_auth' } });
            const entry = { username: normalized };
            verified.set(entry, credential);
            return createEntry(entry, { committed: () => rehash(credential, password) });
          },
        },
      }),
      async getOrCreateCredentials(flowResult): Promise<Credential> {
        // Only an account made with a password has a credential; a finished flow always names one, but never invent it.
        const username = normalizeUsername(String(flowResult['username']));
        const credential = verified.get(flowResult) ?? (await store.findCredential(PASSWORD_PROVIDER_TYPE, null, username));
        if (credential === null) throw new ServiceError('user_not_found', `No password user "${username}"`);
        return credential;
      },
      async userMetaForCredentials(credential) {
        return { name: credential.subject, isActive: true };
      },
      loginAccount: (input) => (typeof input['username'] === 'string' ? normalizeUsername(input['username']) : null),
      findCredential: async (flowResult) =>
        verified.get(flowResult) ?? store.findCredential(PASSWORD_PROVIDER_TYPE, null, normalizeUsername(String(flowResult['username']))),
    };
  },
} satisfies ProviderFactory<PasswordConfig>;
