/**
 * The user-management commands (Home Assistant's names): every one but `change_password` needs an administrator, and every one
 * that changes users or their logins a recent login too (step-up). `change_password` asks for the current password itself.
 */
import {
  AdminChangePasswordCommand,
  AdminChangeUsernameCommand,
  ChangePasswordCommand,
  CreatePasswordCommand,
  CreateUserCommand,
  DeletePasswordCommand,
  DeleteUserCommand,
  ListUsersCommand,
  PASSWORD_COMMAND_PREFIXES,
  UpdateUserCommand,
} from '@flowgate/shared';
import type { Actor } from '../auth/user-admin.js';
import type { UserPatch } from '../store/types.js';
import { command, sessionOf, type CommandContext, type CommandSpec } from './command-spec.js';

const actorOf = (context: CommandContext, via: string): Actor => ({
  userId: sessionOf(context).userId,
  address: context.remoteAddress,
  via,
});

/** HA's user-management commands answer `null` once done. */
const answeringNull = async (work: Promise<void>): Promise<null> => {
  await work;
  return null;
};

/** Only the fields the command carries: an absent field leaves the user's as it is. */
function patchOf(c: UpdateUserCommand): UserPatch {
  return {
    ...(c.name === undefined ? {} : { name: c.name }),
    ...(c.is_active === undefined ? {} : { isActive: c.is_active }),
    ...(c.group_ids === undefined ? {} : { groupIds: c.group_ids }),
    ...(c.local_only === undefined ? {} : { localOnly: c.local_only }),
  };
}

const CONFIG_AUTH: Readonly<Record<string, CommandSpec<unknown>>> = {
  'config/auth/list': command({ codec: ListUsersCommand, phase: 'admin', run: async (_c, { auth }) => auth.users.list() }),
  'config/auth/create': command({
    codec: CreateUserCommand,
    phase: 'admin',
    privileged: true,
    run: async (c, context) => ({
      user: await context.auth.users.create({ name: c.name, groupIds: c.group_ids, localOnly: c.local_only }, actorOf(context, c.type)),
    }),
  }),
  'config/auth/update': command({
    codec: UpdateUserCommand,
    phase: 'admin',
    privileged: true,
    run: async (c, context) => ({ user: await context.auth.users.update(c.user_id, patchOf(c), actorOf(context, c.type)) }),
  }),
  'config/auth/delete': command({
    codec: DeleteUserCommand,
    phase: 'admin',
    privileged: true,
    run: (c, context) => answeringNull(context.auth.users.delete(c.user_id, actorOf(context, c.type))),
  }),
};

/** The password provider's commands by action; each answers to both prefixes (Flowgate's `password`, HA's `homeassistant`). */
const PASSWORD_ACTIONS: Readonly<Record<string, CommandSpec<unknown>>> = {
  create: command({
    codec: CreatePasswordCommand,
    phase: 'admin',
    privileged: true,
    run: (c, context) => answeringNull(context.auth.users.addPasswordLogin(c.user_id, c.username, c.password, actorOf(context, c.type))),
  }),
  delete: command({
    codec: DeletePasswordCommand,
    phase: 'admin',
    privileged: true,
    run: (c, context) => answeringNull(context.auth.users.removePasswordLogin(c.username, actorOf(context, c.type))),
  }),
  admin_change_password: command({
    codec: AdminChangePasswordCommand,
    phase: 'admin',
    privileged: true,
    run: (c, context) => answeringNull(context.auth.users.setPasswordOf(c.user_id, c.password, actorOf(context, c.type))),
  }),
  admin_change_username: command({
    codec: AdminChangeUsernameCommand,
    phase: 'admin',
    privileged: true,
    run: (c, context) => answeringNull(context.auth.users.changeUsernameOf(c.user_id, c.username, actorOf(context, c.type))),
  }),
  change_password: command({
    codec: ChangePasswordCommand,
    phase: 'authenticated',
    run: async (c, context) => {
      const actor = actorOf(context, c.type);
      const session = sessionOf(context);
      // The session asking keeps its socket; every other one of the user ends.
      await context.auth.users.changeOwnPassword(session.userId, c.current_password, c.new_password, actor, session.refreshTokenId);
      return null;
    },
  }),
};

export const USER_COMMANDS: Readonly<Record<string, CommandSpec<unknown>>> = {
  ...CONFIG_AUTH,
  ...Object.fromEntries(
    PASSWORD_COMMAND_PREFIXES.flatMap((prefix) => Object.entries(PASSWORD_ACTIONS).map(([action, spec]) => [`${prefix}${action}`, spec])),
  ),
};
