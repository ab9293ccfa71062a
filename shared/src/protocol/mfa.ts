/** Multi-factor authentication: Home Assistant's `auth/setup_mfa` and `auth/depose_mfa`, the MFA login steps' names, and results. */
import * as t from 'io-ts';
import { HandlerKey } from './flow.js';
import { MAX_HANDLER_PART_LENGTH, MAX_OPAQUE_ID_LENGTH } from './limits.js';
import { boundedString, PositiveInt, WellFormedRecord } from './primitives.js';

export const MfaModuleId = boundedString(MAX_HANDLER_PART_LENGTH);

/**
 * Starts a module's setup flow (`mfa_module_id`) or continues one (`flow_id` and `user_input`); exactly one of the two. Answers
 * the flow's next form, or its `create_entry` (an `MfaSetupEntry`).
 */
export const SetupMfaCommand = t.intersection([
  t.type({ id: PositiveInt, type: t.literal('auth/setup_mfa') }),
  t.partial({ mfa_module_id: MfaModuleId, flow_id: boundedString(MAX_OPAQUE_ID_LENGTH), user_input: WellFormedRecord }),
]);
export type SetupMfaCommand = t.TypeOf<typeof SetupMfaCommand>;

/** Turns a module off for the user; answers `"done"`. */
export const DeposeMfaCommand = t.type({ id: PositiveInt, type: t.literal('auth/depose_mfa'), mfa_module_id: MfaModuleId });
export type DeposeMfaCommand = t.TypeOf<typeof DeposeMfaCommand>;

export const DeposeMfaResult = t.literal('done');
export type DeposeMfaResult = t.TypeOf<typeof DeposeMfaResult>;

/** The end of a setup flow, as Home Assistant answers it: `data` is what the module shows once (e.g. recovery codes). */
export const MfaSetupEntry = t.type({
  type: t.literal('create_entry'),
  flow_id: t.string,
  handler: HandlerKey,
  title: t.string,
  data: t.UnknownRecord,
});
export type MfaSetupEntry = t.TypeOf<typeof MfaSetupEntry>;

/** One configured module in `auth/current_user`, with whether this user has it set up. */
export const UserMfaModule = t.type({ id: t.string, name: t.string, enabled: t.boolean });
export type UserMfaModule = t.TypeOf<typeof UserMfaModule>;

/**
 * The MFA login steps (Home Assistant's names): `select_mfa_module` (a form with the select `multi_factor_auth_module`, skipped
 * when one module is set up) then `mfa` (the module's form; placeholders `mfa_module_name`, `mfa_module_id`).
 */
export const MFA_STEP_IDS = { select: 'select_mfa_module', code: 'mfa' } as const;
export const MFA_MODULE_FIELD = 'multi_factor_auth_module';
