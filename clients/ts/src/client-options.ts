/** The options, events and states of FlowgateClient: what its users configure and listen to. */
import type { AuthRequired } from '@flowgate/shared';
import type { WebSocketConstructor } from './connection.js';
import type { DeviceTokenStore } from './device-tokens.js';
import type { AuthInvalidError, CommandError, FlowgateError, TokenRevokedError, UnexpectedFrameError } from './errors.js';
import type { ReauthenticationOptions } from './login.js';

/** Tokens as the client keeps them: `expires_at` is when the access token runs out, in ms since the epoch (local clock). */
export interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly expires_at: number;
}

/** Where to connect: one URL, several (tried in turn), or a function asked before each attempt. */
export type UrlSource = string | readonly string[] | ((attempt: number) => string | Promise<string>);

export interface BackoffOptions {
  /** Delay before the first retry (ms). */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Give up (event `stopped`, reason `gave_up`) after this many failed attempts in a row; default: never. */
  readonly maxAttempts?: number;
  /**
   * After the server closed the socket because it is restarting or busy (close codes 1012 "service restart" and 1013 "try
   * again later"), the first reconnect waits a random delay between 0 and this (ms; default 5,000) instead of
   * `initialDelayMs`: every client of a stopped instance hears of it at the same moment, and spread this way they reach the
   * next instance over seconds instead of all within a few milliseconds.
   */
  readonly restartSpreadMs?: number;
}

export interface ClientOptions {
  readonly url: UrlSource;
  /** The OAuth-style client id flows and tokens are bound to (a URL, e.g. the dashboard's origin). */
  readonly clientId: string;
  /** The WebSocket class: the browser's global by default; `@flowgate/client/node` injects `ws`. */
  readonly WebSocket?: WebSocketConstructor;
  readonly reconnect?: BackoffOptions | false;
  /** Refresh the access token this long before it expires (default 60 s, or half its lifetime when shorter). */
  readonly refreshMarginMs?: number;
  /** How long one connection attempt may take to reach the hello (default 10 s). */
  readonly connectTimeoutMs?: number;
  /**
   * Where the device token of each login is kept, to be presented by later logins (default: in memory, for the client's
   * life); `false` neither presents nor keeps one.
   */
  readonly deviceTokens?: DeviceTokenStore | false;
  /**
   * The server's name in `deviceTokens` (default: `url` when it is one URL, the first of a list, since instances of one
   * deployment share their store; with a function, the URL of the connection the login runs on).
   */
  readonly deviceTokenKey?: string;
  /**
   * How a privileged command refused with `reauth_required` logs in again before it is sent once more (see `reauthenticate`):
   * default the provider and form callback of the client's last `login` (so the person is asked for the password again, and
   * the second factor when they have one); `false` never does, and the CommandError `reauth_required` reaches the caller.
   */
  readonly reauthentication?: ReauthenticationOptions | false;
}

export type StopReason =
  | { readonly kind: 'closed' }
  | { readonly kind: 'revoked'; readonly error: TokenRevokedError }
  | { readonly kind: 'auth_invalid'; readonly error: AuthInvalidError }
  | { readonly kind: 'refresh_refused'; readonly error: CommandError }
  | { readonly kind: 'gave_up'; readonly error: FlowgateError | Error };

export interface ClientEvents {
  connected: { readonly url: string; readonly instance: string; readonly hello: AuthRequired };
  disconnected: { readonly code: number; readonly reason: string };
  reconnecting: { readonly attempt: number; readonly delayMs: number; readonly error?: Error };
  authenticated: { readonly instance: string };
  tokens: Tokens;
  /** A login flow was resumed with `login_flow/get` after a reconnect. */
  flow_resumed: { readonly flowId: string; readonly instance: string };
  /** A frame the client could not match or decode (the client carries on). */
  unexpected_frame: UnexpectedFrameError;
  /** The client stopped for good: it will not reconnect, and every call rejects. */
  stopped: StopReason;
}

export type ClientState = 'idle' | 'connecting' | 'open' | 'stopped';
