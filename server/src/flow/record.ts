/** The stored form of a flow: plain JSON, decoded with io-ts whenever it is read back from the store. */
import * as t from 'io-ts';
import { DataSchema, HandlerKey, StringMap } from '@flowgate/shared';
import type { JsonObject } from '../store/types.js';

export const JsonObjectCodec = new t.Type<JsonObject, JsonObject, unknown>(
  'JsonObject',
  (u): u is JsonObject => typeof u === 'object' && u !== null && !Array.isArray(u),
  (u, c) => (typeof u === 'object' && u !== null && !Array.isArray(u) ? t.success(u as JsonObject) : t.failure(u, c)),
  t.identity,
);

/** What the client was last shown: a form, or (with `menu_options`) a menu. */
export const StoredForm = t.intersection([
  t.type({
    data_schema: DataSchema,
    errors: t.union([StringMap, t.null]),
    description_placeholders: t.union([StringMap, t.null]),
    last_step: t.union([t.boolean, t.null]),
  }),
  t.partial({ menu_options: t.array(t.string) }),
]);
export type StoredForm = t.TypeOf<typeof StoredForm>;

export const FlowRecord = t.intersection([
  t.type({
    /** The handler the client started the flow with; what every result names. */
    handler: HandlerKey,
    /** The owner's value (e.g. who started a login flow), opaque to the engine. */
    context: JsonObjectCodec,
    step_id: t.string,
    form: StoredForm,
    state: JsonObjectCodec,
    created_at: t.number,
  }),
  /** The handler whose steps run now, when another one took the flow over (absent: `handler`). */
  t.partial({ owner: HandlerKey }),
]);
export type FlowRecord = t.TypeOf<typeof FlowRecord>;
