/** Turns io-ts codecs into JSON Schema (draft 7, which AsyncAPI's schema format extends), refusing any kind it cannot describe. */
import { codecJsonSchemas, GROUP_IDS } from '@flowgate/shared';
import * as t from 'io-ts';

export type JsonSchema = { [key: string]: unknown };

/**
 * Refinements that io-ts keeps as a bare predicate and that shared does not export (so `codecJsonSchemas` has no entry for
 * them), keyed by the refinement's name: what the predicate checks, as JSON Schema. A refinement missing here and there stops
 * the generator, so a new check can never be documented as looser than it is without someone noticing.
 */
const REFINEMENTS_BY_NAME: Readonly<Record<string, JsonSchema>> = {
  'at most one entry per group': { maxItems: GROUP_IDS.length },
};

/**
 * io-ts's own codecs (`t.string`, `t.null`...): shared re-exports some under a name (`NullResult = t.null`), which must not
 * turn every null into a reference.
 */
const IO_TS_BUILTINS: ReadonlySet<unknown> = new Set(Object.values(t).filter(isCodec));

export function isCodec(value: unknown): value is t.Mixed {
  return value instanceof t.Type;
}

/** A codec io-ts knows by kind, read through its public fields (the `_tag` union io-ts documents). */
type Tagged = t.Mixed & { readonly _tag?: string };

/** Keys JSON Schema draft 7 shows for a plain object part, the only parts an intersection may be merged from. */
const MERGEABLE_OBJECT_KEYS = new Set(['type', 'properties', 'required']);

/**
 * Writes the schema of codecs, naming every codec shared exports (by its export name) once under `components.schemas` and
 * referring to it elsewhere, so the document reads like the codecs: `handler: $ref HandlerKey`.
 */
export class SchemaWriter {
  readonly #names: ReadonlyMap<t.Mixed, string>;
  readonly #components = new Map<string, JsonSchema>();
  readonly #inProgress = new Set<string>();

  /** `exports`: the module namespace of @flowgate/shared; its codecs become the named components. */
  constructor(exports: Readonly<Record<string, unknown>>) {
    const names = new Map<t.Mixed, string>();
    for (const [name, value] of Object.entries(exports).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (isCodec(value) && !IO_TS_BUILTINS.has(value) && !names.has(value)) names.set(value, name);
    }
    this.#names = names;
  }

  nameOf(codec: t.Mixed): string | undefined {
    return this.#names.get(codec);
  }

  /** A `$ref` for a named codec (writing its component the first time), the schema itself for any other. */
  schemaOf(codec: t.Mixed, path: string): JsonSchema {
    const name = this.#names.get(codec);
    if (name === undefined) return this.inline(codec, path);
    if (!this.#components.has(name) && !this.#inProgress.has(name)) {
      this.#inProgress.add(name);
      this.#components.set(name, this.inline(codec, name));
      this.#inProgress.delete(name);
    }
    return { $ref: `#/components/schemas/${name}` };
  }

  /** Every component written so far, sorted by name so the document's diff stays small when a codec is added. */
  components(): Record<string, JsonSchema> {
    return Object.fromEntries([...this.#components.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** The schema of the codec itself, even when it has a name (a message payload built around a named codec's fields). */
  inline(codec: t.Mixed, path: string): JsonSchema {
    const hint = codecJsonSchemas.get(codec);
    if (hint !== undefined) return { ...hint };
    const c = codec as Tagged;
    switch (c._tag) {
      case 'StringType':
        return { type: 'string' };
      case 'NumberType':
        return { type: 'number' };
      case 'BooleanType':
        return { type: 'boolean' };
      case 'NullType':
        return { type: 'null' };
      case 'UnknownType':
      case 'AnyType':
        return { description: 'Any JSON value.' };
      case 'AnyDictionaryType':
        return { type: 'object' };
      case 'AnyArrayType':
        return { type: 'array' };
      case 'LiteralType':
        return literal((codec as t.LiteralC<string | number | boolean>).value, path);
      case 'KeyofType':
        return { type: 'string', enum: Object.keys((codec as t.KeyofC<Record<string, unknown>>).keys) };
      case 'InterfaceType':
        return this.#object((codec as t.TypeC<t.Props>).props, true, path);
      case 'PartialType':
        return this.#object((codec as t.PartialC<t.Props>).props, false, path);
      case 'ExactType':
        return { ...this.schemaOf((codec as t.ExactC<t.HasProps>).type, path), additionalProperties: false };
      case 'ReadonlyType':
        return this.schemaOf((codec as t.ReadonlyC<t.Mixed>).type, path);
      case 'ArrayType':
      case 'ReadonlyArrayType':
        return { type: 'array', items: this.schemaOf((codec as t.ArrayC<t.Mixed>).type, `${path}[]`) };
      case 'TupleType': {
        const types = (codec as t.TupleC<[t.Mixed, ...t.Mixed[]]>).types as readonly t.Mixed[];
        // io-ts accepts (and drops) extra elements, so only the minimum is a rule.
        return { type: 'array', items: types.map((m, i) => this.schemaOf(m, `${path}[${i}]`)), minItems: types.length };
      }
      case 'DictionaryType':
        return this.#dictionary(codec as t.RecordC<t.Mixed, t.Mixed>, path);
      case 'UnionType':
        return this.#union((codec as t.UnionC<[t.Mixed, t.Mixed, ...t.Mixed[]]>).types, path);
      case 'IntersectionType':
        return this.#intersection((codec as t.IntersectionC<[t.Mixed, t.Mixed, ...t.Mixed[]]>).types, path);
      case 'RefinementType':
        return this.#refinement(codec as t.RefinementC<t.Mixed>, path);
      default:
        throw new Error(
          `${path}: cannot describe the codec "${codec.name}" (${c._tag ?? 'a custom t.Type'}) as JSON Schema. ` +
            'Give it a schema in codecJsonSchemas (shared/src/protocol/primitives.ts) or teach scripts/asyncapi/json-schema.ts its kind.',
        );
    }
  }

  #object(props: t.Props, required: boolean, path: string): JsonSchema {
    const keys = Object.keys(props);
    const properties = Object.fromEntries(keys.map((key) => [key, this.schemaOf(props[key] as t.Mixed, `${path}.${key}`)]));
    return { type: 'object', properties, ...(required && keys.length > 0 ? { required: keys } : {}) };
  }

  #dictionary(codec: t.RecordC<t.Mixed, t.Mixed>, path: string): JsonSchema {
    const values = this.schemaOf(codec.codomain, `${path}.*`);
    if ((codec.domain as Tagged)._tag === 'StringType') return { type: 'object', additionalProperties: values };
    return { type: 'object', propertyNames: this.schemaOf(codec.domain, `${path} keys`), additionalProperties: values };
  }

  /** A union of literals is an enum; any other union is an `anyOf` (io-ts takes the first member that matches). */
  #union(types: readonly t.Mixed[], path: string): JsonSchema {
    const members = types.map((m, i) => this.schemaOf(m, `${path}|${i}`));
    if (members.every((m) => 'const' in m && Object.keys(m).length === 2)) {
      const kinds = new Set(members.map((m) => m.type));
      return { ...(kinds.size === 1 ? { type: members[0]?.type } : {}), enum: members.map((m) => m.const) };
    }
    return { anyOf: members };
  }

  /** Plain object parts (`t.type` & `t.partial`) merge into one object, as a reader expects; anything else stays an `allOf`. */
  #intersection(types: readonly t.Mixed[], path: string): JsonSchema {
    const parts = types.map((m, i) => this.schemaOf(m, `${path}&${i}`));
    const mergeable = parts.every((p) => p.type === 'object' && Object.keys(p).every((key) => MERGEABLE_OBJECT_KEYS.has(key)));
    if (!mergeable) return { allOf: parts };
    const properties: Record<string, unknown> = {};
    const required: string[] = [];
    for (const part of parts) {
      for (const [key, schema] of Object.entries((part.properties ?? {}) as Record<string, unknown>)) {
        if (key in properties) throw new Error(`${path}: the intersection declares ${key} twice; describe it by hand or split the codec`);
        properties[key] = schema;
      }
      required.push(...((part.required ?? []) as string[]));
    }
    return { type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
  }

  #refinement(codec: t.RefinementC<t.Mixed>, path: string): JsonSchema {
    if (codec === (t.Int as unknown)) return { type: 'integer' };
    const rule = REFINEMENTS_BY_NAME[codec.name];
    if (rule === undefined) {
      throw new Error(
        `${path}: the refinement "${codec.name}" hides its rule in a predicate. Give it a schema in codecJsonSchemas ` +
          '(shared/src/protocol/primitives.ts) or in REFINEMENTS_BY_NAME (scripts/asyncapi/json-schema.ts).',
      );
    }
    return { ...this.inline(codec.type, path), ...rule };
  }
}

function literal(value: string | number | boolean | null, path: string): JsonSchema {
  if (value === null) return { type: 'null', const: null };
  const type = typeof value;
  if (type !== 'string' && type !== 'number' && type !== 'boolean') throw new Error(`${path}: a literal of type ${type} is not JSON`);
  return { type, const: value };
}
