/** Small codecs every message family uses: bounded strings, positive ids, nullable values, well-formed text. */
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
/**
 * A command id: a positive safe integer (ids strictly increase per connection). Past 2^53 - 1 a JSON number no longer names
 * one integer (`9007199254740993` parses as `…992`): such an id would be answered under another number and, once taken as the
 * last id, make every later id of the connection look reused.
 */
export const PositiveInt = t.brand(t.Int, (n): n is t.Branded<t.Int, PositiveIntBrand> => n > 0 && Number.isSafeInteger(n), 'PositiveInt');
export type PositiveInt = t.TypeOf<typeof PositiveInt>;
codecJsonSchemas.set(PositiveInt, { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

/**
 * A UTF-16 code unit of a surrogate pair standing alone. JSON can carry one (`"\ud800"`, whatever the frame's own UTF-8), but
 * no Unicode text contains it: encoded as UTF-8 (for argon2, a store, a program's stdin) it turns into U+FFFD, so two
 * different strings would become the same bytes (a password set with `\ud800` would also log in with `\udbff`).
 */
const LONE_SURROGATE = /\p{Surrogate}/u;

/** True when `text` is well-formed UTF-16: every surrogate is part of a pair. */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** What a decoding failure says of text with a lone surrogate (the value itself is not echoed: it is no text to show). */
const ILL_FORMED_TEXT = 'expected well-formed text, got a string with a lone surrogate (an unpaired \\ud800-\\udfff escape)';

/**
 * A string of min..max characters (UTF-16 code units) that is well-formed text (no lone surrogate); its name says the bound,
 * so error messages are self-explaining.
 */
export function boundedString(max: number, min = 1): t.Type<string, string, unknown> {
  const inBounds = (u: unknown): u is string => typeof u === 'string' && u.length >= min && u.length <= max;
  const codec = new t.Type<string, string, unknown>(
    `string of ${min}..${max} characters`,
    (u): u is string => inBounds(u) && isWellFormedText(u),
    (u, c) => (!inBounds(u) ? t.failure(u, c) : isWellFormedText(u) ? t.success(u) : t.failure(u, c, ILL_FORMED_TEXT)),
    t.identity,
  );
  codecJsonSchemas.set(codec, { type: 'string', minLength: min, maxLength: max });
  return codec;
}

export function nullable<C extends t.Mixed>(codec: C): t.UnionC<[C, t.NullC]> {
  return t.union([codec, t.null]);
}

/**
 * True when every string in a parsed JSON value (object keys too, at any depth) is well-formed text. Iterative, so a deeply
 * nested frame cannot overflow the stack; the work is bounded by the frame or body size.
 */
export function isWellFormedJson(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') {
      if (!isWellFormedText(next)) return false;
    } else if (typeof next === 'object' && next !== null) {
      // Arrays too: their indexes are well-formed keys, their items are pushed like an object's values.
      for (const [key, item] of Object.entries(next)) {
        if (!isWellFormedText(key)) return false;
        pending.push(item);
      }
    }
  }
  return true;
}

/**
 * A JSON object whose strings are all well-formed text (see isWellFormedJson): `user_input`, whose fields are checked against
 * the form's schema only after it is decoded, and must not be folded into other text before that. A value that is no object
 * is refused as `t.UnknownRecord` refuses it (its name in the message).
 */
export const WellFormedRecord = new t.Type<Record<string, unknown>, Record<string, unknown>, unknown>(
  'WellFormedRecord',
  (u): u is Record<string, unknown> => t.UnknownRecord.is(u) && isWellFormedJson(u),
  (u, c) => {
    if (!t.UnknownRecord.is(u)) return t.UnknownRecord.validate(u, t.appendContext(c, '', t.UnknownRecord));
    return isWellFormedJson(u) ? t.success(u) : t.failure(u, c, ILL_FORMED_TEXT);
  },
  t.identity,
);
codecJsonSchemas.set(WellFormedRecord, { type: 'object' });

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
