/** The stored form of a flow: plain JSON, decoded with io-ts whenever it is read back from the store. */
import * as t from 'io-ts';
import { DataSchema, HandlerKey, StringMap } from '@flowgate/shared';
import type { JsonObject } from '../store/types.js';

const JsonObjectCodec = new t.Type<JsonObject, JsonObject, unknown>(
  'JsonObject',
  (u): u is JsonObject => typeof u === 'object' && u !== null && !Array.isArray(u),
  (u, c) => (typeof u === 'object' && u !== null && !Array.isArray(u) ? t.success(u as JsonObject) : t.failure(u, c)),
  t.identity,
);

export const StoredForm = t.type({
  data_schema: DataSchema,
  errors: t.union([StringMap, t.null]),
  description_placeholders: t.union([StringMap, t.null]),
  last_step: t.union([t.boolean, t.null]),
});
export type StoredForm = t.TypeOf<typeof StoredForm>;

export const FlowRecord = t.type({
  handler: HandlerKey,
  context: t.intersection([
    t.type({
      client_id: t.string,
      redirect_uri: t.union([t.string, t.null]),
      remote_address: t.union([t.string, t.null]),
    }),
    // Optional, so flows stored by an earlier version still decode.
    t.partial({ device: t.union([t.type({ id: t.string, account: t.string }), t.null]) }),
  ]),
  step_id: t.string,
  form: StoredForm,
  state: JsonObjectCodec,
  created_at: t.number,
});
export type FlowRecord = t.TypeOf<typeof FlowRecord>;
