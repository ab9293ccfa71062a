/**
 * The MFA module contract (Home Assistant's `MultiFactorAuthModule`): a setup flow, the user's settings in the store, and the
 * check of the `mfa` login step. Modules are plugins: a factory with its own config codec, found by `type` in the registry.
 */
import * as t from 'io-ts';
import type { DataSchema } from '@flowgate/shared';
import type { AnyFlowHandler } from '../flow/index.js';
import type { MfaCodePurpose, MfaCodeResult } from '../observability/metrics.js';
import type { ServerSecret } from '../secrets/server-secret.js';
import type { MfaStore } from '../store/mfa.js';
import type { JsonObject, LeaseStore } from '../store/types.js';

/** Who a setup flow is for: kept with the flow, so any instance continues it, and only this user may. */
export const MfaSetupContext = t.type({
  userId: t.string,
  /** The user's display name, for what the module shows (the TOTP app's account label). */
  userName: t.string,
});
export type MfaSetupContext = t.TypeOf<typeof MfaSetupContext>;

export interface MfaModule {
  readonly type: string;
  /** Unique among the configured modules; defaults to the type. */
  readonly id: string;
  /** Shown to people (the `select_mfa_module` choices, `mfa_module_name`). */
  readonly name: string;
  /** The form of the `mfa` login step (HA's `input_schema`), e.g. one `code` field. */
  readonly inputSchema: DataSchema;
  /** Wrong answers at the `mfa` step before the login aborts with `too_many_retry` (HA: 3, totp 5). */
  readonly maxRetries: number;
  /**
   * The setup flow (HA's `async_setup_flow`), a handler whose steps ask what the module needs. Its `create_entry` data is handed
   * to `setupUser` once the flow's end committed in the store; its key is `[module id, null]`.
   */
  readonly setupFlow: AnyFlowHandler<MfaSetupContext>;
  /** Keeps what a finished setup flow found; returns what the client is shown (HA's `{"result": ...}`), never a stored secret's hash. */
  setupUser(userId: string, data: JsonObject): Promise<JsonObject>;
  /** Removes the user's settings; afterwards the module is no longer asked at login. */
  deposeUser(userId: string): Promise<void>;
  isUserSetup(userId: string): Promise<boolean>;
  /**
   * Called when the `mfa` step is first shown for this module (notify: makes a code and sends it). What it returns is kept in
   * the flow's state and given to `validate`; it must not hold a secret in clear (store hashes). A ServiceError (`rate_limited`
   * past the user's cap of codes) is the step's answer, the flow left where it was; any other error aborts the login with
   * `unknown_error`.
   */
  beginLogin?(userId: string): Promise<JsonObject>;
  /**
   * True when `input` (the `mfa` form's answer) is right. One-time codes are used up here, atomically in the store, so the same
   * code checked twice (on two instances at once, or replayed later) is right at most once.
   */
  validate(userId: string, input: Readonly<Record<string, unknown>>, loginState: JsonObject): Promise<boolean>;
}

export interface MfaModuleDependencies {
  readonly store: MfaStore;
  /** The embedded store's folder: where a module may keep a generated key when its config gives none. */
  readonly dataDir: string;
  /** True when the store is shared by several instances (Redis): a generated local key would not be shared, so one is required. */
  readonly sharedStore: boolean;
  /** The server's `secret_key`: what a module seals its secrets with unless its own config names a key (secret-box.ts). */
  readonly serverSecret: ServerSecret;
  /**
   * Told of every code message a module sends, or refuses to send past the user's cap (notify), for the metrics; a failed
   * delivery with its cause, for the operator's log (the client is told only `unknown_error`).
   */
  readonly onCodeMessage?: (purpose: MfaCodePurpose, result: MfaCodeResult, error?: unknown) => void;
  /**
   * The store's lease sets, which bound what a module sends per user across instances (user-caps.ts). A module that sends
   * messages (notify) refuses to be created without them; the others need none.
   */
  readonly leases?: LeaseStore;
}

/** A module plugin: its config codec (which fixes its `type`; `id` and `name` are common to all) and a factory. */
export interface MfaModuleFactory<Config extends { type: string; id?: string | undefined; name?: string | undefined }> {
  readonly type: Config['type'];
  readonly configCodec: t.Type<Config, unknown, unknown>;
  create(config: Config, dependencies: MfaModuleDependencies): MfaModule;
}

/** The id and name a module config gives, with HA's defaults: the id is the type; the name, the module's own default. */
export function moduleIdentity(config: { type: string; id?: string | undefined; name?: string | undefined }, defaultName: string) {
  return { id: config.id ?? config.type, name: config.name ?? defaultName };
}
