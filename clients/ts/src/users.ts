/** User management on the client: the administrator's typed `config/auth/*` and password commands, and their errors in words. */
import type * as t from 'io-ts';
import { GROUP_ID_ADMIN, NullResult, PASSWORD_COMMAND_PREFIXES, UserList, UserResult, type GroupId, type UserInfo } from '@flowgate/shared';
import { CommandError } from './errors.js';

/** Sends one command on the client's socket and decodes its result with `codec` (FlowgateClient's own sender). */
export type CommandSender = <C extends t.Mixed>(type: string, fields: Record<string, unknown>, codec: C) => Promise<t.TypeOf<C>>;

/** Flowgate's own name for the password provider's commands (the server also takes Home Assistant's `homeassistant/`). */
const PASSWORD = PASSWORD_COMMAND_PREFIXES[0];

export interface NewUser {
  /** The display name. */
  readonly name: string;
  /** Default (the server's): `system-users`, a user who is not an administrator. */
  readonly groupIds?: readonly GroupId[];
  /** Signs in and uses tokens only from local addresses (loopback, private ranges, link-local). */
  readonly localOnly?: boolean;
}

export interface NewPasswordUser extends NewUser {
  readonly username: string;
  readonly password: string;
}

/** What `update` changes; a field left out stays as it is. */
export interface UserChanges {
  readonly name?: string;
  readonly isActive?: boolean;
  readonly groupIds?: readonly GroupId[];
  readonly localOnly?: boolean;
}

/** `client.users`: every command but `changeOwnPassword` needs an administrator (else CommandError `unauthorized`). */
export class UserAdmin {
  constructor(private readonly send: CommandSender) {}

  /** `config/auth/list`: every user. */
  list(): Promise<UserInfo[]> {
    return this.send('config/auth/list', {}, UserList);
  }

  /** `config/auth/create`: a user without any login yet (see createWithPassword). */
  async create(user: NewUser): Promise<UserInfo> {
    const result = await this.send('config/auth/create', { name: user.name, ...userFields(user) }, UserResult);
    return result.user;
  }

  /**
   * A user who signs in with a username and password: `config/auth/create`, then the password provider's `create` with the
   * new user's id (as Home Assistant's frontend does). When the second step is refused (a username taken, say), the user
   * just created is deleted again, so a failed attempt leaves no user behind who cannot sign in; the error is rethrown.
   */
  async createWithPassword(user: NewPasswordUser): Promise<UserInfo> {
    const created = await this.create(user);
    try {
      await this.createPassword(created.id, user.username, user.password);
    } catch (error) {
      await this.delete(created.id).catch(() => undefined);
      throw error;
    }
    // The user as `create` answered it, before its password login existed: `list` shows its username.
    return created;
  }

  /** `config/auth/update`: the user as it is afterwards. Deactivating revokes all its sessions on every instance. */
  async update(userId: string, changes: UserChanges): Promise<UserInfo> {
    const fields = {
      user_id: userId,
      ...(changes.name === undefined ? {} : { name: changes.name }),
      ...(changes.isActive === undefined ? {} : { is_active: changes.isActive }),
      ...userFields(changes),
    };
    return (await this.send('config/auth/update', fields, UserResult)).user;
  }

  /** `config/auth/delete`: the user, its logins and its sessions (not the owner, not oneself). */
  async delete(userId: string): Promise<void> {
    await this.send('config/auth/delete', { user_id: userId }, NullResult);
  }

  /** The password provider's `create`: gives an existing user a username and password to sign in with. */
  async createPassword(userId: string, username: string, password: string): Promise<void> {
    await this.send(`${PASSWORD}create`, { user_id: userId, username, password }, NullResult);
  }

  /** The password provider's `delete`: removes the password login named `username` (the user stays). */
  async deletePassword(username: string): Promise<void> {
    await this.send(`${PASSWORD}delete`, { username }, NullResult);
  }

  /** `admin_change_password`: sets another user's password without knowing the old one, and signs that user out everywhere. */
  async setPassword(userId: string, password: string): Promise<void> {
    await this.send(`${PASSWORD}admin_change_password`, { user_id: userId, password }, NullResult);
  }

  /** `admin_change_username`: renames a user's password login. */
  async setUsername(userId: string, username: string): Promise<void> {
    await this.send(`${PASSWORD}admin_change_username`, { user_id: userId, username }, NullResult);
  }

  /** `change_password`: the signed-in user's own password (any user may send it); the user's other sessions end, this one stays. */
  async changeOwnPassword(currentPassword: string, newPassword: string): Promise<void> {
    await this.send(`${PASSWORD}change_password`, { current_password: currentPassword, new_password: newPassword }, NullResult);
  }
}

function userFields(user: Pick<UserChanges, 'groupIds' | 'localOnly'>): Record<string, unknown> {
  return {
    ...(user.groupIds === undefined ? {} : { group_ids: [...user.groupIds] }),
    ...(user.localOnly === undefined ? {} : { local_only: user.localOnly }),
  };
}

/** Whether a user listed by `config/auth/list` is an administrator (member of `system-admin`). */
export function isAdminUser(user: Pick<UserInfo, 'group_ids'>): boolean {
  return user.group_ids.includes(GROUP_ID_ADMIN);
}

const USER_ERRORS: Readonly<Record<string, string>> = {
  unauthorized: 'Only administrators can manage users.',
  reauth_required: 'This change needs a recent sign-in: sign in again, then retry.',
  no_delete_self: 'You cannot delete your own account.',
  cannot_deactivate_owner: 'The owner cannot be deactivated or deleted.',
  cannot_demote_owner: 'The owner is always an administrator.',
  user_not_found: 'This user no longer exists: someone may have just deleted it. Reload the list.',
  credentials_not_found: 'This user has no password to sign in with.',
  auth_not_found: 'Nobody signs in with this username.',
  invalid_current_password: 'Your current password is not right.',
  username_already_exists: 'This username is already taken. Choose another one.',
  invalid_username: 'Choose a username that is not empty, not too long and has no control characters.',
  invalid_password: 'Choose a password that is not empty and not too long.',
  invalid_format: 'A value is too long or not allowed. Shorten it and try again.',
  unavailable: 'The server is busy. Try again in a moment.',
  unknown_error: 'Something went wrong on the server. Try again.',
};

/** A user-management error in words for a person, or undefined when it is not a CommandError with a known code. */
export function describeUserError(error: unknown): string | undefined {
  if (!(error instanceof CommandError)) return undefined;
  return Object.hasOwn(USER_ERRORS, error.code) ? USER_ERRORS[error.code] : undefined;
}
