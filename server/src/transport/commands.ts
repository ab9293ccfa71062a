/** The command table: each command's codec, the phase it needs, and what it does. Dispatch is a typed lookup, never string magic. */
import {
  AuthProvidersCommand,
  AuthRevokeCommand,
  AuthTokenCommand,
  CurrentUserCommand,
  DeleteAllRefreshTokensCommand,
  DeleteRefreshTokenCommand,
  LongLivedAccessTokenCommand,
  RefreshTokensCommand,
  LoginFlowAbort,
  LoginFlowGet,
  LoginFlowInit,
  LoginFlowStep,
  PingCommand,
  DeposeMfaCommand,
  SetupMfaCommand,
  SupportedFeaturesCommand,
} from '@flowgate/shared';
import * as sessions from '../auth/session.js';
import { exchangeToken, revokeToken } from '../auth/token-endpoint.js';
import { ServiceError } from '../errors.js';
import { command, sessionOf, type CommandSpec } from './command-spec.js';
import { USER_COMMANDS } from './user-commands.js';

import type { CommandContext } from './command-spec.js';

export type { CommandContext, CommandSpec } from './command-spec.js';

/** The session a `"reauthenticate": true` login renews: only an authenticated socket has one to renew. */
function reauthenticationOf(session: CommandContext['session']): { refreshTokenId: string; userId: string } {
  if (session === null) {
    throw new ServiceError('invalid_request', '"reauthenticate": true confirms the user of an authenticated socket: send auth first, or leave it out to log in');
  }
  return { refreshTokenId: session.refreshTokenId, userId: session.userId };
}

export const COMMANDS: Readonly<Record<string, CommandSpec<unknown>>> = {
  ping: command({ codec: PingCommand, phase: 'any', reply: 'pong', run: async () => null }),
  supported_features: command({
    codec: SupportedFeaturesCommand,
    phase: 'any',
    // Home Assistant's client library offers coalesce_messages right after auth_ok; the connection then coalesces (connection.ts).
    run: async () => null,
  }),
  'auth/providers': command({
    codec: AuthProvidersCommand,
    phase: 'any',
    login: true,
    run: async (_command, { auth, remoteAddress }) => auth.providers(remoteAddress),
  }),
  'login_flow/init': command({
    codec: LoginFlowInit,
    phase: 'any',
    login: true,
    startsFlow: true,
    run: async (c, { auth, remoteAddress, session }) =>
      auth.startLogin(c.handler, {
        clientId: c.client_id,
        redirectUri: c.redirect_uri ?? null,
        remoteAddress,
        deviceToken: c.device_token ?? null,
        ...(c.reauthenticate === true ? { reauthenticate: reauthenticationOf(session) } : {}),
      }),
  }),
  'login_flow/step': command({
    codec: LoginFlowStep,
    phase: 'any',
    login: true,
    run: async (c, { auth }) => auth.loginStep(c.flow_id, c.client_id, c.user_input),
  }),
  'login_flow/get': command({
    codec: LoginFlowGet,
    phase: 'any',
    login: true,
    run: async (c, { auth }) => auth.loginGet(c.flow_id, c.client_id),
  }),
  'login_flow/abort': command({
    codec: LoginFlowAbort,
    phase: 'any',
    login: true,
    run: async (c, { auth }) => {
      await auth.loginAbort(c.flow_id, c.client_id);
      return null;
    },
  }),
  'auth/token': command({
    codec: AuthTokenCommand,
    phase: 'any',
    login: true,
    run: async (c, { auth, remoteAddress }) => exchangeToken(auth, c, remoteAddress),
  }),
  'auth/revoke': command({
    codec: AuthRevokeCommand,
    phase: 'any',
    run: async (c, { auth, remoteAddress }) => revokeToken(auth, c.token, remoteAddress),
  }),
  'auth/current_user': command({
    codec: CurrentUserCommand,
    phase: 'authenticated',
    run: async (_c, context) => sessions.currentUser(context.auth, sessionOf(context)),
  }),
  'auth/refresh_tokens': command({
    codec: RefreshTokensCommand,
    phase: 'authenticated',
    run: async (_c, context) => sessions.listSessions(context.auth, sessionOf(context)),
  }),
  'auth/delete_refresh_token': command({
    codec: DeleteRefreshTokenCommand,
    phase: 'authenticated',
    run: async (c, context) => sessions.deleteSession(context.auth, sessionOf(context), c.refresh_token_id, context.remoteAddress),
  }),
  'auth/delete_all_refresh_tokens': command({
    codec: DeleteAllRefreshTokensCommand,
    phase: 'authenticated',
    privileged: true,
    run: async (c, context) =>
      sessions.deleteAllSessions(
        context.auth,
        sessionOf(context),
        { deleteCurrent: c.delete_current_token ?? true, tokenType: c.token_type ?? null },
        context.remoteAddress,
      ),
  }),
  'auth/setup_mfa': command({
    codec: SetupMfaCommand,
    phase: 'authenticated',
    privileged: true,
    run: async (c, context) => {
      const user = context.user;
      if (user === null) throw new ServiceError('unauthorized', 'This user no longer exists');
      return context.auth.mfa.setup({ userId: user.id, name: user.name, address: context.remoteAddress }, c);
    },
  }),
  'auth/depose_mfa': command({
    codec: DeposeMfaCommand,
    phase: 'authenticated',
    privileged: true,
    run: async (c, context) =>
      context.auth.mfa.depose({ userId: sessionOf(context).userId, address: context.remoteAddress }, c.mfa_module_id),
  }),
  'auth/long_lived_access_token': command({
    codec: LongLivedAccessTokenCommand,
    phase: 'authenticated',
    privileged: true,
    run: async (c, context) =>
      sessions.createLongLivedToken(context.auth, sessionOf(context), c.client_name, c.lifespan, context.remoteAddress),
  }),
  ...USER_COMMANDS,
};

export function findCommand(type: string): CommandSpec<unknown> | undefined {
  return Object.hasOwn(COMMANDS, type) ? COMMANDS[type] : undefined;
}
