/** Login flows: the handler key, the flow results (Home Assistant's data_entry_flow shapes) and the login_flow/* commands. */
import * as t from 'io-ts';
import {
  MAX_CLIENT_ID_LENGTH,
  MAX_HANDLER_PART_LENGTH,
  MAX_OPAQUE_ID_LENGTH,
  MAX_REDIRECT_URI_LENGTH,
  MAX_TOKEN_LENGTH,
} from './limits.js';
import { boundedString, nullable, PositiveInt, StringMap, WellFormedRecord } from './primitives.js';
import { DataSchema } from './schema.js';

export const FlowId = boundedString(MAX_OPAQUE_ID_LENGTH);
export const ClientId = boundedString(MAX_CLIENT_ID_LENGTH);

/** `[provider type, provider id | null]`, e.g. `["password", null]`. */
export const HandlerKey = t.tuple([boundedString(MAX_HANDLER_PART_LENGTH), nullable(boundedString(MAX_HANDLER_PART_LENGTH))]);
export type HandlerKey = t.TypeOf<typeof HandlerKey>;

/** Every result type Home Assistant knows; this server produces form, menu, create_entry and abort (external is reserved). */
export const FlowResultType = t.keyof({ form: null, create_entry: null, abort: null, menu: null, external: null });
export type FlowResultType = t.TypeOf<typeof FlowResultType>;

export const FormResult = t.type({
  type: t.literal('form'),
  flow_id: t.string,
  handler: HandlerKey,
  step_id: t.string,
  data_schema: DataSchema,
  errors: nullable(StringMap),
  description_placeholders: nullable(StringMap),
  last_step: nullable(t.boolean),
  expires_at: t.string,
});
export type FormResult = t.TypeOf<typeof FormResult>;

/** `data` comes with the entries of MFA setup flows (Home Assistant's `{"result": ...}`); login flows carry the code in `result`. */
export const CreateEntryResult = t.intersection([
  t.type({
    type: t.literal('create_entry'),
    flow_id: t.string,
    handler: HandlerKey,
    result: t.string,
  }),
  t.partial({ data: t.UnknownRecord }),
]);
export type CreateEntryResult = t.TypeOf<typeof CreateEntryResult>;

export const AbortResult = t.type({
  type: t.literal('abort'),
  flow_id: t.string,
  handler: HandlerKey,
  reason: t.string,
  description_placeholders: nullable(StringMap),
});
export type AbortResult = t.TypeOf<typeof AbortResult>;

/** Home Assistant's `menu`: the next step is one of `menu_options`, chosen with `user_input: {"next_step_id": ...}`. */
export const MenuResult = t.type({
  type: t.literal('menu'),
  flow_id: t.string,
  handler: HandlerKey,
  step_id: t.string,
  menu_options: t.array(t.string),
  description_placeholders: nullable(StringMap),
  expires_at: t.string,
});
export type MenuResult = t.TypeOf<typeof MenuResult>;

export const FlowResult = t.union([FormResult, MenuResult, CreateEntryResult, AbortResult]);
export type FlowResult = t.TypeOf<typeof FlowResult>;

/** Abort reasons the server may send (open for providers to add their own; these are the ones it ships). */
export const KnownAbortReason = t.keyof({
  login_expired: null,
  too_many_retry: null,
  not_allowed: null,
  unknown_error: null,
  aborted: null,
});
export type KnownAbortReason = t.TypeOf<typeof KnownAbortReason>;

export const LoginFlowInit = t.intersection([
  t.type({ id: PositiveInt, type: t.literal('login_flow/init'), handler: HandlerKey, client_id: ClientId }),
  t.partial({
    redirect_uri: boundedString(MAX_REDIRECT_URI_LENGTH),
    /** The device token an earlier login on this device got (OWASP's device cookie): it exempts the device from account lockout. */
    device_token: boundedString(MAX_TOKEN_LENGTH),
    /**
     * Only on an authenticated socket: a login that confirms the socket's own user again (step-up, before a privileged command
     * answered `reauth_required`). Its `create_entry` renews the session's login time and carries no code (`result` is "").
     */
    reauthenticate: t.boolean,
  }),
]);
export type LoginFlowInit = t.TypeOf<typeof LoginFlowInit>;

export const LoginFlowStep = t.type({
  id: PositiveInt,
  type: t.literal('login_flow/step'),
  flow_id: FlowId,
  client_id: ClientId,
  /** Any fields (the form's schema checks them), but only well-formed text: a lone surrogate is `invalid_format`. */
  user_input: WellFormedRecord,
});
export type LoginFlowStep = t.TypeOf<typeof LoginFlowStep>;

export const LoginFlowGet = t.type({ id: PositiveInt, type: t.literal('login_flow/get'), flow_id: FlowId, client_id: ClientId });
export type LoginFlowGet = t.TypeOf<typeof LoginFlowGet>;

export const LoginFlowAbort = t.type({ id: PositiveInt, type: t.literal('login_flow/abort'), flow_id: FlowId, client_id: ClientId });
export type LoginFlowAbort = t.TypeOf<typeof LoginFlowAbort>;
