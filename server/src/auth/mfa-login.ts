/**
 * The MFA part of a login flow (Home Assistant's `select_mfa_module` and `mfa` steps): a handler the provider's flow is handed
 * to when its user has modules set up. Its state (the user, the chosen module, the module's login state, the wrong answers)
 * lives in the flow, so the password step can run on one instance and the code step on another.
 */
import { MFA_MODULE_FIELD, MFA_STEP_IDS, type DataSchema, type HandlerKey, type StringMap } from '@flowgate/shared';
import {
  abort,
  createEntry,
  defineFlowHandler,
  handOver,
  showForm,
  type AnyFlowHandler,
  type Step,
  type StepOutcome,
} from '../flow/index.js';
import { ServiceError } from '../errors.js';
import type { MfaModule } from '../mfa/module.js';
import type { AuthProvider } from '../providers/registry.js';
import type { MfaStore } from '../store/mfa.js';
import type { JsonObject } from '../store/types.js';
import type { LoginContext } from './login-context.js';
import { accountKey, type AccountOf } from './login-guard.js';

/** The handler key the engine knows the MFA steps by; never a provider's, and `startLogin` never starts a flow with it. */
export const MFA_LOGIN_HANDLER: HandlerKey = ['mfa', null];

/** The keys of the MFA steps' entry: the credential and the account the provider step proved (no provider's entry uses them). */
export const MFA_ENTRY = { credential: 'mfa_credential_id', account: 'mfa_account' } as const;

/** Home Assistant's MFA_SESSION_EXPIRATION: the code must come within 5 minutes of the flow's start (not of the MFA step's). */
export const DEFAULT_MFA_SESSION_MS = 5 * 60 * 1000;

interface MfaLoginState extends JsonObject {
  user_id: string;
  credential_id: string;
  /** The account key and username the provider step proved: the brute-force limits count the code steps against them. */
  account: string;
  username: string;
  /** The modules this user has set up, in config order. */
  modules: string[];
  module_id: string | null;
  invalid_times: number;
  /** What the chosen module's beginLogin returned (a notify code's hash): kept for its validate, never sent to the client. */
  login: JsonObject;
}

type MfaStepId = typeof MFA_STEP_IDS.select | typeof MFA_STEP_IDS.code;

/** The MFA steps count against the account and device the password step proved. */
export const mfaAccount: AccountOf = ({ state }) =>
  typeof state['account'] === 'string' && typeof state['username'] === 'string' ? { account: state['account'], username: state['username'] } : null;

export interface MfaLoginOptions {
  /** How long after the flow's start a code is still taken. */
  readonly sessionMs?: number | undefined;
  readonly now?: () => number;
  /** Told why a module could not start its step (a notifier that failed): the client only sees `unknown_error`. */
  readonly onModuleError?: ((error: unknown, moduleId: string) => void) | undefined;
}

export function mfaLoginHandler(modules: ReadonlyMap<string, MfaModule>, options: MfaLoginOptions = {}): AnyFlowHandler<LoginContext> {
  const sessionMs = options.sessionMs ?? DEFAULT_MFA_SESSION_MS;
  const now = options.now ?? Date.now;
  const selectForm = (state: MfaLoginState, errors: StringMap | null = null): StepOutcome<MfaLoginState, MfaStepId> => {
    const options = state.modules.flatMap((id) => {
      const module = modules.get(id);
      return module === undefined ? [] : [[id, module.name] as [string, string]];
    });
    // custom_value: a choice outside the options reaches the step, which answers HA's `invalid_auth_module` for it.
    const schema: DataSchema = [{ name: MFA_MODULE_FIELD, type: 'select', required: true, options, custom_value: true }];
    return showForm(MFA_STEP_IDS.select, schema, state, { errors });
  };

  const mfaForm = (module: MfaModule, state: MfaLoginState, errors: StringMap | null = null): StepOutcome<MfaLoginState, MfaStepId> =>
    showForm(MFA_STEP_IDS.code, module.inputSchema, state, {
      errors,
      descriptionPlaceholders: { mfa_module_name: module.name, mfa_module_id: module.id },
    });

  /** The `mfa` step shown for the first time with this module: notify sends its code now (a failure aborts the login). */
  const startModule = async (state: MfaLoginState, moduleId: string): Promise<StepOutcome<MfaLoginState, MfaStepId>> => {
    const module = modules.get(moduleId);
    if (module === undefined || !state.modules.includes(moduleId)) return selectForm(state, { base: 'invalid_auth_module' });
    let login: JsonObject;
    try {
      login = (await module.beginLogin?.(state.user_id)) ?? {};
    } catch (error) {
      // A refusal meant for the person (too many codes sent, a store that does not answer) is the step's answer: the flow
      // stays where it was, to be tried again once `retry_after` has passed.
      if (error instanceof ServiceError) throw error;
      options.onModuleError?.(error, moduleId);
      return abort('unknown_error');
    }
    return mfaForm(module, { ...state, module_id: moduleId, login, invalid_times: 0 });
  };

  const init: Step<MfaLoginState, MfaStepId, LoginContext> = async ({ state }) => {
    const [only, ...others] = state.modules;
    return only !== undefined && others.length === 0 ? startModule(state, only) : selectForm(state);
  };

  return defineFlowHandler<MfaLoginState, MfaStepId, LoginContext>({
    key: MFA_LOGIN_HANDLER,
    initialState: () => {
      throw new Error('MFA login flows start by hand-over from a provider, never by themselves');
    },
    steps: {
      init,
      [MFA_STEP_IDS.select]: async ({ input, state }) => {
        if (input === undefined) return selectForm(state);
        const choice = input[MFA_MODULE_FIELD];
        return typeof choice === 'string' ? startModule(state, choice) : selectForm(state, { base: 'invalid_auth_module' });
      },
      [MFA_STEP_IDS.code]: async ({ input, state, createdAt }) => {
        const module = state.module_id === null ? undefined : modules.get(state.module_id);
        // The module was removed from the config meanwhile: choose again, as HA does.
        if (module === undefined) return selectForm(state, { base: 'invalid_auth_module' });
        if (input === undefined) return mfaForm(module, state);
        if (now() > createdAt + sessionMs) return abort('login_expired');
        if (await module.validate(state.user_id, input, state.login)) {
          return createEntry({ [MFA_ENTRY.credential]: state.credential_id, [MFA_ENTRY.account]: state.account });
        }
        const invalidTimes = state.invalid_times + 1;
        if (module.maxRetries > 0 && invalidTimes >= module.maxRetries) return abort('too_many_retry');
        return mfaForm(module, { ...state, invalid_times: invalidTimes }, { base: 'invalid_code' });
      },
    },
  });
}

/**
 * A provider's login flow that, instead of finishing, hands the flow to the MFA steps when the credential it proved belongs to a
 * user with modules set up (Home Assistant's `async_finish_flow`). A new credential never gets MFA. The check only reads, so a
 * step that loses its race has done nothing; what the provider's step wanted done after its commit still runs then.
 */
export function withMfaHandOver(
  provider: AuthProvider,
  handler: AnyFlowHandler<LoginContext>,
  modules: ReadonlyMap<string, MfaModule>,
  store: MfaStore,
): AnyFlowHandler<LoginContext> {
  // HA's `support_mfa`: a provider whose logins are not secrets (trusted_networks) never goes on to a second factor.
  if (modules.size === 0 || provider.supportsMfa === false) return handler;
  const handOverIfSetUp = async (outcome: StepOutcome<JsonObject, string>): Promise<StepOutcome<JsonObject, string>> => {
    if (outcome.kind !== 'create_entry') return outcome;
    const credential = (await provider.findCredential?.(outcome.data)) ?? null;
    const username = provider.loginAccount?.(outcome.data) ?? null;
    if (credential === null || credential.userId === null || username === null) return outcome;
    const settings = await store.listMfaSettings(credential.userId);
    const enabled = [...modules.keys()].filter((id) => Object.hasOwn(settings, id));
    if (enabled.length === 0) return outcome;
    const state: MfaLoginState = {
      user_id: credential.userId,
      credential_id: credential.id,
      account: accountKey(provider, username),
      username,
      modules: enabled,
      module_id: null,
      invalid_times: 0,
      login: {},
    };
    return handOver(MFA_LOGIN_HANDLER, state, outcome.effects);
  };
  const steps = Object.fromEntries(
    Object.entries(handler.steps).map(([id, step]) => [id, (async (args) => handOverIfSetUp(await step(args))) as Step<JsonObject, string, LoginContext>]),
  );
  return { ...handler, steps: steps as AnyFlowHandler<LoginContext>['steps'] };
}
