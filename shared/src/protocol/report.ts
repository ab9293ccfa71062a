/** Turns io-ts validation errors into one readable sentence that names the offending field. */
import type * as t from 'io-ts';

/** `a.b[0].c` for the path of one error, skipping the steps io-ts adds for unions and intersections. */
export function errorPath(context: t.Context): string {
  let path = '';
  context.forEach((entry, index) => {
    if (index === 0 || entry.key === '') return;
    const parent = context[index - 1]?.type as { _tag?: string } | undefined;
    if (parent?._tag === 'UnionType' || parent?._tag === 'IntersectionType') return;
    path += /^\d+$/.test(entry.key) ? `[${entry.key}]` : path === '' ? entry.key : `.${entry.key}`;
  });
  return path;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** One error as `field: expected X, got Y` (or `field is required`). */
export function describeError(error: t.ValidationError): string {
  const path = errorPath(error.context) || 'the message';
  if (error.message !== undefined) return `${path}: ${error.message}`;
  const expected = error.context[error.context.length - 1]?.type.name ?? 'another value';
  if (error.value === undefined) return `${path} is required (${expected})`;
  const shortExpected = expected.length > 80 ? 'a different value' : expected;
  return `${path}: expected ${shortExpected}, got ${describeValue(error.value)}`;
}

/** All distinct errors joined; the first few are enough for a person to fix the message. */
export function describeErrors(errors: t.Errors, max = 3): string {
  const lines = [...new Set(errors.map(describeError))];
  const shown = lines.slice(0, max).join('; ');
  return lines.length > max ? `${shown}; and ${lines.length - max} more` : shown;
}

/** The top-level field names an error set is about (for `errors` maps keyed by field). */
export function errorFields(errors: t.Errors): string[] {
  return [...new Set(errors.map((e) => errorPath(e.context).split(/[.[]/)[0] ?? ''))];
}
