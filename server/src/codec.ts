/** io-ts helpers for configuration: objects that refuse unknown keys, so a typo in a config file is reported, not ignored. */
import * as t from 'io-ts';

/**
 * Like `t.type(required)` plus `t.partial(optional)`, but any other key fails with "unknown key", its path naming it
 * (io-ts's own `t.strict` silently drops unknown keys, which hides typos).
 */
export function closedObject<R extends t.Props, O extends t.Props>(
  name: string,
  required: R,
  optional: O,
): t.Type<t.TypeOf<t.TypeC<R>> & t.TypeOf<t.PartialC<O>>, unknown, unknown> {
  const inner = t.intersection([t.type(required), t.partial(optional)]);
  const allowed = new Set([...Object.keys(required), ...Object.keys(optional)]);
  return new t.Type(
    name,
    (u): u is t.TypeOf<t.TypeC<R>> & t.TypeOf<t.PartialC<O>> => inner.is(u),
    (u, c) => {
      if (typeof u === 'object' && u !== null && !Array.isArray(u)) {
        const unknownKey = Object.keys(u).find((key) => !allowed.has(key));
        if (unknownKey !== undefined) {
          return t.failure((u as Record<string, unknown>)[unknownKey], [...c, { key: unknownKey, type: t.never, actual: u }],
            `unknown key (allowed: ${[...allowed].join(', ')})`);
        }
      }
      // An empty-key step marks the intersection as such, so error paths skip its member indexes.
      return inner.validate(u, [...c, { key: '', type: inner, actual: u }]);
    },
    t.identity,
  );
}
