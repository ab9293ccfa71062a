/** What the cases share in one run: the options, the sockets' factory, logins done once, and the clean-up of what the run created. */
import {
  AuthOk,
  CreateEntryResult,
  FormResult,
  FlowResult,
  ProviderList,
  RefreshTokenList,
  TokenResponse,
  type HandlerKey,
} from '@flowgate/shared';
import { KitSocket } from './client.js';
import { decode, fail, quote } from './expect.js';
import type { Account, KitOptions } from './options.js';

/** The `client_id` of the kit's flows: an IndieAuth-valid URL on a reserved domain, so no real client is impersonated. */
export const CLIENT_ID = 'https://flowgate-conformance.example/';
/** A second client, for the binding of flows and codes to their client. */
export const OTHER_CLIENT_ID = 'https://other.flowgate-conformance.example/';

/** What a case that was not given its prerequisites is skipped with. */
export const NEEDS_LOGIN = 'needs --provider, --username and --password';
export const NEEDS_ADMIN = 'needs --admin-username and --admin-password';
export const NEEDS_HTTP = 'needs --http';

export interface Session {
  readonly tokens: TokenResponse & { refresh_token: string };
  /** The device token the code exchange handed out, when the server sent one. */
  readonly deviceToken: string | undefined;
}

/** A random suffix, so names the kit creates (long-lived token names) never collide with an earlier run's. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export class KitContext {
  private readonly sessions = new Map<string, Promise<Session>>();
  /** Refresh tokens the run obtained: revoked at the end, so repeated runs leave no sessions behind. */
  private readonly refreshTokens = new Set<string>();

  constructor(readonly options: KitOptions) {}

  /** A new socket, hello checked; `origin` opens it as a browser page of that origin would. */
  async open(origin?: string): Promise<KitSocket> {
    return (await KitSocket.open(this.options.url, origin)).socket;
  }

  /** Runs `body` with a new socket (hello checked), closed afterwards whatever happened. */
  async withSocket(body: (socket: KitSocket) => Promise<void>): Promise<void> {
    const socket = await this.open();
    try {
      await body(socket);
    } finally {
      socket.close();
    }
  }

  /** A new socket, authenticated with `accessToken` (auth_ok checked). */
  async authenticated(accessToken: string): Promise<KitSocket> {
    const socket = await this.open();
    socket.send({ type: 'auth', access_token: accessToken });
    decode(AuthOk, await socket.next(), 'the answer to auth with a valid access token');
    return socket;
  }

  /** The handler of --provider (its id as the server lists it), or without one the first provider the server lists. */
  async handler(socket?: KitSocket): Promise<HandlerKey> {
    const own = socket ?? (await this.open());
    try {
      const providers = decode(ProviderList, await own.result({ type: 'auth/providers' }), 'the auth/providers result');
      const wanted = this.options.provider;
      const provider = wanted === undefined ? providers[0] : providers.find((p) => p.type === wanted);
      if (provider === undefined) {
        fail(wanted === undefined ? 'the server lists no provider in auth/providers' : `auth/providers does not list --provider ${wanted}: ${quote(providers)}`);
      }
      return [provider.type, provider.id];
    } finally {
      if (socket === undefined) own.close();
    }
  }

  /** Starts a flow on `socket` and returns its first form (it must be one). */
  async startForm(socket: KitSocket, clientId = CLIENT_ID, extra: Record<string, unknown> = {}): Promise<FormResult> {
    const handler = await this.handler(socket);
    const result = await socket.result({ type: 'login_flow/init', handler, client_id: clientId, ...extra });
    return decode(FormResult, result, `the first step of ${quote(handler)} (the kit needs a provider that starts with a form)`);
  }

  /** The user_input answering a username/password form with `account`. */
  static answer(form: FormResult, account: Account): Record<string, string> {
    const input: Record<string, string> = {};
    for (const field of form.data_schema) {
      if (field.name === 'username') input[field.name] = account.username;
      else if (field.name === 'password') input[field.name] = account.password;
    }
    if (Object.keys(input).length !== 2) fail(`the kit logs in through a form with username and password fields; got ${quote(form.data_schema)}`);
    return input;
  }

  /** A whole login of `account` on `socket`: the authorization code. */
  async loginCode(socket: KitSocket, account: Account, clientId = CLIENT_ID, deviceToken?: string): Promise<string> {
    const form = await this.startForm(socket, clientId, deviceToken === undefined ? {} : { device_token: deviceToken });
    const result = await socket.result({ type: 'login_flow/step', flow_id: form.flow_id, client_id: clientId, user_input: KitContext.answer(form, account) });
    const flow = decode(FlowResult, result, 'the answer to the right password');
    if (flow.type === 'form' && flow.errors?.['base'] === 'invalid_auth') fail(`the server refused ${account.username}'s password (invalid_auth): check the account options`);
    if (flow.type === 'form') fail(`the right password answered the form ${flow.step_id} (does ${account.username} have multi-factor login set up? the kit needs an account without it)`);
    return decode(CreateEntryResult, flow, 'the answer to the right password').result;
  }

  /** Exchanges a code for tokens (the refresh token is revoked when the run ends). */
  async exchange(socket: KitSocket, code: string, clientId = CLIENT_ID): Promise<TokenResponse & { refresh_token: string }> {
    const result = await socket.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: clientId });
    const tokens = decode(TokenResponse, result, 'the auth/token result of a code exchange');
    if (tokens.refresh_token === undefined) fail(`a code exchange must hand out a refresh_token; got ${quote(result)}`);
    this.refreshTokens.add(tokens.refresh_token);
    return { ...tokens, refresh_token: tokens.refresh_token };
  }

  /** A fresh login of `account` (its own refresh token), with the device token of the account's earlier login if any. */
  async login(account: Account): Promise<Session> {
    const earlier = await this.sessions.get(account.username)?.catch(() => undefined);
    const socket = await this.open();
    try {
      const code = await this.loginCode(socket, account, CLIENT_ID, earlier?.deviceToken);
      const tokens = await this.exchange(socket, code);
      return { tokens, deviceToken: tokens.device_token ?? earlier?.deviceToken };
    } finally {
      socket.close();
    }
  }

  /** The account's session of this run, logged in once and shared by the cases that only read with it. */
  session(account: Account): Promise<Session> {
    let session = this.sessions.get(account.username);
    if (session === undefined) {
      session = this.login(account);
      this.sessions.set(account.username, session);
    }
    return session;
  }

  /** Deletes the long-lived tokens named `clientName` of the session's user (best effort: the run's clean-up). */
  async deleteLongLived(accessToken: string, clientNames: ReadonlySet<string>): Promise<void> {
    if (clientNames.size === 0) return;
    const socket = await this.authenticated(accessToken);
    try {
      const list = decode(RefreshTokenList, await socket.result({ type: 'auth/refresh_tokens' }), 'auth/refresh_tokens');
      for (const token of list) {
        if (token.client_name !== null && clientNames.has(token.client_name)) await socket.result({ type: 'auth/delete_refresh_token', refresh_token_id: token.id });
      }
    } finally {
      socket.close();
    }
  }

  /** Revokes every refresh token the run obtained; errors are ignored (the server may be the broken part). */
  async cleanUp(): Promise<void> {
    if (this.refreshTokens.size === 0) return;
    const socket = await this.open().catch(() => undefined);
    if (socket === undefined) return;
    try {
      for (const token of this.refreshTokens) await socket.command({ type: 'auth/revoke', token }).catch(() => undefined);
      this.refreshTokens.clear();
    } finally {
      socket.close();
    }
  }
}
