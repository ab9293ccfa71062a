/** The typed errors of @flowgate/client: branch on `kind` (or instanceof), never on message text. */
import type { ErrorCode } from '@flowgate/shared';

export type FlowgateErrorKind =
  | 'command'
  | 'unexpected_frame'
  | 'connection_lost'
  | 'connect_failed'
  | 'auth_invalid'
  | 'token_revoked'
  | 'flow_aborted'
  | 'reauthentication_failed'
  | 'client_closed';

export abstract class FlowgateError extends Error {
  abstract readonly kind: FlowgateErrorKind;
}

/** The server answered a command with `success: false`. */
export class CommandError extends FlowgateError {
  readonly kind = 'command';
  constructor(
    readonly command: string,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(`${command}: ${code}: ${message}`);
  }
}

/**
 * The server refused the attempt for now (`rate_limited`: too many failed logins from this address, for this account from
 * untrusted devices, or from this device). `retryAfterSeconds` is the wait the server named, when it named one.
 * `describeRateLimit(error)` says it in words.
 */
export class RateLimitedError extends CommandError {
  constructor(
    command: string,
    /** The server's own words (`message` also names the command and the code). */
    readonly serverMessage: string,
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(command, 'rate_limited', serverMessage);
  }
}

/** The CommandError for an error reply: a RateLimitedError for `rate_limited`. */
export function commandError(command: string, body: { code: ErrorCode; message: string; retry_after?: number }): CommandError {
  if (body.code !== 'rate_limited') return new CommandError(command, body.code, body.message);
  const wait = body.retry_after;
  return new RateLimitedError(command, body.message, wait !== undefined && Number.isFinite(wait) && wait >= 0 ? Math.ceil(wait) : undefined);
}

/** A frame that is not JSON, not a known server message, or a reply whose result does not match its command's codec. */
export class UnexpectedFrameError extends FlowgateError {
  readonly kind = 'unexpected_frame';
  constructor(
    readonly detail: string,
    readonly frame: unknown,
  ) {
    super(`Unexpected frame from the server: ${detail}`);
  }
}

/** The socket closed while a command waited for its reply; the command may or may not have run. */
export class ConnectionLostError extends FlowgateError {
  readonly kind = 'connection_lost';
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`The connection closed (${code}${reason === '' ? '' : ` ${reason}`})`);
  }
}

/** No server could be reached (the socket never opened or never said hello). */
export class ConnectFailedError extends FlowgateError {
  readonly kind = 'connect_failed';
  constructor(
    readonly url: string,
    detail: string,
  ) {
    super(`Cannot connect to ${url}: ${detail}`);
  }
}

/** The server refused the access token (`auth_invalid`); the client stops reconnecting. */
export class AuthInvalidError extends FlowgateError {
  readonly kind = 'auth_invalid';
}

/** The socket's refresh token was revoked (close 4001); the client stops reconnecting. Log in again. */
export class TokenRevokedError extends FlowgateError {
  readonly kind = 'token_revoked';
  constructor() {
    super('The session was revoked (close 4001 token_revoked): log in again');
  }
}

/**
 * A login flow (or an MFA setup flow, `flow: 'mfa_setup'`) ended with `abort`; `reason` is the server's reason key
 * (`unknown_error`, `too_many_retry` after too many wrong codes, `login_expired` when the code came too late, ...).
 * `describeAbortReason(reason, flow)` says it in words.
 */
export class FlowAbortedError extends FlowgateError {
  readonly kind = 'flow_aborted';
  constructor(
    readonly reason: string,
    readonly flow: 'login' | 'mfa_setup' = 'login',
  ) {
    super(`The ${flow === 'login' ? 'login' : 'two-factor setup'} was aborted: ${reason}`);
  }
}

/**
 * A privileged command answered `reauth_required` and the re-authentication run for it failed, so the command was not sent
 * again (nothing changed). `cause` says why: CommandError `access_denied` when the login proved another account, what the
 * form callback rejected with (a person who cancelled), a FlowAbortedError, a RateLimitedError...
 */
export class ReauthenticationFailedError extends FlowgateError {
  readonly kind = 'reauthentication_failed';
  constructor(
    readonly command: string,
    override readonly cause: unknown,
  ) {
    super(`${command} needs a recent login, and logging in again failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** The client was closed, or stopped for good (see the `stopped` event), before the call could run. */
export class ClientClosedError extends FlowgateError {
  readonly kind = 'client_closed';
  constructor(override readonly cause?: FlowgateError) {
    super(cause === undefined ? 'The client is closed' : `The client stopped: ${cause.message}`);
  }
}

export function isCommandError(error: unknown, code?: ErrorCode): error is CommandError {
  return error instanceof CommandError && (code === undefined || error.code === code);
}
