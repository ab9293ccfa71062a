/** The command table: each command's codec, the phase it needs, and what it does. Dispatch is a typed lookup, never string magic. */
import type * as t from 'io-ts';
import {
  AuthProvidersCommand,
  LoginFlowAbort,
  LoginFlowGet,
  LoginFlowInit,
  LoginFlowStep,
  PingCommand,
  SupportedFeaturesCommand,
} from '@flowgate/shared';
import type { AuthManager } from '../auth/manager.js';

export interface CommandContext {
  readonly auth: AuthManager;
  readonly remoteAddress: string | null;
}

export interface CommandSpec<C> {
  readonly codec: t.Type<C, unknown, unknown>;
  /** `any`: both phases; `authenticated`: only after `auth_ok`. */
  readonly phase: 'any' | 'authenticated';
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
    run: async (c, { auth, remoteAddress }) =>
      auth.loginFlows.init(c.handler, { clientId: c.client_id, redirectUri: c.redirect_uri ?? null, remoteAddress }),
  }),
  'login_flow/step': command({
    codec: LoginFlowStep,
    phase: 'any',
    run: async (c, { auth }) => auth.loginFlows.step(c.flow_id, c.client_id, c.user_input),
  }),
  'login_flow/get': command({
    codec: LoginFlowGet,
    phase: 'any',
    run: async (c, { auth }) => auth.loginFlows.get(c.flow_id, c.client_id),
  }),
  'login_flow/abort': command({
    codec: LoginFlowAbort,
    phase: 'any',
    run: async (c, { auth }) => {
      await auth.loginFlows.abort(c.flow_id, c.client_id);
      return null;
    },
  }),
};

export function findCommand(type: string): CommandSpec<unknown> | undefined {
  return Object.hasOwn(COMMANDS, type) ? COMMANDS[type] : undefined;
}
