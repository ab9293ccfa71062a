/** The closed set of error codes a `result` error may carry. */
import * as t from 'io-ts';

export const ErrorCode = t.keyof({
  invalid_format: null,
  unknown_command: null,
  id_reuse: null,
  not_found: null,
  unauthorized: null,
  not_allowed: null,
  invalid_request: null,
  invalid_grant: null,
  unsupported_grant_type: null,
  access_denied: null,
  rate_limited: null,
  /** `auth/setup_mfa` or `auth/depose_mfa` named a module that is not configured. */
  no_module: null,
  /** `auth/depose_mfa` could not turn the module off (the store failed). */
  disable_failed: null,
  /** User management (Home Assistant's names): */
  /** `config/auth/delete` named the administrator's own account. */
  no_delete_self: null,
  /** `config/auth/update` tried to deactivate the owner, or `config/auth/delete` to delete it. */
  cannot_deactivate_owner: null,
  /** `config/auth/update` tried to take the owner out of `system-admin`. */
  cannot_demote_owner: null,
  /** A password command named a user that does not exist. */
  user_not_found: null,
  /** The user has no password login (`config/auth_provider/password/*`). */
  credentials_not_found: null,
  /** `config/auth_provider/password/delete` named a username nobody logs in with. */
  auth_not_found: null,
  /** `change_password`: the current password given is wrong. */
  invalid_current_password: null,
  /** The username is taken (usernames are compared case-folded). */
  username_already_exists: null,
  /** The username is empty, too long or holds control characters. */
  invalid_username: null,
  /** The password is empty or too long. */
  invalid_password: null,
  /** A login command (`auth/providers`, `login_flow/*`, `auth/token`) from a page whose origin is neither the server's own nor in `http.cors_allowed_origins`. */
  origin_not_allowed: null,
  /** A privileged command on a session whose login is older than `privileged_session_seconds`: log in again (`"reauthenticate": true`). */
  reauth_required: null,
  /** A new password that is too short or too common. */
  weak_password: null,
  conflict: null,
  unavailable: null,
  unknown_error: null,
});
export type ErrorCode = t.TypeOf<typeof ErrorCode>;

/** Close codes the server uses, with their meaning. */
export const CloseCode = {
  /** Normal closure (after `auth_invalid`, or a client's own close). */
  normal: 1000,
  /** The client sent a binary frame; the protocol is text only. */
  unsupportedData: 1003,
  /** A text frame that is not valid UTF-8 (sent by the WebSocket layer itself, RFC 6455 section 8.1). */
  invalidPayload: 1007,
  /** Policy violation: too much garbage, too many pending commands. */
  policyViolation: 1008,
  /** A frame larger than the frame limit. */
  messageTooBig: 1009,
  /** The server is restarting: reconnect (to another instance). */
  serviceRestart: 1012,
  /** The store could not be reached while checking an `auth` token: the token may be fine; retry shortly. */
  tryAgainLater: 1013,
  /** A phase-1 socket stayed idle longer than the idle timeout. */
  idle: 4000,
  /** The refresh token behind this socket was deleted or revoked. */
  tokenRevoked: 4001,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
