/**
 * Password accounts: the logins the `password` provider checks, managed by `flowgate user` and by the admin commands
 * (`config/auth_provider/password/*`). Only the credential side: users themselves are the auth layer's (auth/user-admin.ts).
 */
import * as argon2 from 'argon2';
import { GROUP_ID_USER, MAX_USER_INPUT_STRING_LENGTH } from '@flowgate/shared';
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import type { Credential, NewUserOptions, User, UserStore } from '../store/types.js';
import { argon2Params, hashPassword, normalizeUsername, PASSWORD_PROVIDER_TYPE, storedHash, type PasswordOptions } from './password.js';
import { verifyGate } from './verify-gate.js';

/** An account-management refusal; `code` follows HA's error keys, the message is one line for a person. */
export class PasswordUserError extends ServiceError {
  override readonly name = 'PasswordUserError';
  constructor(
    override readonly code:
      | 'username_already_exists'
      | 'user_not_found'
      | 'invalid_username'
      | 'invalid_password'
      | 'credentials_not_found'
      | 'auth_not_found'
      | 'invalid_current_password'
      | 'not_allowed',
    message: string,
  ) {
    super(code, message);
  }
}

export interface NewPasswordUser {
  readonly username: string;
  readonly password: string;
  /** Display name; the username when absent. */
  readonly name?: string | undefined;
  /** Home Assistant group ids; `system-users` when absent. */
  readonly groupIds?: readonly string[] | undefined;
  readonly localOnly?: boolean | undefined;
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

const usernameTaken = (username: string): PasswordUserError =>
  new PasswordUserError('username_already_exists', `A user "${username}" already exists`);

const isPasswordLogin = (credential: Credential): boolean =>
  credential.providerType === PASSWORD_PROVIDER_TYPE && credential.providerId === null;

/** The credential of this username, or `auth_not_found`. */
export async function passwordLoginOf(store: UserStore, rawUsername: string): Promise<Credential> {
  const username = normalizeUsername(rawUsername);
  const credential = await store.findCredential(PASSWORD_PROVIDER_TYPE, null, username);
  if (credential === null) throw new PasswordUserError('auth_not_found', `No user "${username}"`);
  return credential;
}

/** The password login of a user, or `credentials_not_found` (a user made by another provider, or without any login). */
export async function passwordLoginOfUser(store: UserStore, userId: string): Promise<Credential> {
  const credential = (await store.listCredentials(userId)).find(isPasswordLogin);
  if (credential === undefined) throw new PasswordUserError('credentials_not_found', 'This user has no password login');
  return credential;
}

/**
 * Claims `username` for a new credential holding a hash of `password`: the store keeps one credential per subject, and only
 * the one holding our hash is ours (two adds racing for one name end with one winner, the other told the name is taken).
 */
async function claimUsername(store: UserStore, options: PasswordOptions, rawUsername: string, password: string): Promise<Credential> {
  const username = checkedUsername(rawUsername);
  checkPassword(password);
  if ((await store.findCredential(PASSWORD_PROVIDER_TYPE, null, username)) !== null) throw usernameTaken(username);
  const hash = await verifyGate.run(() => hashPassword(password, argon2Params(options)));
  const credential = await store.getOrCreateCredential(PASSWORD_PROVIDER_TYPE, null, username, { password_hash: hash });
  if (storedHash(credential) !== hash) throw usernameTaken(username);
  return credential;
}

/**
 * Creates a user with a password login; with `claimOwner` (the operator's `flowgate user add`), the store makes it the owner (and
 * so an admin) when no owner was ever elected.
 */
export async function addPasswordUser(store: UserStore, options: PasswordOptions, user: NewPasswordUser, newUser: NewUserOptions = {}): Promise<User> {
  const credential = await claimUsername(store, options, user.username, user.password);
  const found = await store.createUserForCredential(credential.id, {
    id: randomId(),
    name: user.name ?? credential.subject,
    isActive: true,
    groupIds: [...(user.groupIds ?? [GROUP_ID_USER])],
    localOnly: user.localOnly ?? false,
    createdAt: Date.now(),
  }, newUser);
  // Null: a racing remove took the credential; not created: it already had a user. Either way the name was not ours to add.
  if (found === null || !found.created) throw usernameTaken(credential.subject);
  return found.user;
}

/**
 * Gives an existing user a password login (`config/auth_provider/password/create`). A user has at most one: a second would
 * leave "change this user's password" ambiguous. A user removed meanwhile leaves no orphan credential behind.
 */
export async function addPasswordLogin(
  store: UserStore,
  options: PasswordOptions,
  userId: string,
  username: string,
  password: string,
): Promise<Credential> {
  if ((await store.getUser(userId)) === null) throw new PasswordUserError('user_not_found', 'No such user');
  if ((await store.listCredentials(userId)).some(isPasswordLogin)) {
    throw new PasswordUserError('not_allowed', 'This user already has a password login: change its username or password instead');
  }
  const credential = await claimUsername(store, options, username, password);
  if (!(await store.linkCredential(credential.id, userId))) {
    await store.removeCredential(credential.id);
    throw new PasswordUserError('user_not_found', 'No such user');
  }
  return credential;
}

/** Sets a new password on a password login. */
/**
 * The credential-data key holding when the login's secret was last changed (ms since the epoch): the code exchange refuses a
 * code issued before it, so a login finished with the old password gets no session after the change.
 */
export const SECRET_CHANGED_AT = 'secret_changed_at';

export async function setPassword(store: UserStore, options: PasswordOptions, credential: Credential, password: string): Promise<void> {
  checkPassword(password);
  const hash = await verifyGate.run(() => hashPassword(password, argon2Params(options)));
  if (!(await store.updateCredentialData(credential.id, { ...credential.data, password_hash: hash, [SECRET_CHANGED_AT]: Date.now() }))) {
    throw new PasswordUserError('credentials_not_found', `No user "${credential.subject}"`);
  }
}

/** Whether `password` is the login's current one (through the verify gate, like a login). */
export async function isCurrentPassword(credential: Credential, password: string): Promise<boolean> {
  const hash = storedHash(credential);
  if (hash === undefined) return false;
  return verifyGate.run(() => argon2.verify(hash, password));
}

/** Renames a password login; the old username is free afterwards. */
export async function changeUsername(store: UserStore, credential: Credential, rawUsername: string): Promise<string> {
  const username = checkedUsername(rawUsername);
  const outcome = await store.changeCredentialSubject(credential.id, username);
  if (outcome === 'taken') throw usernameTaken(username);
  if (outcome === 'not_found') throw new PasswordUserError('credentials_not_found', 'This user has no password login');
  return username;
}

/** Every user with a password login, by username. */
export async function listPasswordUsers(store: UserStore): Promise<PasswordUserInfo[]> {
  const users = await store.listUsers();
  const rows = await Promise.all(
    users.map(async (user) => {
      const credentials = await store.listCredentials(user.id);
      return credentials
        .filter(isPasswordLogin)
        .map((c) => ({ username: c.subject, name: user.name, is_owner: user.isOwner, is_admin: user.isAdmin, is_active: user.isActive }));
    }),
  );
  return rows.flat().sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
}
