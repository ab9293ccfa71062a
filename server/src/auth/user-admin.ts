/**
 * User management, one code path for the admin commands (`config/auth/*`, `config/auth_provider/password/*`) and for
 * `flowgate user`: the owner's protections, token revocation when a user loses access, and the audit trail.
 */
import { GROUP_ID_ADMIN, GROUP_ID_USER, type UserInfo } from '@flowgate/shared';
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import type { Audit } from '../observability/audit.js';
import {
  addPasswordLogin,
  addPasswordUser,
  changeUsername,
  isCurrentPassword,
  passwordLoginOf,
  passwordLoginOfUser,
  PasswordUserError,
  setPassword,
  type NewPasswordUser,
} from '../providers/password-accounts.js';
import { PASSWORD_PROVIDER_TYPE, type PasswordOptions } from '../providers/password.js';
import { assertStrongPassword } from '../providers/password-policy.js';
import type { Credential, Store, User, UserPatch } from '../store/types.js';
import type { TokenService } from '../tokens/refresh-tokens.js';

/** Who asks: the admin's user id and address on a socket; null for `flowgate user` on the server's machine. `via` names the command. */
export interface Actor {
  readonly userId: string | null;
  readonly address: string | null;
  readonly via: string;
}

export interface NewUserRequest {
  readonly name: string;
  readonly groupIds?: readonly string[] | undefined;
  readonly localOnly?: boolean | undefined;
}

export interface UserAdminDependencies {
  readonly store: Store;
  readonly tokens: TokenService;
  readonly audit: Audit;
  /** The password provider's argon2 options (its config entry), for the hashes made here. */
  readonly passwordOptions: PasswordOptions;
  /**
   * Runs a check of a user's current password under the brute-force limits of that account and address (`change_password`
   * guesses count like login guesses): the auth manager's limits on a server; none for the CLI.
   */
  readonly guardPasswordCheck?: (account: string, actor: Actor, check: () => Promise<boolean>) => Promise<boolean>;
}

const userNotFound = (): ServiceError => new ServiceError('not_found', 'User not found');

/**
 * The owner's logins, flags and name are the owner's alone: an administrator who could change them could take the owner's
 * account over (delete its password login, add one with a password of their own) or lock the owner out (`local_only`). The
 * operator on the server's machine (the CLI, no user id) may.
 */
function assertMayChange(target: User, actor: Actor): void {
  if (target.isOwner && actor.userId !== null && actor.userId !== target.id) {
    throw new ServiceError('unauthorized', "Only the owner may change the owner's logins, password, username, name, groups or flags");
  }
}

/** Group ids without repeats, in the order given. */
const distinct = (ids: readonly string[]): string[] => [...new Set(ids)];

export class UserAdmin {
  constructor(private readonly deps: UserAdminDependencies) {}

  /** Home Assistant's `_user_info`, plus `is_admin`. */
  async info(user: User): Promise<UserInfo> {
    const credentials = await this.deps.store.listCredentials(user.id);
    const password = credentials.find((c) => c.providerType === PASSWORD_PROVIDER_TYPE && c.providerId === null);
    return {
      id: user.id,
      username: password?.subject ?? null,
      name: user.name,
      is_owner: user.isOwner,
      is_admin: user.isAdmin,
      is_active: user.isActive,
      local_only: user.localOnly,
      system_generated: false,
      group_ids: [...user.groupIds],
      credentials: credentials.map((c) => ({ type: c.providerType })),
    };
  }

  async list(): Promise<UserInfo[]> {
    return Promise.all((await this.deps.store.listUsers()).map((user) => this.info(user)));
  }

  /** `config/auth/create`: a user without any login yet (give it one with `config/auth_provider/password/create`). */
  async create(request: NewUserRequest, actor: Actor): Promise<UserInfo> {
    const user = await this.deps.store.createUser({
      id: randomId(),
      name: request.name,
      isActive: true,
      groupIds: distinct(request.groupIds ?? [GROUP_ID_USER]),
      localOnly: request.localOnly ?? false,
      createdAt: Date.now(),
    });
    this.audited('user_created', user, actor);
    return this.info(user);
  }

  /**
   * `flowgate user add`: a user and its password login in one go. The operator's command, so the first user it adds (while no
   * owner was ever elected) becomes the owner, which no login and no admin command can make.
   */
  async createWithPassword(request: NewPasswordUser, actor: Actor): Promise<User> {
    await assertStrongPassword(request.password);
    const groupIds = distinct(request.groupIds ?? [GROUP_ID_USER]);
    const user = await addPasswordUser(this.deps.store, this.deps.passwordOptions, { ...request, groupIds }, { claimOwner: true });
    this.audited('user_created', user, actor);
    return user;
  }

  /**
   * `config/auth/update`. The owner can be neither deactivated nor taken out of `system-admin`, and is changed only by the owner
   * (or the CLI). A user deactivated loses every refresh token at once, so its sockets close with 4001 on every instance.
   */
  async update(userId: string, patch: UserPatch, actor: Actor): Promise<UserInfo> {
    const current = await this.deps.store.getUser(userId);
    if (current === null) throw userNotFound();
    if (current.isOwner && patch.isActive === false) throw new ServiceError('cannot_deactivate_owner', 'Unable to deactivate owner.');
    if (current.isOwner && patch.groupIds !== undefined && !patch.groupIds.includes(GROUP_ID_ADMIN)) {
      throw new ServiceError('cannot_demote_owner', 'The owner is always an administrator: keep system-admin in its groups');
    }
    assertMayChange(current, actor);
    const updated = await this.deps.store.updateUser(userId, {
      ...patch,
      ...(patch.groupIds === undefined ? {} : { groupIds: distinct(patch.groupIds) }),
    });
    if (updated === null) throw userNotFound();
    if (current.isActive && !updated.isActive) await this.revokeSessions(userId, actor, null);
    this.audited('user_updated', updated, actor, {
      changed: Object.keys(patch).sort().join(','),
    });
    return this.info(updated);
  }

  /**
   * `config/auth/delete`: the user, its logins and its tokens; its sockets close on every instance. Over the socket neither
   * oneself nor the owner; the operator on the server's machine (`flowgate user remove`) may remove the owner, and nobody is
   * promoted in its place (the first user ever stays the owner of record).
   */
  async delete(userId: string, actor: Actor): Promise<void> {
    if (actor.userId === userId) throw new ServiceError('no_delete_self', 'Unable to delete your own account');
    const user = await this.deps.store.getUser(userId);
    if (user === null) throw userNotFound();
    if (user.isOwner && actor.userId !== null) throw new ServiceError('cannot_deactivate_owner', 'The owner cannot be deleted');
    const tokens = await this.deps.store.listRefreshTokens(userId);
    if (!(await this.deps.store.removeUser(userId))) throw userNotFound();
    // The store already dropped the tokens with the user; announcing them closes their sockets wherever they are.
    await Promise.all(tokens.map((token) => this.deps.tokens.revoke(token.id, { userId, address: actor.address, via: actor.via })));
    this.audited('user_deleted', user, actor);
  }

  /** The user a password login belongs to (`flowgate user remove USERNAME`). */
  async userOfUsername(username: string): Promise<string> {
    const credential = await passwordLoginOf(this.deps.store, username);
    if (credential.userId === null) throw new PasswordUserError('user_not_found', `No user "${credential.subject}"`);
    return credential.userId;
  }

  // ---- The password provider's logins (HA's config/auth_provider/homeassistant/*) ----

  async addPasswordLogin(userId: string, username: string, password: string, actor: Actor): Promise<void> {
    const user = await this.deps.store.getUser(userId);
    if (user !== null) assertMayChange(user, actor);
    await assertStrongPassword(password);
    const credential = await addPasswordLogin(this.deps.store, this.deps.passwordOptions, userId, username, password);
    this.deps.audit('credential_added', { user_id: userId, username: credential.subject, address: actor.address, by: actor.userId, via: actor.via });
  }

  /** Removes a login (not its user); sessions that login opened are revoked with it. Not the owner's, but by the owner. */
  async removePasswordLogin(username: string, actor: Actor): Promise<void> {
    const credential = await passwordLoginOf(this.deps.store, username);
    const user = credential.userId === null ? null : await this.deps.store.getUser(credential.userId);
    if (user !== null) assertMayChange(user, actor);
    if (credential.userId !== null) {
      const opened = (await this.deps.store.listRefreshTokens(credential.userId)).filter((t) => t.credentialId === credential.id);
      await this.deps.store.removeCredential(credential.id);
      await Promise.all(opened.map((t) => this.deps.tokens.revoke(t.id, { userId: credential.userId, address: actor.address, via: actor.via })));
    } else {
      await this.deps.store.removeCredential(credential.id);
    }
    this.deps.audit('credential_removed', { user_id: credential.userId, username: credential.subject, address: actor.address, by: actor.userId, via: actor.via });
  }

  /**
   * An administrator sets another user's password (`admin_change_password`): a reset, so every session and long-lived token of
   * that user ends, whoever held it. The owner's may be changed only by the owner: no admin can take it over.
   */
  async setPasswordOf(userId: string, password: string, actor: Actor): Promise<void> {
    const credential = await this.administeredPasswordLogin(userId, actor);
    await assertStrongPassword(password);
    await setPassword(this.deps.store, this.deps.passwordOptions, credential, password);
    const revoked = await this.revokeSessions(userId, actor, null);
    this.deps.audit('password_changed', { user_id: userId, username: credential.subject, address: actor.address, by: actor.userId, via: actor.via, tokens_revoked: revoked });
  }

  /** `flowgate user passwd USERNAME`: a reset like `admin_change_password`, every token of the user revoked on every instance. */
  async setPasswordOfUsername(username: string, password: string, actor: Actor): Promise<void> {
    const credential = await passwordLoginOf(this.deps.store, username);
    await assertStrongPassword(password);
    await setPassword(this.deps.store, this.deps.passwordOptions, credential, password);
    const revoked = credential.userId === null ? 0 : await this.revokeSessions(credential.userId, actor, null);
    this.deps.audit('password_changed', { user_id: credential.userId, username: credential.subject, address: actor.address, by: actor.userId, via: actor.via, tokens_revoked: revoked });
  }

  async changeUsernameOf(userId: string, username: string, actor: Actor): Promise<void> {
    const credential = await this.administeredPasswordLogin(userId, actor);
    const renamed = await changeUsername(this.deps.store, credential, username);
    this.deps.audit('username_changed', { user_id: userId, username: renamed, previous: credential.subject, address: actor.address, by: actor.userId, via: actor.via });
  }

  /**
   * The user's own `change_password`: the current password first, its wrong guesses counted like failed logins. Every other
   * session and long-lived token of the user ends (a password is changed on suspicion, and a thief's session or the token it
   * minted must not outlive it); the session asking, `keep`, stays.
   */
  async changeOwnPassword(userId: string, currentPassword: string, newPassword: string, actor: Actor, keep: string | null): Promise<void> {
    // Checked before the current password, so a weak choice costs no argon2 verify and no counted guess.
    await assertStrongPassword(newPassword);
    const credential = await passwordLoginOfUser(this.deps.store, userId);
    const check = () => isCurrentPassword(credential, currentPassword);
    const guard = this.deps.guardPasswordCheck;
    const correct = guard === undefined ? await check() : await guard(credential.subject, actor, check);
    if (!correct) throw new PasswordUserError('invalid_current_password', 'Invalid current password');
    await setPassword(this.deps.store, this.deps.passwordOptions, credential, newPassword);
    const revoked = await this.revokeSessions(userId, actor, keep);
    this.deps.audit('password_changed', { user_id: userId, username: credential.subject, address: actor.address, by: userId, via: actor.via, tokens_revoked: revoked });
  }

  /** The password login an administrator acts on: the user must exist, and the owner's is the owner's alone (no takeover). */
  private async administeredPasswordLogin(userId: string, actor: Actor): Promise<Credential> {
    const user = await this.deps.store.getUser(userId);
    if (user === null) throw new PasswordUserError('user_not_found', 'User not found');
    assertMayChange(user, actor);
    return passwordLoginOfUser(this.deps.store, userId);
  }

  /**
   * Revokes every refresh token of the user but `keep`, through the token service so that their sockets close with 4001 on
   * every instance (the asking socket, when among them, answers first); how many.
   */
  private async revokeSessions(userId: string, actor: Actor, keep: string | null): Promise<number> {
    const tokens = (await this.deps.store.listRefreshTokens(userId)).filter((token) => token.id !== keep);
    await Promise.all(tokens.map((token) => this.deps.tokens.revoke(token.id, { userId, address: actor.address, via: actor.via })));
    return tokens.length;
  }

  private audited(event: 'user_created' | 'user_updated' | 'user_deleted', user: User, actor: Actor, extra: Record<string, string> = {}): void {
    this.deps.audit(event, { user_id: user.id, address: actor.address, by: actor.userId, via: actor.via, is_admin: user.isAdmin, ...extra });
  }
}
