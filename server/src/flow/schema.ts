/** Form schemas: built from a typed description, sent as `data_schema`, and used to check `user_input` against it. */
import {
  MAX_USER_INPUT_FIELDS,
  MAX_USER_INPUT_STRING_LENGTH,
  type BooleanField,
  type DataSchema,
  type FieldErrorKey,
  type FloatField,
  type IntegerField,
  type SchemaField,
  type SelectField,
  type StringField,
} from '@flowgate/shared';

/** A field description that also carries, as a phantom type, the value it produces. */
export type TypedField<F extends SchemaField, V> = F & { readonly __value?: V };

/** `{ required: true }` or `{ optional: true }`, known to the type system so `InputOf` can tell them apart. */
type Presence<R extends boolean> = R extends true ? { required: true } : { optional: true };
const presence = <R extends boolean>(required: R | undefined): Presence<R> =>
  (required === false ? { optional: true } : { required: true }) as Presence<R>;

type StringOptions<R extends boolean> = { required?: R; lengthMin?: number; lengthMax?: number };
type NumberOptions<R extends boolean> = { required?: R; valueMin?: number; valueMax?: number };

const optionalNumber = <K extends string>(key: K, value: number | undefined): { [P in K]?: number } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };

/** Attaches the phantom value type and the presence marker to a wire field (they exist only for the type checker). */
const typed = <F extends SchemaField, V, R extends boolean>(wire: F): TypedField<F, V> & Presence<R> =>
  wire as TypedField<F, V> & Presence<R>;

/** Builders for each field type of the protocol. */
export const field = {
  string: <R extends boolean = true>(name: string, options: StringOptions<R> = {}) =>
    typed<StringField, string, R>({
      name,
      type: 'string',
      ...presence(options.required),
      ...optionalNumber('lengthMin', options.lengthMin),
      ...optionalNumber('lengthMax', options.lengthMax),
    }),
  integer: <R extends boolean = true>(name: string, options: NumberOptions<R> = {}) =>
    typed<IntegerField, number, R>({
      name,
      type: 'integer',
      ...presence(options.required),
      ...optionalNumber('valueMin', options.valueMin),
      ...optionalNumber('valueMax', options.valueMax),
    }),
  float: <R extends boolean = true>(name: string, options: NumberOptions<R> = {}) =>
    typed<FloatField, number, R>({
      name,
      type: 'float',
      ...presence(options.required),
      ...optionalNumber('valueMin', options.valueMin),
      ...optionalNumber('valueMax', options.valueMax),
    }),
  boolean: <R extends boolean = true>(name: string, options: { required?: R } = {}) =>
    typed<BooleanField, boolean, R>({ name, type: 'boolean', ...presence(options.required) }),
  select: <R extends boolean = true>(
    name: string,
    options: ReadonlyArray<readonly [string, string]>,
    settings: { required?: R } = {},
  ) =>
    typed<SelectField, string, R>({
      name,
      type: 'select',
      options: options.map(([value, label]): [string, string] => [value, label]),
      ...presence(settings.required),
    } as SelectField),
};

type AnyTypedField = TypedField<SchemaField, unknown>;
type ValueOf<F> = F extends { readonly __value?: infer V } ? V : never;

/** The input a schema produces: required fields are present, optional ones may be missing. */
export type InputOf<Fields extends Record<string, AnyTypedField>> = {
  [K in keyof Fields as Fields[K] extends { required: true } ? K : never]: ValueOf<Fields[K]>;
} & {
  [K in keyof Fields as Fields[K] extends { required: true } ? never : K]?: ValueOf<Fields[K]>;
};

/** A value that passed `validateInput`: only the schema's fields, each of its declared type. */
export type ValidInput = Readonly<Record<string, string | number | boolean>>;

/** A form definition: its wire schema, plus a typed view of input that already passed validation. */
export interface FormSchema<T> {
  readonly dataSchema: DataSchema;
  read(input: ValidInput): T;
}

export function defineForm<Fields extends Record<string, AnyTypedField>>(fields: Fields): FormSchema<InputOf<Fields>> {
  const dataSchema = Object.values(fields).map(({ __value: _ignored, ...wire }) => wire as SchemaField);
  return { dataSchema, read: (input) => input as unknown as InputOf<Fields> };
}

function checkValue(schemaField: SchemaField, value: unknown): FieldErrorKey | undefined {
  switch (schemaField.type) {
    case 'string': {
      if (typeof value !== 'string') return 'invalid_type';
      const max = Math.min(schemaField.lengthMax ?? MAX_USER_INPUT_STRING_LENGTH, MAX_USER_INPUT_STRING_LENGTH);
      if (value.length > max) return 'too_long';
      if (value.length < (schemaField.lengthMin ?? 0)) return 'too_short';
      return undefined;
    }
    case 'integer':
    case 'float': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'invalid_type';
      if (schemaField.type === 'integer' && !Number.isInteger(value)) return 'invalid_type';
      if (value < (schemaField.valueMin ?? -Infinity) || value > (schemaField.valueMax ?? Infinity)) return 'out_of_range';
      return undefined;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'invalid_type';
    case 'select':
      if (typeof value !== 'string') return 'invalid_type';
      if (schemaField.custom_value === true) return value.length > MAX_USER_INPUT_STRING_LENGTH ? 'too_long' : undefined;
      return schemaField.options.some(([option]) => option === value) ? undefined : 'invalid_option';
  }
}

export type InputCheck = { ok: true; input: ValidInput } | { ok: false; errors: Record<string, FieldErrorKey> };

/**
 * Checks `user_input` against a form's schema, as voluptuous does for Home Assistant: every bad or missing field is named
 * in `errors`; a key the form does not have is an error too (the first one only, so a client cannot make us echo a flood).
 */
export function validateInput(schema: DataSchema, userInput: Record<string, unknown>): InputCheck {
  // Null-prototype objects: a `__proto__` key from the client is then an ordinary key, never the prototype.
  const errors: Record<string, FieldErrorKey> = Object.create(null) as Record<string, FieldErrorKey>;
  const input: Record<string, string | number | boolean> = Object.create(null) as Record<string, string | number | boolean>;
  const known = new Set(schema.map((f) => f.name));
  const unknownKey = Object.keys(userInput).find((key) => !known.has(key));
  if (unknownKey !== undefined) errors[unknownKey.slice(0, 64)] = 'unknown_field';
  if (Object.keys(userInput).length > MAX_USER_INPUT_FIELDS) errors['base'] = 'unknown_field';

  for (const schemaField of schema) {
    const value = Object.hasOwn(userInput, schemaField.name) ? userInput[schemaField.name] : undefined;
    if (value === undefined || value === null) {
      if (schemaField.default !== undefined) input[schemaField.name] = schemaField.default as string | number | boolean;
      else if (schemaField.required === true) errors[schemaField.name] = 'required';
      continue;
    }
    const problem = checkValue(schemaField, value);
    if (problem === undefined) input[schemaField.name] = value as string | number | boolean;
    else errors[schemaField.name] = problem;
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, input };
}
