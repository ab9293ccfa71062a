/** Assertions of the kit: decoding with the shared codecs, and failures that say what the server sent and what was expected. */
import { AssertionError } from 'node:assert';
import type * as t from 'io-ts';
import { describeErrors, ResultError, type ErrorCode, type ServerMessage } from '@flowgate/shared';

/** Longest excerpt of a server message quoted in a failure: enough to recognise it, short enough to read in a terminal. */
const QUOTE_CHARS = 400;

export function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}...` : text;
}

export function fail(message: string): never {
  throw new AssertionError({ message });
}

/** `value` decoded with `codec`; a mismatch fails the case naming the field, in the words of the shared codecs. */
export function decode<A, O>(codec: t.Type<A, O, unknown>, value: unknown, what: string): A {
  const result = codec.decode(value);
  if (result._tag === 'Left') fail(`${what} does not match the protocol's ${codec.name}: ${describeErrors(result.left)}; got ${quote(value)}`);
  return result.right;
}

export function equal<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected)) fail(`${what}: expected ${quote(expected)}, got ${quote(actual)}`);
}

export function ok(condition: boolean, message: string): asserts condition {
  if (!condition) fail(message);
}

/** The reply is a `result` error with `code` (and, when given, `id`): its error body. */
export function errorOf(reply: ServerMessage, code: ErrorCode, what: string, id?: number): ResultError['error'] {
  if (!ResultError.is(reply)) fail(`${what}: expected the error "${code}", got ${quote(reply)}`);
  const error = reply;
  if (id !== undefined) equal(error.id, id, `${what}: the reply's id`);
  equal(error.error.code, code, `${what}: error.code`);
  return error.error;
}

/** Lowercase hex of exactly `length` characters (flow ids, codes, refresh tokens). */
export function isHex(value: unknown, length: number): boolean {
  return typeof value === 'string' && value.length === length && /^[0-9a-f]+$/.test(value);
}
