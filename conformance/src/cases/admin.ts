/**
 * User management: the administrator's config/auth/list, every admin command refused to a user who is not one, and weak
 * passwords refused.
 */
import { ADMIN_COMMAND_TYPES, CurrentUser, UserList, UserResult } from '@flowgate/shared';
import type { CaseGroup } from '../builder.js';
import { NEEDS_ADMIN, NEEDS_LOGIN, type KitContext } from '../context.js';
import { decode, equal, errorOf, ok, quote } from '../expect.js';
import type { Account } from '../options.js';
import { SECTIONS } from '../sections.js';
import { unknownFlowId } from './login-flows.js';

/** Fields that make `type` match its codec, naming a user and a username no server has. */
function wellFormedFields(type: string): Record<string, unknown> {
  const userId = unknownFlowId();
  const username = `flowgate-conformance-${userId.slice(0, 8)}`;
  const action = type.slice(type.lastIndexOf('/') + 1);
  const fields: Record<string, Record<string, unknown>> = {
    list: {},
    create: type === 'config/auth/create' ? { name: username } : { user_id: userId, username, password: userId },
    update: { user_id: userId },
    delete: type.startsWith('config/auth_provider/') ? { username } : { user_id: userId },
    admin_change_password: { user_id: userId, password: userId },
    admin_change_username: { user_id: userId, username },
  };
  return fields[action] ?? {};
}

/** Passwords every server must refuse: the most common one, eight digits (common, though long enough), and a short one. */
const WEAK_PASSWORDS = ['password', '12345678', 'short'] as const;

export function adminCases(group: CaseGroup, context: KitContext): void {
  const admin: Account | undefined = context.options.admin;
  const user: Account | undefined = context.options.user;

  group.needs(admin === undefined ? NEEDS_ADMIN : undefined, 'lists the users with config/auth/list, the administrator among them with is_admin', SECTIONS.users, async () => {
    const { tokens } = await context.session(admin!);
    const socket = await context.authenticated(tokens.access_token);
    try {
      const me = decode(CurrentUser, await socket.result({ type: 'auth/current_user' }), 'the administrator\'s auth/current_user');
      equal(me.is_admin, true, 'is_admin of the --admin-username account');
      const users = decode(UserList, await socket.result({ type: 'config/auth/list' }), 'the config/auth/list result');
      const listed = users.find((u) => u.id === me.id);
      ok(listed !== undefined, `config/auth/list should list the administrator ${me.id}, got ${quote(users.map((u) => u.id))}`);
      equal(listed.is_admin, true, 'its is_admin');
      ok(listed.group_ids.includes('system-admin'), `its group_ids should include system-admin, got ${quote(listed.group_ids)}`);
    } finally {
      socket.close();
    }
  });

  group.needs(user === undefined ? NEEDS_LOGIN : undefined, 'answers unauthorized to every admin command from a user who is not an administrator', SECTIONS.users, async function () {
    const { tokens } = await context.session(user!);
    const socket = await context.authenticated(tokens.access_token);
    try {
      const me = decode(CurrentUser, await socket.result({ type: 'auth/current_user' }), 'auth/current_user');
      if (me.is_admin) {
        // The prerequisite is a user who is not an administrator: the --username account is one, so this case cannot run.
        if (this.test !== undefined) this.test.title += ' (skipped: the --username account is an administrator)';
        this.skip();
      }
      // Well-formed commands, as an attacker would send them; their targets do not exist, so a server that wrongly ran one
      // changes as little as possible.
      for (const type of ADMIN_COMMAND_TYPES) {
        errorOf(await socket.command({ type, ...wellFormedFields(type) }), 'unauthorized', `${type} from a user who is not an administrator`);
      }
    } finally {
      socket.close();
    }
  });

  group.needs(admin === undefined ? NEEDS_ADMIN : undefined, 'refuses a common or short password for a new password login with weak_password', SECTIONS.users, async () => {
    const { tokens } = await context.session(admin!);
    const socket = await context.authenticated(tokens.access_token);
    try {
      // A user of the kit's own, deleted afterwards: a server that wrongly took a weak password gave it to nobody who stays.
      const username = `flowgate-conformance-${unknownFlowId().slice(0, 8)}`;
      const created = decode(UserResult, await socket.result({ type: 'config/auth/create', name: username }), 'the config/auth/create result');
      try {
        for (const password of WEAK_PASSWORDS) {
          const reply = await socket.command({ type: 'config/auth_provider/password/create', user_id: created.user.id, username, password });
          const error = errorOf(reply, 'weak_password', `config/auth_provider/password/create with the password ${quote(password)}`);
          ok(error.message.length > 0, `the weak_password error should say why, got ${quote(error)}`);
        }
      } finally {
        await socket.command({ type: 'config/auth/delete', user_id: created.user.id });
      }
    } finally {
      socket.close();
    }
  });
}
