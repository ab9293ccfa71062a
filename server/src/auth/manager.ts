/** AuthManager: the login flows of every configured provider, finished into credentials and an authorization code. */
import type { HandlerKey, ProviderInfo } from '@flowgate/shared';
import { ServiceError } from '../errors.js';
import { FlowManager, type FinishedFlow, type FlowManagerOptions } from '../flow/index.js';
import type { AuthProvider } from '../providers/registry.js';
import type { JsonObject, Store } from '../store/types.js';
import { issueAuthorizationCode } from '../tokens/codes.js';
import { TokenService } from '../tokens/refresh-tokens.js';
import type { Session } from './session.js';
import type { TokenEndpointDependencies } from './token-endpoint.js';

export interface AuthManagerOptions {
  readonly store: Store;
  readonly providers: readonly AuthProvider[];
  readonly flowTtlMs?: number;
  readonly onFlowFinished?: FlowManagerOptions['onFinished'];
}

const keyOf = (key: HandlerKey): string => JSON.stringify(key);

export class AuthManager implements TokenEndpointDependencies {
  readonly loginFlows: FlowManager;
  readonly tokens: TokenService;
  readonly store: Store;
  private readonly providersByKey: ReadonlyMap<string, AuthProvider>;

  constructor(private readonly options: AuthManagerOptions) {
    this.store = options.store;
    this.tokens = new TokenService(options.store);
    this.providersByKey = new Map(options.providers.map((p) => [keyOf([p.type, p.id]), p]));
    this.loginFlows = new FlowManager({
      store: options.store,
      resolveHandler: (key) => this.providersByKey.get(keyOf(key))?.loginFlow,
      finish: (flow, data) => this.finishLogin(flow, data),
      ...(options.flowTtlMs === undefined ? {} : { ttlMs: options.flowTtlMs }),
      ...(options.onFlowFinished === undefined ? {} : { onFinished: options.onFlowFinished }),
    });
  }

  /** The providers in config order, as `auth/providers` lists them. */
  providers(): ProviderInfo[] {
    return this.options.providers.map((p) => ({ type: p.type, id: p.id, name: p.name }));
  }

  readonly providerFor = (type: string, id: string | null): AuthProvider | undefined => this.providersByKey.get(keyOf([type, id]));

  /** The session an access token opens, or null when the token does not verify or its user may not log in. */
  async authenticate(accessToken: string): Promise<Session | null> {
    const refreshToken = await this.tokens.validateAccessToken(accessToken);
    if (refreshToken === null) return null;
    const user = await this.options.store.getUser(refreshToken.userId);
    if (user === null || !user.isActive) return null;
    return { userId: user.id, refreshTokenId: refreshToken.id };
  }

  /**
   * True while the session's refresh token exists and its user may log in. Revocations reach sockets by pub/sub, which is
   * at most once (a message can be lost while a subscriber reconnects, or land while `auth` is still verifying): phase-2
   * commands check this first, so a socket that missed its revocation cannot act on it.
   */
  async isSessionLive(session: Session): Promise<boolean> {
    const refreshToken = await this.options.store.getRefreshToken(session.refreshTokenId);
    if (refreshToken === null || refreshToken.userId !== session.userId) return false;
    const user = await this.options.store.getUser(session.userId);
    return user !== null && user.isActive;
  }

  private async finishLogin(flow: FinishedFlow, data: JsonObject): Promise<{ kind: 'create_entry'; result: string }> {
    const provider = this.providersByKey.get(keyOf(flow.handler));
    if (provider === undefined) throw new ServiceError('not_found', 'This login provider is no longer configured');
    const credential = await provider.getOrCreateCredentials(data);
    const code = await issueAuthorizationCode(this.options.store, flow.context.clientId, credential.id);
    return { kind: 'create_entry', result: code };
  }
}
