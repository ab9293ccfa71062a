/** `password`: local accounts with argon2id password hashes kept as credentials (Home Assistant's `homeassistant` provider). */
import { availableParallelism } from 'node:os';
import * as argon2 from 'argon2';
import * as t from 'io-ts';
import { MAX_USER_INPUT_STRING_LENGTH } from '@flowgate/shared';
import { closedObject } from '../codec.js';
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import { createEntry, defineFlowHandler, defineForm, field, showForm } from '../flow/index.js';
import type { Credential, JsonObject, RefreshTokenStore, User, UserStore } from '../store/types.js';
import type { AuthProvider, ProviderDependencies, ProviderFactory } from './provider.js';

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

/**
 * The username a login or an account is keyed by, HA's `strip().casefold()` with Unicode's full case folding: trimmed,
 * NFKC-normalised (full-width and compatibility forms fold to one spelling), then upper- and lower-cased, which folds what
 * lower-casing alone keeps apart (`Straße` and `STRASSE`, `ﬁ` and `fi`, final and medial sigma), then NFKC again for the
 * forms folding produced. Where it differs from Python's casefold it only merges more (dotless `ı` with `i`): never two
 * accounts that HA would keep as one. Passwords are never normalised.
 */
export function normalizeUsername(username: string): string {
  return username.trim().normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

/** An account-management refusal; `code` follows HA's error keys, the message is one line for a person. */
export class PasswordUserError extends Error {
  override readonly name = 'PasswordUserError';
  constructor(
    readonly code: 'username_already_exists' | 'user_not_found' | 'invalid_username' | 'invalid_password',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Verifies running at once in this process. argon2 is pure CPU: one per core already keeps every core busy (more only share the
 * cores and stretch each verify), and it leaves the rest of libuv's pool (4 threads) free for the file, DNS and crypto work of
 * everything else, and some CPU time for the event loop.
 */
export const VERIFY_CONCURRENCY = Math.max(1, availableParallelism());
/**
 * Verifies waiting for a slot before a login is refused with `unavailable`: at ~22 ms each (OWASP parameters) a full queue is
 * about 1.4 s of waiting, past which a client is better told to retry than kept waiting while memory grows.
 */
export const MAX_QUEUED_VERIFIES = 64 * VERIFY_CONCURRENCY;

/** A counting semaphore with a bounded queue: what keeps password hashing from starving the rest of the server. */
export class VerifyGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) {
        throw new ServiceError('unavailable', 'Too many password checks in progress; retry in a moment');
      }
      // The slot is handed over by the finishing task (running stays counted), so a newcomer can never overtake the queue.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.running -= 1;
      else next();
    }
  }
}

/** One gate per process, shared by every password provider in it: the cores are per process, not per provider. */
const verifyGate = new VerifyGate(VERIFY_CONCURRENCY, MAX_QUEUED_VERIFIES);

export interface PasswordDependencies extends ProviderDependencies {
  /** Replaces argon2.verify (tests only: to see that the unknown-user path really verifies). */
  readonly verify?: VerifyPassword;
}

const LoginForm = defineForm({ username: field.string('username'), password: field.string('password') });

function storedHash(credential: Credential): string | undefined {
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
        if (credential === null) throw new PasswordUserError('user_not_found', `No password user "${username}"`);
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

// ---- Account management (the `flowgate user` commands) ----

export interface NewPasswordUser {
  readonly username: string;
  readonly password: string;
  /** Display name; the username when absent. */
  readonly name?: string | undefined;
  readonly isAdmin?: boolean | undefined;
}

export interface PasswordUserInfo {
  readonly username: string;
  readonly name: string;
  readonly is_owner: boolean;
  readonly is_admin: boolean;
  readonly is_active: boolean;
}

function checkPassword(password: string): void {
  if (password.length === 0) throw new PasswordUserError('invalid_password', 'The password must not be empty');
  // Longer could never be typed into the login form, whose fields stop at this length.
  if (password.length > MAX_USER_INPUT_STRING_LENGTH) {
    throw new PasswordUserError('invalid_password', `The password must be at most ${MAX_USER_INPUT_STRING_LENGTH} characters`);
  }
}

function checkedUsername(raw: string): string {
  const username = normalizeUsername(raw);
  if (username.length === 0) throw new PasswordUserError('invalid_username', 'The username must not be empty');
  if (username.length > MAX_USER_INPUT_STRING_LENGTH) {
    throw new PasswordUserError('invalid_username', `The username must be at most ${MAX_USER_INPUT_STRING_LENGTH} characters`);
  }
  // Control characters could not be told apart in `user list` and are surely a mistake (a pasted newline).
  if (/\p{Cc}/u.test(username)) throw new PasswordUserError('invalid_username', 'The username must not contain control characters');
  return username;
}

async function existingCredential(store: UserStore, rawUsername: string): Promise<Credential> {
  const username = normalizeUsername(rawUsername);
  const credential = await store.findCredential(PASSWORD_PROVIDER_TYPE, null, username);
  if (credential === null) throw new PasswordUserError('user_not_found', `No user "${username}"`);
  return credential;
}

/** Creates a user with a password login; the store makes the first user ever created the owner (and an admin). */
export async function addPasswordUser(
  store: UserStore,
  options: PasswordOptions,
  user: NewPasswordUser,
): Promise<User> {
  const username = checkedUsername(user.username);
  checkPassword(user.password);
  const taken = () => new PasswordUserError('username_already_exists', `A user "${username}" already exists`);
  if ((await store.findCredential(PASSWORD_PROVIDER_TYPE, null, username)) !== null) throw taken();
  const hash = await hashPassword(user.password, argon2Params(options));
  // Two adds racing for one name: the store keeps one credential per subject, and only the one holding our hash is ours.
  const credential = await store.getOrCreateCredential(PASSWORD_PROVIDER_TYPE, null, username, { password_hash: hash });
  if (storedHash(credential) !== hash) throw taken();
  const found = await store.createUserForCredential(credential.id, {
    id: randomId(),
    name: user.name ?? username,
    isAdmin: user.isAdmin ?? false,
    isActive: true,
    createdAt: Date.now(),
  });
  // Null: a racing remove took the credential; not created: it already had a user. Either way the name was not ours to add.
  if (found === null || !found.created) throw taken();
  return found.user;
}

export async function changePassword(
  store: UserStore,
  options: PasswordOptions,
  username: string,
  password: string,
): Promise<void> {
  checkPassword(password);
  const credential = await existingCredential(store, username);
  const hash = await hashPassword(password, argon2Params(options));
  if (!(await store.updateCredentialData(credential.id, { ...credential.data, password_hash: hash }))) {
    throw new PasswordUserError('user_not_found', `No user "${credential.subject}"`);
  }
}

/** Removes the user who logs in with this username, with all its credentials and refresh tokens. */
/** Removes the user with its credentials and refresh tokens; returns the ids of those tokens, so their sockets can be closed. */
export async function removePasswordUser(store: UserStore & RefreshTokenStore, username: string): Promise<string[]> {
  const credential = await existingCredential(store, username);
  const refreshTokens = credential.userId === null ? [] : await store.listRefreshTokens(credential.userId);
  // A credential without a user is left only by an add that crashed half-way; it has no user to remove.
  if (credential.userId === null || !(await store.removeUser(credential.userId))) {
    throw new PasswordUserError('user_not_found', `No user "${credential.subject}"`);
  }
  return refreshTokens.map((token) => token.id);
}

/** Every user with a password login, by username. */
export async function listPasswordUsers(store: UserStore): Promise<PasswordUserInfo[]> {
  const users = await store.listUsers();
  const rows = await Promise.all(
    users.map(async (user) => {
      const credentials = await store.listCredentials(user.id);
      return credentials
        .filter((c) => c.providerType === PASSWORD_PROVIDER_TYPE && c.providerId === null)
        .map((c) => ({ username: c.subject, name: user.name, is_owner: user.isOwner, is_admin: user.isAdmin, is_active: user.isActive }));
    }),
  );
  return rows.flat().sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
}
