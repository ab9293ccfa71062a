/** AuthManager: the login flows of every configured provider, behind the login limits, finished into an authorization code. */
import type { FlowResult, HandlerKey, ProviderInfo } from '@flowgate/shared';
import { DeviceTokens } from '../defense/device-tokens.js';
import { LoginDefense, type BanPolicy, type LoginLimits } from '../defense/login-limits.js';
import { ServiceError } from '../errors.js';
import { FlowManager, HandlerKeyMap, type AnyFlowHandler, type FinishedFlow, type FlowManagerOptions } from '../flow/index.js';
import { noAudit, type Audit } from '../observability/audit.js';
import type { MfaModule } from '../mfa/module.js';
import type { Metrics } from '../observability/metrics.js';
import type { AuthProvider } from '../providers/registry.js';
import type { PasswordOptions } from '../providers/password.js';
import type { ServerSecret } from '../secrets/server-secret.js';
import type { JsonObject, RefreshToken, Store, User } from '../store/types.js';
import { AccessTokenKeys } from '../tokens/access-tokens.js';
import { issueAuthorizationCode } from '../tokens/codes.js';
import { DEFAULT_PRIVILEGED_SESSION_MS, TokenService } from '../tokens/refresh-tokens.js';
import { assertRedirectUri, verifyClientId, type RedirectUriOptions } from './indieauth.js';
import { LoginContext, startedBy, startedFrom, type Reauthentication } from './login-context.js';
import { accountKey, admittedAtStep, guardLoginFlow, providerAccount, refuseBlockedLogins } from './login-guard.js';
import { MFA_ENTRY, MFA_LOGIN_HANDLER, mfaAccount, mfaLoginHandler, withMfaHandOver } from './mfa-login.js';
import { MfaSetup } from './mfa-setup.js';
import { reportLoginDefense } from './login-reports.js';
import type { LiveSession, Session } from './session.js';
import { assertRecentLogin, finishReauthentication, type StepUpDependencies } from './step-up.js';
import { assertMayLogIn, loginBlockedReason } from './user-access.js';
import { UserAdmin, type Actor } from './user-admin.js';
import type { TokenEndpointDependencies } from './token-endpoint.js';

export interface AuthManagerOptions {
  readonly store: Store;
  /** The server's `secret_key`: every access-token and device-token key is derived from it (secrets/server-secret.ts). */
  readonly serverSecret: ServerSecret;
  readonly providers: readonly AuthProvider[];
  readonly flowTtlMs?: number;
  readonly onFlowFinished?: FlowManagerOptions<LoginContext>['onFinished'];
  /** Login attempts, lockouts and flow steps are counted here (observability/metrics.ts). */
  readonly metrics?: Metrics;
  /** Overrides of the brute-force limits' defaults (`login_limits:` in the config). */
  readonly loginLimits?: Partial<LoginLimits>;
  /** Home Assistant's optional permanent bans; off unless given. */
  readonly bans?: BanPolicy;
  readonly audit?: Audit;
  /** Told of failures that cannot be answered to anyone (an after-commit effect of a step that already happened). */
  readonly onBackgroundError?: (error: unknown) => void;
  /** The configured MFA modules (`mfa_modules`), in config order. */
  readonly mfaModules?: readonly MfaModule[];
  /** How long after its start a login flow's MFA code is still taken (default 5 minutes, as HA). */
  readonly mfaSessionMs?: number;
  /** The password provider's argon2 options, for the hashes user management makes (OWASP's defaults when absent). */
  readonly passwordOptions?: PasswordOptions;
  /** Step-up: a privileged command needs a session whose login is at most this old (default 15 minutes). */
  readonly privilegedSessionMs?: number;
  /** `clients:` from the config: client id -> the redirect URIs accepted for it beyond IndieAuth's rules. */
  readonly clients?: ReadonlyMap<string, readonly string[]>;
  /** How a client id's page is fetched for its `<link rel="redirect_uri">` (indieauth.ts), and where its problems are told. */
  readonly indieAuth?: Omit<RedirectUriOptions, 'clients'>;
}

/** How a login flow is started: who asks (client id, address) and the device token they hold, if any. */
export interface LoginStart {
  readonly clientId: string;
  readonly redirectUri: string | null;
  readonly remoteAddress: string | null;
  readonly deviceToken: string | null;
  /** `"reauthenticate": true` on an authenticated socket: the flow renews this session's login time instead of issuing a code. */
  readonly reauthenticate?: Reauthentication;
}

/**
 * Every handler the engine may dispatch a login step to, by key: the providers (handing over to the MFA steps when their user
 * has modules set up) and the MFA steps, each behind the brute-force limits.
 */
function loginHandlers(
  options: AuthManagerOptions,
  modules: ReadonlyMap<string, MfaModule>,
  defense: LoginDefense,
): HandlerKeyMap<AnyFlowHandler<LoginContext>> {
  const mfaSteps = mfaLoginHandler(modules, {
    sessionMs: options.mfaSessionMs,
    onModuleError: (error, moduleId) =>
      options.onBackgroundError?.(new Error(`MFA module ${moduleId} could not start its login step`, { cause: error })),
  });
  const { store } = options;
  // A blocked user's right secret is answered and counted as a wrong one, before any hand-over to MFA (login-guard.ts).
  const provenByMfa = (entry: JsonObject) => {
    const id = entry[MFA_ENTRY.credential];
    return typeof id === 'string' ? store.getCredential(id) : Promise.resolve(null);
  };
  return new HandlerKeyMap([
    ...options.providers.map((provider) => {
      const proven = (entry: JsonObject) => provider.findCredential?.(entry) ?? Promise.resolve(null);
      const flow = withMfaHandOver(provider, refuseBlockedLogins(provider.loginFlow, 'invalid_auth', proven, store), modules, store);
      return [[provider.type, provider.id], guardLoginFlow(flow, provider.type, providerAccount(provider), defense)] as const;
    }),
    [MFA_LOGIN_HANDLER, guardLoginFlow(refuseBlockedLogins(mfaSteps, 'invalid_code', provenByMfa, store), 'mfa', mfaAccount, defense)] as const,
  ]);
}

export class AuthManager implements TokenEndpointDependencies {
  readonly loginFlows: FlowManager<LoginContext>;
  readonly tokens: TokenService;
  readonly store: Store;
  readonly defense: LoginDefense;
  readonly deviceTokens: DeviceTokens;
  readonly audit: Audit;
  readonly mfa: MfaSetup;
  readonly users: UserAdmin;
  private readonly stepUp: StepUpDependencies;
  private readonly providersByKey: HandlerKeyMap<AuthProvider>;
  /** Each provider's login flow behind the login limits: the only form in which the engine sees it. */
  private readonly guardedFlows: HandlerKeyMap<AnyFlowHandler<LoginContext>>;

  constructor(private readonly options: AuthManagerOptions) {
    this.store = options.store;
    this.audit = options.audit ?? noAudit;
    const audit = this.audit;
    const accessTokenKeys = new AccessTokenKeys(options.serverSecret);
    this.tokens = new TokenService(options.store, accessTokenKeys, Date.now, (refreshTokenId, { userId = null, address = null, via }) =>
      audit('token_revoked', { user_id: userId, address, refresh_token_id: refreshTokenId, via }),
    );
    this.defense = new LoginDefense(
      options.store.loginDefense,
      options.store,
      options.loginLimits ?? {},
      options.bans ?? { enabled: false, threshold: -1 },
      reportLoginDefense(this.audit, options.metrics),
    );
    this.deviceTokens = new DeviceTokens(options.store.loginDefense, options.serverSecret, this.defense.limits.deviceTokenTtlMs);
    const privilegedSessionMs = options.privilegedSessionMs ?? DEFAULT_PRIVILEGED_SESSION_MS;
    this.stepUp = { tokens: this.tokens, audit: this.audit, privilegedSessionMs };
    this.providersByKey = new HandlerKeyMap(options.providers.map((p) => [[p.type, p.id], p] as const));
    const modules = new Map((options.mfaModules ?? []).map((m) => [m.id, m]));
    this.mfa = new MfaSetup({
      store: options.store,
      modules,
      audit: this.audit,
      onModuleError: (error, moduleId) => options.onBackgroundError?.(new Error(`MFA module ${moduleId} failed`, { cause: error })),
      ...(options.flowTtlMs === undefined ? {} : { ttlMs: options.flowTtlMs }),
      ...(options.onBackgroundError === undefined ? {} : { onEffectError: options.onBackgroundError }),
    });
    this.guardedFlows = loginHandlers(options, modules, this.defense);
    this.users = new UserAdmin({
      store: options.store,
      tokens: this.tokens,
      audit: this.audit,
      passwordOptions: options.passwordOptions ?? {},
      guardPasswordCheck: (username, actor, check) => this.guardedPasswordCheck(username, actor, check),
    });
    const { metrics, onFlowFinished, onBackgroundError } = options;
    this.loginFlows = new FlowManager<LoginContext>({
      store: options.store,
      contextCodec: LoginContext,
      resolveHandler: (key) => this.guardedFlows.get(key),
      finish: (flow, data) => this.finishLogin(flow, data),
      ...(options.flowTtlMs === undefined ? {} : { ttlMs: options.flowTtlMs }),
      onFinished: (flow, result) => {
        onFlowFinished?.(flow, result);
        this.defense.flowEnded(flow.flowId, flow.context.remoteAddress, flow.context.device).catch((error: unknown) => onBackgroundError?.(error));
      },
      ...(metrics === undefined ? {} : { onStep: (type: FlowResult['type']) => metrics.flowSteps.inc({ type }) }),
      ...(onBackgroundError === undefined ? {} : { onEffectError: onBackgroundError }),
    });
  }

  /**
   * `login_flow/init`: the client id must be valid and a redirect URI, when given, one the client may use (`invalid_request`
   * otherwise; indieauth.ts); refused while the address is over its limits; a device token that verifies is kept with the
   * flow (an invalid one is ignored: the client is simply not trusted). The new flow counts against its address's open flows.
   */
  async startLogin(handler: HandlerKey, start: LoginStart): Promise<FlowResult> {
    verifyClientId(start.clientId);
    // Only a provider starts a login; the MFA steps are reached through one.
    if (this.providerFor(handler[0], handler[1]) === undefined) throw new ServiceError('not_found', `No login handler ${JSON.stringify(handler)}`);
    const device = start.deviceToken === null ? null : await this.deviceTokens.verify(start.deviceToken);
    await this.defense.admitFlowStart(start.remoteAddress, device);
    // After the limits, so that an address they refuse cannot make this server fetch pages; before the flow exists, so that
    // a redirect URI the code may not go to fails fast (HA checks at the end, when the user has already typed a password).
    if (start.redirectUri !== null) {
      await assertRedirectUri(start.clientId, start.redirectUri, { ...this.options.indieAuth, clients: this.options.clients ?? new Map() });
    }
    const result = await this.loginFlows.init(handler, {
      clientId: start.clientId,
      redirectUri: start.redirectUri,
      remoteAddress: start.remoteAddress,
      device,
      ...(start.reauthenticate === undefined ? {} : { reauthenticate: start.reauthenticate }),
    });
    if (result.type !== 'form') return result;
    // A device token's holder counts against its account's own open flows, not its address's (login-limits.ts).
    const refusal = await this.defense.flowStarted(result.flow_id, start.remoteAddress, device, Date.parse(result.expires_at));
    if (refusal !== null) {
      await this.loginAbort(result.flow_id, start.clientId).catch(() => undefined);
      throw refusal;
    }
    return result;
  }

  /** The providers in config order, as `auth/providers` lists them to a caller at `remoteAddress` (HA hides what it cannot use). */
  providers(remoteAddress: string | null): ProviderInfo[] {
    return this.options.providers
      .filter((p) => p.offeredTo?.(remoteAddress) ?? true)
      .map((p) => ({ type: p.type, id: p.id, name: p.name }));
  }

  readonly providerFor = (type: string, id: string | null): AuthProvider | undefined => this.providersByKey.get([type, id]);

  /**
   * The session an access token opens from `remoteAddress`, or null when the token does not verify or its user may not log in
   * from there (inactive, or local only and the address is not local).
   */
  async authenticate(accessToken: string, remoteAddress: string | null): Promise<Session | null> {
    const refreshToken = await this.tokens.validateAccessToken(accessToken);
    if (refreshToken === null) return null;
    const user = await this.options.store.getUser(refreshToken.userId);
    if (user === null || loginBlockedReason(user, remoteAddress) !== null) return null;
    return { userId: user.id, refreshTokenId: refreshToken.id, remoteAddress };
  }

  /**
   * The session's user while its refresh token exists and the user may still log in from the session's address, else null.
   * Revocations reach sockets by pub/sub, which is at most once (a message can be lost while a subscriber reconnects, or land
   * while `auth` is still verifying): phase-2 commands check this first, so a socket that missed its revocation cannot act on
   * it, and a user demoted, deactivated or made local only meanwhile is seen as they are now.
   */
  async liveUser(session: Session): Promise<User | null> {
    return (await this.liveSession(session))?.user ?? null;
  }

  /** The session's user and refresh token as the store has them now; null when the session may no longer be used from here. */
  async liveSession(session: Session): Promise<LiveSession | null> {
    // One store round trip before every authenticated command (one script in the user's slot on Redis, one SELECT on SQLite).
    const { refreshToken, user } = await this.options.store.sessionState(session.refreshTokenId, session.userId);
    if (refreshToken === null || refreshToken.userId !== session.userId || user === null) return null;
    return loginBlockedReason(user, session.remoteAddress) === null ? { user, refreshToken } : null;
  }

  /** Step-up: `reauth_required` unless the live session's login is recent enough for the privileged `command` (step-up.ts). */
  assertRecentLogin(refreshToken: RefreshToken, command: string): void {
    assertRecentLogin(this.stepUp, refreshToken, command);
  }

  /** Checks a user's current password (`change_password`) as one attempt against the account's and address's limits. */
  private async guardedPasswordCheck(username: string, actor: Actor, check: () => Promise<boolean>): Promise<boolean> {
    const password = { type: 'password', id: null };
    const attempt = await this.defense.begin({ address: actor.address, account: accountKey(password, username), provider: 'password', username, device: null });
    let correct = false;
    try {
      correct = await check();
    } finally {
      // A right guess gives its count back rather than clearing the counters: it proves nothing the session did not already.
      await attempt.settle(correct ? 'release' : 'failure', correct ? undefined : 'invalid_current_password');
    }
    return correct;
  }

  /**
   * `login_flow/step`: only the client that started the flow may step it; with `boundTo` (the HTTP API), only from the
   * address that started it too (LoginAddressChanged otherwise).
   */
  loginStep(flowId: string, clientId: string, input: Record<string, unknown>, boundTo?: { readonly remoteAddress: string | null }): Promise<FlowResult> {
    if (boundTo === undefined) return this.loginFlows.step(flowId, input, startedBy(clientId));
    // Each HTTP request may reach another instance, so the version this one knows is often not the current one.
    return this.loginFlows.step(flowId, input, startedFrom(clientId, boundTo.remoteAddress), { readFirst: true });
  }

  loginGet(flowId: string, clientId: string) {
    return this.loginFlows.get(flowId, startedBy(clientId));
  }

  /** `login_flow/abort`; with `boundTo` (HTTP's DELETE, which names no client id when `clientId` is null), as `loginStep`. */
  loginAbort(flowId: string, clientId: string | null, boundTo?: { readonly remoteAddress: string | null }): Promise<void> {
    if (boundTo === undefined) {
      if (clientId === null) throw new ServiceError('not_found', 'No such flow: it finished, expired or never existed');
      return this.loginFlows.abort(flowId, startedBy(clientId));
    }
    return this.loginFlows.abort(flowId, startedFrom(clientId, boundTo.remoteAddress));
  }

  private async finishLogin(flow: FinishedFlow<LoginContext>, data: JsonObject): Promise<{ kind: 'create_entry'; result: string }> {
    const provider = this.providersByKey.get(flow.handler);
    if (provider === undefined) throw new ServiceError('not_found', 'This login provider is no longer configured');
    // After MFA, the entry names the credential the provider step proved (gone meanwhile: no login); else the provider finds or
    // creates it.
    const provenId = data[MFA_ENTRY.credential];
    const credential =
      typeof provenId === 'string' ? await this.options.store.getCredential(provenId) : await provider.getOrCreateCredentials(data);
    if (credential === null) throw new ServiceError('not_found', 'The account behind this login no longer exists');
    // HA's "Login blocked": a known user that may not log in from here gets no code (a new user is checked at the exchange).
    // The step checked it already (refuseBlockedLogins) unless its provider finds no credential before the commit.
    if (credential.userId !== null && !admittedAtStep(data)) {
      const user = await this.options.store.getUser(credential.userId);
      if (user !== null) assertMayLogIn(user, flow.context.remoteAddress);
    }
    const reauthentication = flow.context.reauthenticate;
    if (reauthentication !== undefined) return finishReauthentication(this.stepUp, reauthentication, credential.userId, flow.context.remoteAddress);
    const username = provider.loginAccount?.(data) ?? null;
    const mfaAccountKey = data[MFA_ENTRY.account];
    const account = typeof mfaAccountKey === 'string' ? mfaAccountKey : username === null ? null : accountKey(provider, username);
    const code = await issueAuthorizationCode(this.options.store, flow.context.clientId, credential.id, {
      deviceAccount: account,
      redirectUri: flow.context.redirectUri,
    });
    return { kind: 'create_entry', result: code };
  }
}
