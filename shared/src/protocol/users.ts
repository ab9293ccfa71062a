/** User management (Home Assistant's `config/auth/*` and the password provider's `config/auth_provider/*`): admin commands. */
import * as t from 'io-ts';
import { MAX_OPAQUE_ID_LENGTH, MAX_USER_INPUT_STRING_LENGTH } from './limits.js';
import { boundedString, nullable, PositiveInt } from './primitives.js';

/** Home Assistant's groups: members of `system-admin` are administrators; the owner always is one. */
export const GROUP_ID_ADMIN = 'system-admin';
export const GROUP_ID_USER = 'system-users';
export const GROUP_ID_READ_ONLY = 'system-read-only';
export const GroupId = t.keyof({ [GROUP_ID_ADMIN]: null, [GROUP_ID_USER]: null, [GROUP_ID_READ_ONLY]: null });
export type GroupId = t.TypeOf<typeof GroupId>;
export const GROUP_IDS: readonly GroupId[] = [GROUP_ID_ADMIN, GROUP_ID_USER, GROUP_ID_READ_ONLY];

/** A user belongs to at most every group once; more entries than groups can only be a client's mistake or an attack. */
const GroupIds = t.refinement(t.array(GroupId), (ids) => ids.length <= GROUP_IDS.length, 'at most one entry per group');

const UserId = boundedString(MAX_OPAQUE_ID_LENGTH);
/** Display names, usernames and passwords: the same bound as a login form's fields, so whatever is set can be typed in. */
const Text = boundedString(MAX_USER_INPUT_STRING_LENGTH);

export const ListUsersCommand = t.type({ id: PositiveInt, type: t.literal('config/auth/list') });
export type ListUsersCommand = t.TypeOf<typeof ListUsersCommand>;

export const CreateUserCommand = t.intersection([
  t.type({ id: PositiveInt, type: t.literal('config/auth/create'), name: Text }),
  t.partial({ group_ids: GroupIds, local_only: t.boolean }),
]);
export type CreateUserCommand = t.TypeOf<typeof CreateUserCommand>;

export const UpdateUserCommand = t.intersection([
  t.type({ id: PositiveInt, type: t.literal('config/auth/update'), user_id: UserId }),
  t.partial({ name: Text, is_active: t.boolean, group_ids: GroupIds, local_only: t.boolean }),
]);
export type UpdateUserCommand = t.TypeOf<typeof UpdateUserCommand>;

export const DeleteUserCommand = t.type({ id: PositiveInt, type: t.literal('config/auth/delete'), user_id: UserId });
export type DeleteUserCommand = t.TypeOf<typeof DeleteUserCommand>;

/**
 * The password provider's commands answer to two prefixes: Flowgate's provider type, and Home Assistant's name for the same
 * provider, so HA's own frontend code works unchanged.
 */
export const PASSWORD_COMMAND_PREFIXES = ['config/auth_provider/password/', 'config/auth_provider/homeassistant/'] as const;
const passwordCommand = <A extends string>(action: A) =>
  t.keyof({ [`${PASSWORD_COMMAND_PREFIXES[0]}${action}`]: null, [`${PASSWORD_COMMAND_PREFIXES[1]}${action}`]: null } as Record<
    `${(typeof PASSWORD_COMMAND_PREFIXES)[number]}${A}`,
    null
  >);

export const CreatePasswordCommand = t.type({
  id: PositiveInt,
  type: passwordCommand('create'),
  user_id: UserId,
  username: Text,
  password: Text,
});
export type CreatePasswordCommand = t.TypeOf<typeof CreatePasswordCommand>;

export const DeletePasswordCommand = t.type({ id: PositiveInt, type: passwordCommand('delete'), username: Text });
export type DeletePasswordCommand = t.TypeOf<typeof DeletePasswordCommand>;

/** The user's own password: needs the current one. Any user may send it. */
export const ChangePasswordCommand = t.type({
  id: PositiveInt,
  type: passwordCommand('change_password'),
  current_password: Text,
  new_password: Text,
});
export type ChangePasswordCommand = t.TypeOf<typeof ChangePasswordCommand>;

export const AdminChangePasswordCommand = t.type({
  id: PositiveInt,
  type: passwordCommand('admin_change_password'),
  user_id: UserId,
  password: Text,
});
export type AdminChangePasswordCommand = t.TypeOf<typeof AdminChangePasswordCommand>;

export const AdminChangeUsernameCommand = t.type({
  id: PositiveInt,
  type: passwordCommand('admin_change_username'),
  user_id: UserId,
  username: Text,
});
export type AdminChangeUsernameCommand = t.TypeOf<typeof AdminChangeUsernameCommand>;

/** One user as `config/auth/list`, `create` and `update` describe it (Home Assistant's `_user_info`, plus `is_admin`). */
export const UserInfo = t.type({
  id: t.string,
  /** The password login's username, or null for a user without one. */
  username: nullable(t.string),
  name: t.string,
  is_owner: t.boolean,
  is_admin: t.boolean,
  is_active: t.boolean,
  local_only: t.boolean,
  /** Always false: Flowgate has no system-generated users; kept because Home Assistant's frontend reads it. */
  system_generated: t.boolean,
  group_ids: t.array(t.string),
  credentials: t.array(t.type({ type: t.string })),
});
export type UserInfo = t.TypeOf<typeof UserInfo>;

export const UserList = t.array(UserInfo);
export type UserList = t.TypeOf<typeof UserList>;

/** `config/auth/create` and `config/auth/update` answer the user as it is now. */
export const UserResult = t.type({ user: UserInfo });
export type UserResult = t.TypeOf<typeof UserResult>;

/** Every user-management command type that needs an administrator (`change_password` is each user's own). */
export const ADMIN_COMMAND_TYPES = [
  'config/auth/list',
  'config/auth/create',
  'config/auth/update',
  'config/auth/delete',
  ...PASSWORD_COMMAND_PREFIXES.flatMap((prefix) =>
    ['create', 'delete', 'admin_change_password', 'admin_change_username'].map((action) => `${prefix}${action}`),
  ),
] as const;
