/**
 * MFA set-up and removal for an authenticated user (Home Assistant's `auth/setup_mfa`, `auth/depose_mfa`): each module's setup
 * flow on the same engine and store as login flows, so any instance continues it; only its own user may. A user holds at most
 * MAX_OPEN_SETUP_FLOWS_PER_USER open at once, counted in the store for every instance.
 */
import type { FlowResult, MfaSetupEntry, SetupMfaCommand, UserMfaModule } from '@flowgate/shared';
import { ServiceError } from '../errors.js';
import { FlowManager, type FlowManagerOptions } from '../flow/index.js';
import { MfaSetupContext, type MfaModule } from '../mfa/module.js';
import { MAX_OPEN_SETUP_FLOWS_PER_USER, capSets, takePlace } from '../mfa/user-caps.js';
import type { Audit } from '../observability/audit.js';
import { StoreUnavailableError, type Store } from '../store/types.js';

const noModule = (id: string): ServiceError => new ServiceError('no_module', `MFA module ${id} is not found`);

const tooManyOpen = (wait: string): string =>
  `This account already has ${MAX_OPEN_SETUP_FLOWS_PER_USER} MFA set-ups in progress, the most allowed; finish one, or try again in ${wait} when the oldest expires`;

export interface MfaSetupOptions {
  readonly store: Store;
  readonly modules: ReadonlyMap<string, MfaModule>;
  readonly ttlMs?: number;
  readonly onEffectError?: FlowManagerOptions<MfaSetupContext>['onEffectError'];
  readonly audit?: Audit;
  /**
   * Told why a module failed (its store write, its key): the operator reads the cause in the log, while the client is only
   * told that it failed, since the text of an internal error (a Redis reply, a path) is not for whoever holds a session.
   */
  readonly onModuleError?: (error: unknown, moduleId: string) => void;
}

/** Who asks: the authenticated socket's user. */
export interface MfaUser {
  readonly userId: string;
  readonly name: string;
  /** The client address of the socket that asks, for the audit events. */
  readonly address: string | null;
}

export class MfaSetup {
  private readonly flows: FlowManager<MfaSetupContext>;

  constructor(private readonly options: MfaSetupOptions) {
    const { modules } = options;
    this.flows = new FlowManager<MfaSetupContext>({
      store: options.store,
      contextCodec: MfaSetupContext,
      resolveHandler: ([id]) => modules.get(id)?.setupFlow,
      // Runs once the flow's end committed: a raced final step stores the user's settings once.
      finish: async (flow, data) => {
        const module = modules.get(flow.handler[0]);
        if (module === undefined) throw noModule(flow.handler[0]);
        return { kind: 'create_entry', result: module.id, data: await module.setupUser(flow.context.userId, data) };
      },
      // A finished or aborted flow frees its place at once; an abandoned one when its lease expires with it.
      onFinished: (flow) => {
        options.store.releaseLease(capSets.openSetupFlows(flow.context.userId), flow.flowId).catch((error: unknown) => options.onEffectError?.(error));
      },
      ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
      ...(options.onEffectError === undefined ? {} : { onEffectError: options.onEffectError }),
    });
  }

  /** `auth/setup_mfa`: starts a module's setup flow, or continues one of this user's; answers its next form or its entry. */
  async setup(user: MfaUser, command: SetupMfaCommand): Promise<FlowResult | MfaSetupEntry> {
    const { mfa_module_id: moduleId, flow_id: flowId } = command;
    if ((moduleId === undefined) === (flowId === undefined)) {
      throw new ServiceError('invalid_format', 'auth/setup_mfa needs exactly one of mfa_module_id (to start) and flow_id (to continue)');
    }
    if (moduleId !== undefined) {
      if (!this.options.modules.has(moduleId)) throw noModule(moduleId);
      return this.start(user, moduleId);
    }
    const result = await this.flows.step(flowId ?? '', command.user_input ?? {}, (context) => context.userId === user.userId);
    if (result.type !== 'create_entry') return result;
    const module = this.options.modules.get(result.handler[0]);
    this.options.audit?.('mfa_enabled', { user_id: user.userId, address: user.address, module: result.handler[0] });
    return { type: 'create_entry', flow_id: result.flow_id, handler: result.handler, title: module?.name ?? result.handler[0], data: result.data ?? {} };
  }

  /**
   * A new setup flow, counted against the user's open ones until it ends or expires (so the count never outlives the flows).
   * Past the cap, the flow just made is dropped again and the answer is `rate_limited`, saying when the oldest open one expires.
   */
  private async start(user: MfaUser, moduleId: string): Promise<FlowResult> {
    const result = await this.flows.init([moduleId, null], { userId: user.userId, userName: user.name });
    if (result.type !== 'form' && result.type !== 'menu') return result;
    const refused = await takePlace(
      this.options.store,
      { set: capSets.openSetupFlows(user.userId), member: result.flow_id, limit: MAX_OPEN_SETUP_FLOWS_PER_USER, expiresAt: Date.parse(result.expires_at) },
      tooManyOpen,
    );
    if (refused === null) return result;
    await this.flows.abort(result.flow_id, () => true).catch(() => undefined);
    throw refused;
  }

  /** `auth/depose_mfa`: the module is no longer asked at this user's logins. */
  async depose({ userId, address }: Pick<MfaUser, 'userId' | 'address'>, moduleId: string): Promise<'done'> {
    const module = this.options.modules.get(moduleId);
    if (module === undefined) throw noModule(moduleId);
    try {
      await module.deposeUser(userId);
    } catch (error) {
      // A store that does not answer says "try again" as everywhere; anything else is told by its cause in the log only.
      if (error instanceof StoreUnavailableError) throw error;
      this.options.onModuleError?.(error, moduleId);
      throw new ServiceError('disable_failed', `MFA module ${moduleId} could not be turned off; try again later, or ask the administrator to look at the server's log`, { cause: error });
    }
    this.options.audit?.('mfa_disabled', { user_id: userId, address, module: moduleId });
    return 'done';
  }

  /** Every configured module, in config order, with whether this user has it set up (`auth/current_user`). */
  async userModules(userId: string): Promise<UserMfaModule[]> {
    const settings = await this.options.store.listMfaSettings(userId);
    return [...this.options.modules.values()].map((m) => ({ id: m.id, name: m.name, enabled: Object.hasOwn(settings, m.id) }));
  }
}
