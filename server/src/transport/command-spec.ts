/** What a command table entry is: its codec, the phase (and role) it needs, and what it does with the socket's context. */
import type * as t from 'io-ts';
import type { AuthManager } from '../auth/manager.js';
import type { Session } from '../auth/session.js';
import { ServiceError } from '../errors.js';
import type { User } from '../store/types.js';

export interface CommandContext {
  readonly auth: AuthManager;
  readonly remoteAddress: string | null;
  /** Set on an authenticated socket. */
  readonly session: Session | null;
  /** The session's user as the store has it now (read before each authenticated command); null in phase 1. */
  readonly user: User | null;
}

/** The session of an authenticated socket (the dispatcher only runs `authenticated` commands on one). */
export function sessionOf(context: CommandContext): Session {
  if (context.session === null) throw new ServiceError('unauthorized', 'This command needs an authenticated socket: send auth first');
  return context.session;
}

export interface CommandSpec<C> {
  readonly codec: t.Type<C, unknown, unknown>;
  /** `any`: both phases; `authenticated`: only after `auth_ok`; `admin`: only after `auth_ok`, by an administrator. */
  readonly phase: 'any' | 'authenticated' | 'admin';
  /** Counted against the socket's limit of flow starts per minute. */
  readonly startsFlow?: true;
  /**
   * A login command (runs a login flow or exchanges a code): refused with `origin_not_allowed` on a socket opened by a page of
   * a foreign origin, since that page would log in with its visitor's network position (cross-site WebSocket hijacking).
   */
  readonly login?: true;
  /** Changes credentials, factors or other users: needs a session whose login is recent (step-up), else `reauth_required`. */
  readonly privileged?: true;
  /** How the answer is framed: a `result` (almost every command) or a bare `pong`. */
  readonly reply?: 'result' | 'pong';
  run(command: C, context: CommandContext): Promise<unknown>;
}

export const command = <C>(spec: CommandSpec<C>): CommandSpec<unknown> => spec as CommandSpec<unknown>;
