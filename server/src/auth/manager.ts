/** AuthManager: the login flows of every configured provider, finished into credentials and an authorization code. */
import type { HandlerKey, ProviderInfo } from '@flowgate/shared';
import { ServiceError } from '../errors.js';
import { FlowManager, type FinishedFlow, type FlowManagerOptions } from '../flow/index.js';
import type { AuthProvider } from '../providers/registry.js';
import type { JsonObject, Store } from '../store/types.js';
import { issueAuthorizationCode } from '../tokens/codes.js';

export interface AuthManagerOptions {
  readonly store: Store;
  readonly providers: readonly AuthProvider[];
  readonly flowTtlMs?: number;
  readonly onFlowFinished?: FlowManagerOptions['onFinished'];
}

const keyOf = (key: HandlerKey): string => JSON.stringify(key);

export class AuthManager {
  readonly loginFlows: FlowManager;
  private readonly providersByKey: ReadonlyMap<string, AuthProvider>;

  constructor(private readonly options: AuthManagerOptions) {
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

  private async finishLogin(flow: FinishedFlow, data: JsonObject): Promise<{ kind: 'create_entry'; result: string }> {
    const provider = this.providersByKey.get(keyOf(flow.handler));
    if (provider === undefined) throw new ServiceError('not_found', 'This login provider is no longer configured');
    const credential = await provider.getOrCreateCredentials(data);
    const code = await issueAuthorizationCode(this.options.store, flow.context.clientId, credential.id);
    return { kind: 'create_entry', result: code };
  }
}
