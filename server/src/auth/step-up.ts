/**
 * Step-up (Kratos's privileged sessions): a privileged command needs a session whose login is recent, and a re-authentication
 * on the session's own socket renews that login time (for the same user only) without a new session.
 */
import { ServiceError } from '../errors.js';
import type { Audit } from '../observability/audit.js';
import type { RefreshToken } from '../store/types.js';
import type { TokenService } from '../tokens/refresh-tokens.js';
import type { Reauthentication } from './login-context.js';

export interface StepUpDependencies {
  readonly tokens: TokenService;
  readonly audit: Audit;
  /** How old a session's login may be for a privileged command (`privileged_session_seconds`). */
  readonly privilegedSessionMs: number;
}

/** "15 minutes", "2 seconds": the window as the refusal says it. */
export function describeWindow(ms: number): string {
  const [amount, unit] = ms >= 120_000 ? [Math.round(ms / 60_000), 'minute'] : [Math.max(1, Math.round(ms / 1000)), 'second'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

/**
 * Refuses `command` with `reauth_required` unless the session's login (the code exchange that made its refresh token, or a
 * re-authentication since; refreshes do not count) is at most the window old. A long-lived token's session has no login time
 * until it re-authenticates.
 */
export function assertRecentLogin(deps: StepUpDependencies, refreshToken: RefreshToken, command: string): void {
  if (deps.tokens.loginIsRecent(refreshToken, deps.privilegedSessionMs)) return;
  throw new ServiceError(
    'reauth_required',
    `${command.slice(0, 64)} needs a login less than ${describeWindow(deps.privilegedSessionMs)} old, to confirm it is you: ` +
      'log in again on this connection (login_flow/init with "reauthenticate": true), then send the command again',
  );
}

/**
 * The end of a re-authentication flow: renews the session's login time when the login proved the session's own user, and
 * issues no code (the socket keeps its session: `result` is ""). Another user's login renews nothing: `access_denied`.
 */
export async function finishReauthentication(
  deps: StepUpDependencies,
  reauthentication: Reauthentication,
  provenUserId: string | null,
  address: string | null,
): Promise<{ kind: 'create_entry'; result: string }> {
  const fields = { user_id: reauthentication.userId, address, refresh_token_id: reauthentication.refreshTokenId };
  if (provenUserId !== reauthentication.userId) {
    deps.audit('reauthentication_refused', { ...fields, proven_user_id: provenUserId });
    throw new ServiceError(
      'access_denied',
      'This login was to confirm the account signed in on this connection, but it proved another account: log in as the signed-in account to confirm it is you',
    );
  }
  if (!(await deps.tokens.recordLogin(reauthentication.refreshTokenId))) {
    throw new ServiceError('unauthorized', 'The session this login was to confirm was signed out meanwhile: log in again');
  }
  deps.audit('reauthenticated', fields);
  return { kind: 'create_entry', result: '' };
}
