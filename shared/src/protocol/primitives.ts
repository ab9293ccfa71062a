/** Small codecs every message family uses: bounded strings, positive ids, nullable values. */
import { right, type Either } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';

/**
 * The JSON Schema of codecs whose check io-ts cannot show (a refinement's predicate, a custom type's bounds), for tools that
 * describe the protocol from the codecs (`npm run asyncapi` writes docs/asyncapi.yaml). A WeakMap, so it holds no codec alive.
 */
export const codecJsonSchemas = new WeakMap<t.Any, Readonly<Record<string, unknown>>>();

export interface PositiveIntBrand {
  readonly PositiveInt: unique symbol;
}
/** A command id: a positive integer (ids strictly increase per connection). */
export const PositiveInt = t.brand(t.Int, (n): n is t.Branded<t.Int, PositiveIntBrand> => n > 0, 'PositiveInt');
export type PositiveInt = t.TypeOf<typeof PositiveInt>;
codecJsonSchemas.set(PositiveInt, { type: 'integer', minimum: 1 });

/** A string of 1..max characters; its name says the bound, so error messages are self-explaining. */
export function boundedString(max: number, min = 1): t.Type<string, string, unknown> {
  const codec = new t.Type<string, string, unknown>(
    `string of ${min}..${max} characters`,
    (u): u is string => typeof u === 'string' && u.length >= min && u.length <= max,
    (u, c) => (typeof u === 'string' && u.length >= min && u.length <= max ? t.success(u) : t.failure(u, c)),
    t.identity,
  );
  codecJsonSchemas.set(codec, { type: 'string', minLength: min, maxLength: max });
  return codec;
}

export function nullable<C extends t.Mixed>(codec: C): t.UnionC<[C, t.NullC]> {
  return t.union([codec, t.null]);
}

/** A record of string to string, as `errors` and `description_placeholders` are. */
export const StringMap = t.record(t.string, t.string);
export type StringMap = t.TypeOf<typeof StringMap>;

/**
 * `codec.decode(value)` without its cost for a value that already is of the type: `is` checks it without building io-ts's
 * context and results (about half the time of `decode`), and only a value it refuses is decoded, for its errors. The two agree
 * for codecs that do not change what they decode, which is every codec of this protocol and of Flowgate's stored records.
 */
export function decodeValid<A, O>(codec: t.Type<A, O, unknown>, value: unknown): Either<t.Errors, A> {
  return codec.is(value) ? right(value) : codec.decode(value);
}
