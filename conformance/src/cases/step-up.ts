/**
 * Step-up: a privileged command on a session without a recent login answers `reauth_required`, and `"reauthenticate": true`
 * on the socket renews that login for the same user only. A long-lived token's session has no login of its own, so it shows
 * both without waiting out the server's window.
 */
import { CreateEntryResult, CurrentUser, FormResult, LongLivedAccessToken } from '@flowgate/shared';
import type { CaseGroup } from '../builder.js';
import type { KitSocket } from '../client.js';
import { CLIENT_ID, KitContext, NEEDS_ADMIN, NEEDS_LOGIN, unique } from '../context.js';
import { decode, equal, errorOf } from '../expect.js';
import type { Account } from '../options.js';
import { SECTIONS } from '../sections.js';

export function stepUpCases(group: CaseGroup, context: KitContext): void {
  const { user, admin } = context.options;
  const missingLogin = user === undefined ? NEEDS_LOGIN : undefined;
  /** Long-lived tokens this group made: deleted at the end, as the authenticated phase's are. */
  const longLived = new Set<string>();

  group.after(async () => {
    if (user === undefined || longLived.size === 0) return;
    const { tokens } = await context.session(user);
    await context.deleteLongLived(tokens.access_token, longLived).catch(() => undefined);
  });

  /** A socket authenticated with a new long-lived token of the --username account: a session that never logged in. */
  async function withLongLivedSession(body: (socket: KitSocket) => Promise<void>): Promise<void> {
    const { tokens } = await context.session(user!);
    const owner = await context.authenticated(tokens.access_token);
    let token: string;
    try {
      const name = unique('flowgate-conformance-step-up');
      longLived.add(name);
      token = decode(LongLivedAccessToken, await owner.result({ type: 'auth/long_lived_access_token', client_name: name, lifespan: 1 }), 'the long-lived token');
    } finally {
      owner.close();
    }
    const socket = await context.authenticated(token);
    try {
      await body(socket);
    } finally {
      socket.close();
    }
  }

  /** A long-lived token asked for on `socket`: a privileged command (its name is kept for the clean-up). */
  const askLongLived = (socket: KitSocket) => {
    const name = unique('flowgate-conformance-step-up');
    longLived.add(name);
    return socket.command({ type: 'auth/long_lived_access_token', client_name: name, lifespan: 1 });
  };

  /** `login_flow/init` with `"reauthenticate": true` on `socket`: the password step, answered with `account`, to send. */
  async function reauthentication(socket: KitSocket, account: Account): Promise<Record<string, unknown>> {
    const handler = await context.handler(socket);
    const started = await socket.result({ type: 'login_flow/init', handler, client_id: CLIENT_ID, reauthenticate: true });
    const form = decode(FormResult, started, 'the first step of a re-authentication');
    return { type: 'login_flow/step', flow_id: form.flow_id, client_id: CLIENT_ID, user_input: KitContext.answer(form, account) };
  }

  group.it('refuses "reauthenticate": true on a socket that has not authenticated, with invalid_request', SECTIONS.stepUp, () =>
    context.withSocket(async (socket) => {
      const handler = await context.handler(socket);
      const reply = await socket.command({ type: 'login_flow/init', handler, client_id: CLIENT_ID, reauthenticate: true });
      errorOf(reply, 'invalid_request', 'a re-authentication in phase 1');
    }),
  );

  group.needs(missingLogin, 'answers reauth_required on a session without a login, until "reauthenticate": true confirms its user (create_entry, no code)', SECTIONS.stepUp, () =>
    withLongLivedSession(async (socket) => {
      errorOf(await askLongLived(socket), 'reauth_required', 'auth/long_lived_access_token on a long-lived token\'s session');
      const done = decode(CreateEntryResult, await socket.result(await reauthentication(socket, user!)), 'the end of the re-authentication');
      equal(done.result, '', 'the create_entry result of a re-authentication (no code)');
      const name = unique('flowgate-conformance-step-up');
      longLived.add(name);
      const token = await socket.result({ type: 'auth/long_lived_access_token', client_name: name, lifespan: 1 });
      decode(LongLivedAccessToken, token, 'auth/long_lived_access_token after the re-authentication');
      decode(CurrentUser, await socket.result({ type: 'auth/current_user' }), 'auth/current_user on the same socket');
    }),
  );

  group.needs(missingLogin ?? (admin === undefined ? NEEDS_ADMIN : undefined), 'renews nothing when the re-authentication proves another user, with access_denied', SECTIONS.stepUp, () =>
    withLongLivedSession(async (socket) => {
      errorOf(await socket.command(await reauthentication(socket, admin!)), 'access_denied', 'a re-authentication with the --admin-username account');
      errorOf(await askLongLived(socket), 'reauth_required', 'auth/long_lived_access_token after it');
    }),
  );
}
