/** `data_schema`: the typed description of a form's fields (voluptuous-serialize's shapes, as Home Assistant sends them). */
import * as t from 'io-ts';

const FieldMarkers = t.partial({
  required: t.literal(true),
  optional: t.literal(true),
  default: t.unknown,
  description: t.string,
});

export const StringField = t.intersection([
  t.type({ name: t.string, type: t.literal('string') }),
  FieldMarkers,
  t.partial({ lengthMin: t.number, lengthMax: t.number }),
]);
export type StringField = t.TypeOf<typeof StringField>;

export const IntegerField = t.intersection([
  t.type({ name: t.string, type: t.literal('integer') }),
  FieldMarkers,
  t.partial({ valueMin: t.number, valueMax: t.number }),
]);
export type IntegerField = t.TypeOf<typeof IntegerField>;

export const FloatField = t.intersection([
  t.type({ name: t.string, type: t.literal('float') }),
  FieldMarkers,
  t.partial({ valueMin: t.number, valueMax: t.number }),
]);
export type FloatField = t.TypeOf<typeof FloatField>;

export const BooleanField = t.intersection([t.type({ name: t.string, type: t.literal('boolean') }), FieldMarkers]);
export type BooleanField = t.TypeOf<typeof BooleanField>;

/**
 * A choice among `options`, each `[value, label]`. With `custom_value` (Home Assistant's select selector option of that name) a
 * value outside them is not a field error: the step itself judges it (the MFA module choice answers `invalid_auth_module`).
 */
export const SelectField = t.intersection([
  t.type({ name: t.string, type: t.literal('select'), options: t.array(t.tuple([t.string, t.string])) }),
  t.partial({ custom_value: t.boolean }),
  FieldMarkers,
]);
export type SelectField = t.TypeOf<typeof SelectField>;

export const SchemaField = t.union([StringField, IntegerField, FloatField, BooleanField, SelectField]);
export type SchemaField = t.TypeOf<typeof SchemaField>;

export const FieldType = t.keyof({ string: null, integer: null, float: null, boolean: null, select: null });
export type FieldType = t.TypeOf<typeof FieldType>;

export const DataSchema = t.array(SchemaField);
export type DataSchema = t.TypeOf<typeof DataSchema>;

/** Error keys a field may carry in `errors` when `user_input` does not match the schema. */
export const FieldErrorKey = t.keyof({
  required: null,
  invalid_type: null,
  too_long: null,
  too_short: null,
  out_of_range: null,
  invalid_option: null,
  unknown_field: null,
});
export type FieldErrorKey = t.TypeOf<typeof FieldErrorKey>;
