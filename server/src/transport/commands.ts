/** The command table: each command's codec, the phase it needs, and what it does. Dispatch is a typed lookup, never string magic. */
import type * as t from 'io-ts';
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
import type { AuthManager } from '../auth/manager.js';
import * as sessions from '../auth/session.js';
import { exchangeToken, revokeToken } from '../auth/token-endpoint.js';
import { ServiceError } from '../errors.js';

export interface CommandContext {
  readonly auth: AuthManager;
  readonly remoteAddress: string | null;
  /** Set on an authenticated socket. */
  readonly session: sessions.Session | null;
}

/** The session of an authenticated socket (the dispatcher only runs `authenticated` commands on one). */
function sessionOf(context: CommandContext): sessions.Session {
  if (context.session === null) throw new ServiceError('unauthorized', 'This command needs an authenticated socket: send auth first');
  return context.session;
}

export interface CommandSpec<C> {
  readonly codec: t.Type<C, unknown, unknown>;
  /** `any`: both phases; `authenticated`: only after `auth_ok`. */
  readonly phase: 'any' | 'authenticated';
  /** Counted against the socket's limit of flow starts per minute. */
  readonly startsFlow?: true;
  /** How the answer is framed: a `result` (almost every command) or a bare `pong`. */
  readonly reply?: 'result' | 'pong';
  run(command: C, context: CommandContext): Promise<unknown>;
}

const command = <C>(spec: CommandSpec<C>): CommandSpec<unknown> => spec as CommandSpec<unknown>;

export const COMMANDS: Readonly<Record<string, CommandSpec<unknown>>> = {
  ping: command({ codec: PingCommand, phase: 'any', reply: 'pong', run: async () => null }),
  supported_features: command({
    codec: SupportedFeaturesCommand,
    phase: 'any',
    // Accepted for Home Assistant's client library; this server never coalesces, which the protocol allows.
    run: async () => null,
  }),
  'auth/providers': command({
    codec: AuthProvidersCommand,
    phase: 'any',
    run: async (_command, { auth }) => auth.providers(),
  }),
  'login_flow/init': command({
    codec: LoginFlowInit,
    phase: 'any',
    startsFlow: true,
    run: async (c, { auth, remoteAddress }) =>
      auth.startLogin(c.handler, {
        clientId: c.client_id,
        redirectUri: c.redirect_uri ?? null,
        remoteAddress,
        deviceToken: c.device_token ?? null,
      }),
  }),
  'login_flow/step': command({
    codec: LoginFlowStep,
    phase: 'any',
    run: async (c, { auth }) => auth.loginStep(c.flow_id, c.client_id, c.user_input),
  }),
  'login_flow/get': command({
    codec: LoginFlowGet,
    phase: 'any',
    run: async (c, { auth }) => auth.loginGet(c.flow_id, c.client_id),
  }),
  'login_flow/abort': command({
    codec: LoginFlowAbort,
    phase: 'any',
    run: async (c, { auth }) => {
      await auth.loginAbort(c.flow_id, c.client_id);
      return null;
    },
  }),
  'auth/token': command({
    codec: AuthTokenCommand,
    phase: 'any',
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
    run: async (c, context) => sessions.deleteAllSessions(context.auth, sessionOf(context), c.delete_current_token ?? true, context.remoteAddress),
  }),
  'auth/setup_mfa': command({
    codec: SetupMfaCommand,
    phase: 'authenticated',
    run: async (c, context) => {
      const session = sessionOf(context);
      const user = await context.auth.store.getUser(session.userId);
      if (user === null) throw new ServiceError('unauthorized', 'This user no longer exists');
      return context.auth.mfa.setup({ userId: user.id, name: user.name, address: context.remoteAddress }, c);
    },
  }),
  'auth/depose_mfa': command({
    codec: DeposeMfaCommand,
    phase: 'authenticated',
    run: async (c, context) =>
      context.auth.mfa.depose({ userId: sessionOf(context).userId, address: context.remoteAddress }, c.mfa_module_id),
  }),
  'auth/long_lived_access_token': command({
    codec: LongLivedAccessTokenCommand,
    phase: 'authenticated',
    run: async (c, context) =>
      sessions.createLongLivedToken(context.auth, sessionOf(context), c.client_name, c.lifespan, context.remoteAddress),
  }),
};

export function findCommand(type: string): CommandSpec<unknown> | undefined {
  return Object.hasOwn(COMMANDS, type) ? COMMANDS[type] : undefined;
}
