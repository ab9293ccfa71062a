/** FlowgateClient: a socket that reconnects (to any instance), re-authenticates, refreshes its token and types every command. */
import * as t from 'io-ts';
import {
  CurrentUser,
  DeposeMfaResult,
  EmptyResult,
  FlowResult,
  FormResult,
  LongLivedAccessToken,
  MenuResult,
  NullResult,
  ProviderList,
  RefreshTokenList,
  TokenResponse,
  type HandlerKey,
} from '@flowgate/shared';
import { Connection, type WebSocketConstructor } from './connection.js';
import { Emitter } from './emitter.js';
import {
  AuthInvalidError,
  ClientClosedError,
  CommandError,
  TokenRevokedError,
  type FlowgateError,
} from './errors.js';
import { deviceTokenKey, DeviceTokens } from './device-tokens.js';
import { runLogin, runLoginToCode, type LoginCode, type LoginOptions, type LoginResult, type ReauthenticationOptions } from './login.js';
import { MfaSetupResult, runMfaSetup, type MfaSetupOptions } from './mfa.js';
import { StepUp } from './step-up.js';
import { UserAdmin } from './users.js';
import type { ClientEvents, ClientOptions, ClientState, StopReason, Tokens } from './client-options.js';

export type { BackoffOptions, ClientEvents, ClientOptions, ClientState, StopReason, Tokens, UrlSource } from './client-options.js';

const DEFAULT_BACKOFF = { initialDelayMs: 200, maxDelayMs: 5_000, maxAttempts: Number.POSITIVE_INFINITY, restartSpreadMs: 5_000 };
/**
 * Close codes of a server that goes away or is overloaded, not of this client's connection failing: all of its clients hear
 * them at once, so their reconnects are spread (`restartSpreadMs`). 1012 "service restart" is what a draining Flowgate sends.
 */
const RESTART_CLOSE_CODES: ReadonlySet<number> = new Set([1012, 1013]);

/** How long to wait before the next attempt: spread over `restartSpreadMs` after a restart, else exponential with ±25% jitter. */
export function reconnectDelayMs(backoff: typeof DEFAULT_BACKOFF, failures: number, closeCode: number | undefined, random = Math.random): number {
  if (failures === 0 && closeCode !== undefined && RESTART_CLOSE_CODES.has(closeCode)) return random() * backoff.restartSpreadMs;
  return Math.min(backoff.maxDelayMs, backoff.initialDelayMs * 2 ** Math.max(0, failures - 1)) * (0.75 + random() / 2);
}
const DEFAULT_REFRESH_MARGIN_MS = 60_000;
/** A refresh that failed for a passing reason (connection lost) is retried this much later. */
const REFRESH_RETRY_MS = 5_000;

export class FlowgateClient {
  readonly events = new Emitter<ClientEvents>();
  /** User management for administrators (`config/auth/*`, the password provider's commands), on this client's socket. */
  readonly users = new UserAdmin((type, fields, codec) => this.call(type, fields, codec));
  readonly clientId: string;
  private readonly WebSocketImpl: WebSocketConstructor;
  private connection: Connection | undefined;
  private ready: { promise: Promise<Connection>; resolve: (c: Connection) => void; reject: (e: Error) => void };
  private currentTokens: Tokens | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private wake: (() => void) | undefined;
  private stopReason: StopReason | undefined;
  private running = false;
  private urlCursor = 0;
  private lastInstance: string | undefined;
  private lastUrl: string | undefined;
  private readonly deviceTokens: DeviceTokens;
  /** Privileged commands refused with `reauth_required`: logged in again, then sent once more (step-up.ts). */
  private readonly stepUp: StepUp;
  /** Incremented on every new connection, so a login can tell that its form came from an earlier socket. */
  epoch = 0;

  constructor(private readonly options: ClientOptions) {
    this.clientId = options.clientId;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket;
    if (impl === undefined) throw new TypeError('No WebSocket class: pass options.WebSocket, or import @flowgate/client/node');
    this.WebSocketImpl = impl as WebSocketConstructor;
    const key = deviceTokenKey(options.url, options.deviceTokenKey);
    this.deviceTokens = new DeviceTokens(options.deviceTokens, () => key ?? this.lastUrl);
    this.stepUp = new StepUp(this, options.reauthentication);
    this.ready = deferred();
  }

  on<K extends keyof ClientEvents>(event: K, listener: (payload: ClientEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  get state(): ClientState {
    if (this.stopReason !== undefined) return 'stopped';
    if (this.connection?.isOpen === true) return 'open';
    return this.running ? 'connecting' : 'idle';
  }

  /** The instance named in the current connection's hello. */
  get instance(): string | undefined {
    return this.lastInstance;
  }

  get tokens(): Tokens | undefined {
    return this.currentTokens;
  }

  get stopped(): StopReason | undefined {
    return this.stopReason;
  }

  /** Starts connecting (and reconnecting) and resolves once a socket is ready. */
  async connect(): Promise<void> {
    if (!this.running && this.stopReason === undefined) {
      this.running = true;
      void this.run();
    }
    await this.ready.promise;
  }

  /** Closes the socket and stops for good. */
  close(): void {
    this.stop({ kind: 'closed' });
  }

  // Phase-1 commands.
  providers() {
    return this.call('auth/providers', {}, ProviderList);
  }
  /**
   * `login_flow/init`, presenting the device token kept for this server (if any); with `reauthenticate`, a login that confirms
   * the signed-in user again (see `reauthenticate`).
   */
  async initFlow(handler: HandlerKey, redirectUri?: string, options: { readonly reauthenticate?: boolean } = {}) {
    await this.connectionForCall();
    const deviceToken = await this.deviceTokens.present();
    const fields = {
      handler,
      client_id: this.clientId,
      ...(redirectUri === undefined ? {} : { redirect_uri: redirectUri }),
      ...(deviceToken === undefined ? {} : { device_token: deviceToken }),
      ...(options.reauthenticate === true ? { reauthenticate: true } : {}),
    };
    return this.call('login_flow/init', fields, FlowResult);
  }
  stepFlow(flowId: string, userInput: Record<string, unknown>) {
    return this.call('login_flow/step', { flow_id: flowId, client_id: this.clientId, user_input: userInput }, FlowResult);
  }
  getFlow(flowId: string) {
    return this.call('login_flow/get', { flow_id: flowId, client_id: this.clientId }, t.union([FormResult, MenuResult]));
  }
  abortFlow(flowId: string) {
    return this.call('login_flow/abort', { flow_id: flowId, client_id: this.clientId }, NullResult);
  }
  /** `auth/token` with an authorization code; the tokens are kept (refreshed, used on reconnect) only after `authenticate`. */
  async exchangeCode(code: string): Promise<Tokens> {
    const fields = { grant_type: 'authorization_code', code, client_id: this.clientId };
    const response = await this.call('auth/token', fields, TokenResponse);
    if (response.refresh_token === undefined) throw new CommandError('auth/token', 'unknown_error', 'no refresh_token in the answer');
    if (response.device_token !== undefined) await this.deviceTokens.keep(response.device_token);
    return withExpiry({ ...response, refresh_token: response.refresh_token });
  }
  /** `auth/token` with a refresh token: a new access token (the refresh token stays the same). */
  async refreshAccessToken(refreshToken = this.currentTokens?.refresh_token): Promise<Tokens> {
    if (refreshToken === undefined) throw new TypeError('No refresh token to refresh with');
    const fields = { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: this.clientId };
    const response = await this.call('auth/token', fields, TokenResponse);
    const tokens = withExpiry({ ...response, refresh_token: response.refresh_token ?? refreshToken });
    if (this.currentTokens?.refresh_token === refreshToken) this.setTokens(tokens);
    return tokens;
  }
  revoke(refreshToken: string) {
    return this.call('auth/revoke', { token: refreshToken }, NullResult);
  }
  ping() {
    return this.call('ping', {}, t.null);
  }
  supportedFeatures(features: Record<string, number> = {}) {
    return this.call('supported_features', { features }, NullResult);
  }

  // Phase-2 commands (after `authenticate`).
  currentUser() {
    return this.call('auth/current_user', {}, CurrentUser);
  }
  refreshTokens() {
    return this.call('auth/refresh_tokens', {}, RefreshTokenList);
  }
  deleteRefreshToken(refreshTokenId: string) {
    return this.call('auth/delete_refresh_token', { refresh_token_id: refreshTokenId }, EmptyResult);
  }
  deleteAllRefreshTokens(deleteCurrentToken = true) {
    return this.call('auth/delete_all_refresh_tokens', { delete_current_token: deleteCurrentToken }, EmptyResult);
  }
  longLivedAccessToken(clientName: string, lifespanDays: number) {
    return this.call('auth/long_lived_access_token', { client_name: clientName, lifespan: lifespanDays }, LongLivedAccessToken);
  }
  /** `auth/setup_mfa` with `mfa_module_id`: starts the module's setup flow; its first form (or `no_module`). */
  setupMfa(moduleId: string) {
    return this.call('auth/setup_mfa', { mfa_module_id: moduleId }, MfaSetupResult);
  }
  /** `auth/setup_mfa` with `flow_id` and `user_input`: the setup flow's next form, or its end (`create_entry`). */
  continueMfaSetup(flowId: string, userInput: Record<string, unknown>) {
    return this.call('auth/setup_mfa', { flow_id: flowId, user_input: userInput }, MfaSetupResult);
  }
  /** `auth/depose_mfa`: turns the module off for the signed-in user (`no_module`, `disable_failed`). */
  deposeMfa(moduleId: string) {
    return this.call('auth/depose_mfa', { mfa_module_id: moduleId }, DeposeMfaResult);
  }
  /** Drives a module's whole setup flow through `answer` (see MfaSetupOptions) and returns its entry. */
  runMfaSetup(options: MfaSetupOptions) {
    return runMfaSetup(this, options);
  }

  /** Authenticates the socket with `tokens` (kept for reconnects, refreshed before they expire). Rejects with AuthInvalidError. */
  async authenticate(tokens: Tokens): Promise<void> {
    const connection = await this.connectionForCall();
    await this.authOn(connection, tokens);
    this.setTokens(tokens);
  }

  /** Drives a whole login flow (see LoginOptions) and returns the tokens; the socket is authenticated unless told otherwise. */
  async login(options: LoginOptions): Promise<LoginResult> {
    const result = await runLogin(this, options);
    if (options.authenticate !== false) this.stepUp.loggedIn(options);
    return result;
  }

  /**
   * Logs in again on the signed-in socket, to confirm it is still the same person (step-up): the server then takes privileged
   * commands (MFA changes, long-lived tokens, user management, deleting every session) for `privileged_session_seconds`.
   * Without options: `options.reauthentication` from the constructor, else the provider and form callback of the last
   * `login`. Privileged commands that answer `reauth_required` run this by themselves, then are sent once more. An answer
   * that proves another user rejects with CommandError `access_denied`.
   */
  reauthenticate(options?: ReauthenticationOptions): Promise<void> {
    return this.stepUp.reauthenticate(options);
  }

  /** Drives a whole login flow but stops at its authorization code, for a client (an OAuth redirect) that exchanges it itself. */
  loginForCode(options: LoginOptions): Promise<LoginCode> {
    return runLoginToCode(this, options);
  }

  /** The connection once ready: for the login driver, which resumes flows when the epoch changes. */
  async connectionForCall(): Promise<Connection> {
    if (this.stopReason !== undefined) throw stopError(this.stopReason);
    if (!this.running) await this.connect();
    return this.ready.promise;
  }

  /** Sends a command; one refused with `reauth_required` is sent once more after a re-authentication, when one can run. */
  private call<C extends t.Mixed>(type: string, fields: Record<string, unknown>, codec: C): Promise<t.TypeOf<C>> {
    return this.stepUp.retrying(type, async () => (await this.connectionForCall()).command(type, fields, codec));
  }

  private async authOn(connection: Connection, tokens: Tokens): Promise<void> {
    try {
      await connection.authenticate(tokens.access_token);
    } catch (error) {
      if (error instanceof AuthInvalidError) this.stop({ kind: 'auth_invalid', error });
      throw error;
    }
    this.events.emit('authenticated', { instance: this.lastInstance ?? '' });
  }

  private setTokens(tokens: Tokens): void {
    this.currentTokens = tokens;
    this.events.emit('tokens', tokens);
    this.scheduleRefresh(tokens);
  }

  private scheduleRefresh(tokens: Tokens, delayMs?: number): void {
    clearTimeout(this.refreshTimer);
    const lifetimeMs = tokens.expires_in * 1000;
    const margin = this.options.refreshMarginMs ?? Math.min(DEFAULT_REFRESH_MARGIN_MS, lifetimeMs / 2);
    const due = delayMs ?? Math.max(0, tokens.expires_at - margin - Date.now());
    this.refreshTimer = setTimeout(() => void this.refreshNow(tokens), due);
  }

  private async refreshNow(tokens: Tokens): Promise<void> {
    if (this.stopReason !== undefined || this.currentTokens !== tokens) return;
    try {
      await this.refreshAccessToken(tokens.refresh_token);
    } catch (error) {
      if (error instanceof CommandError && (error.code === 'invalid_grant' || error.code === 'invalid_request')) {
        this.stop({ kind: 'refresh_refused', error });
      } else if (this.stopReason === undefined) this.scheduleRefresh(tokens, REFRESH_RETRY_MS);
    }
  }

  private async nextUrl(attempt: number): Promise<string> {
    const source = this.options.url;
    if (typeof source === 'string') return source;
    if (typeof source === 'function') return source(attempt);
    const url = source[this.urlCursor % source.length];
    if (url === undefined) throw new TypeError('options.url is an empty list');
    return url;
  }

  private async run(): Promise<void> {
    const backoff = this.options.reconnect === false ? { ...DEFAULT_BACKOFF, maxAttempts: 1 } : { ...DEFAULT_BACKOFF, ...this.options.reconnect };
    let failures = 0;
    while (this.stopReason === undefined) {
      let error: Error | undefined;
      let closeCode: number | undefined;
      let opened: Connection | undefined;
      try {
        const url = await this.nextUrl(failures);
        const { connection, hello } = await Connection.open(this.WebSocketImpl, url, this.options.connectTimeoutMs ?? 10_000, (e) =>
          this.events.emit('unexpected_frame', e),
        );
        opened = connection;
        if (this.stopReason !== undefined) {
          connection.close();
          return;
        }
        // Known from now on, so stop() closes it even while it is still re-authenticating.
        this.connection = connection;
        this.lastInstance = hello.instance;
        this.lastUrl = url;
        this.epoch++;
        this.events.emit('connected', { url, instance: hello.instance, hello });
        if (this.currentTokens !== undefined) await this.resumeSession(connection, this.currentTokens);
        if (this.stopReason !== undefined) {
          connection.close();
          return;
        }
        failures = 0;
        this.ready.resolve(connection);
        const closed = await connection.closed;
        closeCode = closed.code;
        this.connection = undefined;
        this.ready = deferred();
        this.events.emit('disconnected', closed);
        if (closed.code === 4001) this.stop({ kind: 'revoked', error: new TokenRevokedError() });
      } catch (caught) {
        // A socket that failed half-way (re-authentication refused, an unexpected frame) is not reused: close it.
        opened?.close();
        this.connection = undefined;
        error = caught instanceof Error ? caught : new Error(String(caught));
        if (this.stopReason !== undefined) return;
        failures++;
        if (failures >= backoff.maxAttempts) {
          this.stop({ kind: 'gave_up', error });
          return;
        }
      }
      if (this.stopReason !== undefined) return;
      this.urlCursor++;
      const delayMs = reconnectDelayMs(backoff, failures, closeCode);
      this.events.emit('reconnecting', { attempt: failures + 1, delayMs, ...(error === undefined ? {} : { error }) });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** On a new socket: refresh first when the access token is (nearly) out, then `auth`. */
  private async resumeSession(connection: Connection, tokens: Tokens): Promise<void> {
    let current = tokens;
    if (current.expires_at - Date.now() < 10_000) {
      const fields = { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: this.clientId };
      try {
        const response = await connection.command('auth/token', fields, TokenResponse);
        current = withExpiry({ ...response, refresh_token: tokens.refresh_token });
        this.setTokens(current);
      } catch (error) {
        if (error instanceof CommandError) this.stop({ kind: 'refresh_refused', error });
        throw error;
      }
    }
    await this.authOn(connection, current);
  }

  private stop(reason: StopReason): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    clearTimeout(this.refreshTimer);
    this.ready.reject(stopError(reason));
    this.ready.promise.catch(() => undefined);
    this.connection?.close();
    this.wake?.();
    this.events.emit('stopped', reason);
  }
}

function stopError(reason: StopReason): Error {
  return reason.kind === 'closed' ? new ClientClosedError() : new ClientClosedError(reason.error as FlowgateError);
}

function withExpiry(response: { access_token: string; refresh_token: string; expires_in: number }): Tokens {
  return {
    access_token: response.access_token,
    refresh_token: response.refresh_token,
    token_type: 'Bearer',
    expires_in: response.expires_in,
    expires_at: Date.now() + response.expires_in * 1000,
  };
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
