/** Multi-factor authentication on the client: the setup-flow driver, and what an MFA login form or setup form asks for. */
import * as t from 'io-ts';
import {
  AbortResult,
  FormResult,
  MFA_MODULE_FIELD,
  MFA_STEP_IDS,
  MenuResult,
  MfaSetupEntry,
} from '@flowgate/shared';
import type { FlowgateClient } from './client.js';
import { FlowAbortedError } from './errors.js';
import { asForm, retryOnLostConnection, type AnswerContext } from './login.js';

/** What `auth/setup_mfa` answers: the setup flow's next form (or menu), its end, or an abort. */
export const MfaSetupResult = t.union([FormResult, MenuResult, AbortResult, MfaSetupEntry]);
export type MfaSetupResult = t.TypeOf<typeof MfaSetupResult>;

export interface MfaSetupOptions {
  /** The module to set up, an `id` from `auth/current_user`'s `mfa_modules` (`totp`, `recovery`, ...). */
  readonly moduleId: string;
  /**
   * Returns the `user_input` for each form of the setup flow (totp: the `code` the app shows for the secret in
   * `description_placeholders.code` / `url` / `qr_code`; notify: the `target`, then the `code` sent to it). `resumed` is
   * always false: a setup flow cannot be fetched again after a reconnect.
   */
  readonly answer: (form: FormResult, context: AnswerContext) => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Aborting it stops the driver (the server's setup flow simply expires) and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * Drives a setup flow to its end and returns the entry: `data` is what the module shows once (recovery: `codes`). An `abort`
 * rejects with FlowAbortedError (`flow: 'mfa_setup'`). Starting is retried across reconnects (a flow started on a lost socket
 * just expires); an answer is not, since it may have been taken already: a lost one rejects with ConnectionLostError.
 */
export async function runMfaSetup(client: FlowgateClient, options: MfaSetupOptions): Promise<MfaSetupEntry> {
  const checkSignal = (): void => {
    if (options.signal?.aborted === true) throw options.signal.reason ?? new Error('aborted');
  };
  checkSignal();
  let result = await retryOnLostConnection(() => client.setupMfa(options.moduleId));
  let attempt = 0;
  let lastStep: string | undefined;
  while (result.type === 'form' || result.type === 'menu') {
    attempt = result.step_id === lastStep ? attempt + 1 : 1;
    lastStep = result.step_id;
    const form = asForm(result);
    const input = await options.answer(form, { attempt, resumed: false });
    checkSignal();
    result = await client.continueMfaSetup(form.flow_id, input);
  }
  if (result.type === 'abort') throw new FlowAbortedError(result.reason, 'mfa_setup');
  return result;
}

/** What an MFA login form asks: a choice among the user's modules, or one module's code. */
export type MfaLoginStep =
  | { readonly kind: 'select_module'; readonly modules: ReadonlyArray<{ readonly id: string; readonly name: string }> }
  | { readonly kind: 'code'; readonly moduleId: string; readonly moduleName: string };

/**
 * The MFA step a login form is (Home Assistant's `select_mfa_module` and `mfa`), or undefined for any other form: so a client
 * can say "Two-factor authentication" and name the module, while the fields themselves render like any form's.
 */
export function mfaLoginStep(form: Pick<FormResult, 'step_id' | 'data_schema' | 'description_placeholders'>): MfaLoginStep | undefined {
  if (form.step_id === MFA_STEP_IDS.select) {
    const field = form.data_schema.find((f) => f.name === MFA_MODULE_FIELD);
    const options = field?.type === 'select' ? field.options : [];
    return { kind: 'select_module', modules: options.map(([id, name]) => ({ id, name: name || id })) };
  }
  if (form.step_id === MFA_STEP_IDS.code) {
    const placeholders = form.description_placeholders ?? {};
    const moduleId = placeholders['mfa_module_id'] ?? '';
    return { kind: 'code', moduleId, moduleName: placeholders['mfa_module_name'] ?? moduleId };
  }
  return undefined;
}
