/** fast-check arbitraries of hostile WebSocket frames: mutated commands, odd ids, deep and huge values, broken JSON, batches. */
import fc from 'fast-check';
import { MAX_BATCH_COMMANDS, MAX_FRAME_BYTES } from '@flowgate/shared';
import { TEST_CLIENT_ID } from './login.js';

/**
 * Frames are generated before the server has made any flow, code or token, so they name those values by placeholders; a
 * sender fills them in just before sending (`fillPlaceholders`). The seed thus reproduces the same frames on every run.
 */
export const PLACEHOLDERS = {
  flowId: '%%FLOW_ID%%',
  code: '%%CODE%%',
  refreshToken: '%%REFRESH_TOKEN%%',
  accessToken: '%%ACCESS_TOKEN%%',
  refreshTokenId: '%%REFRESH_TOKEN_ID%%',
  deviceToken: '%%DEVICE_TOKEN%%',
} as const;
export type PlaceholderValues = { readonly [K in keyof typeof PLACEHOLDERS]: string };

/** Bare (unquoted) placeholders: the next increasing id of the socket, and the last one it used (a reused id). */
const NEXT_ID = '%%NEXT_ID%%';
const LAST_ID = '%%LAST_ID%%';

/** JSON text written verbatim: numbers JSON.stringify cannot write (1e400, -0), broken syntax, nesting deeper than the stack. */
export class Raw {
  constructor(readonly text: string) {}
}
/** An object as a list of entries, so that `__proto__` and duplicate keys reach the wire as written. */
export class Obj {
  constructor(readonly entries: ReadonlyArray<readonly [string, Json]>) {}
}
export type Json = null | boolean | number | string | Raw | Obj | readonly Json[];

export function render(value: Json): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Obj) return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${render(v)}`).join(',')}}`;
  if (Array.isArray(value)) return `[${value.map(render).join(',')}]`;
  return JSON.stringify(value);
}

export type FrameEncoding = 'text' | 'binary' | 'invalid_utf8';

export interface FuzzFrame {
  /** What the frame exercises (for the run's statistics and failure reports). */
  readonly kind: string;
  readonly payload: string;
  readonly encoding: FrameEncoding;
  /** Pad with trailing JSON whitespace to exactly this many bytes after the placeholders are filled in. */
  readonly padTo?: number;
}

/** Fills the placeholders in; `nextId` is called once per NEXT_ID, in order, so a batch gets increasing ids. */
export function fillPlaceholders(frame: FuzzFrame, values: PlaceholderValues, nextId: () => number, lastId: number): string {
  let text = frame.payload.replaceAll(NEXT_ID, () => String(nextId())).replaceAll(LAST_ID, String(lastId));
  for (const key of Object.keys(PLACEHOLDERS) as Array<keyof typeof PLACEHOLDERS>) text = text.replaceAll(PLACEHOLDERS[key], values[key]);
  if (frame.padTo !== undefined) text += ' '.repeat(Math.max(0, frame.padTo - Buffer.byteLength(text)));
  return text;
}

const HANDLER = ['insecure_example', null];
/** Configured handlers, one that is not, and names a lookup by plain object would resolve to something. */
const HANDLERS: Json[] = [
  HANDLER, HANDLER, ['password', null], ['insecure_example', 'other'], ['__proto__', null], ['constructor', null],
  ['toString', null], ['insecure_example', '__proto__'], ['insecure_example'], ['insecure_example', null, 'extra'],
];

/** Long-lived token names come from a small set: a name in use is refused, so the fuzzer cannot fill a user's 100 tokens. */
const TOKEN_NAMES = ['fuzz', 'laptop', 'Ünïcødé 🦄', 'a'.repeat(256)];

/** One valid instance of every command, phase 1 and phase 2, with placeholders for the values only the server can make. */
const TEMPLATES: ReadonlyArray<fc.Arbitrary<Obj>> = [
  fc.constant(cmd('ping')),
  fc.constant(cmd('supported_features', [['features', new Obj([['coalesce_messages', 1]])]])),
  fc.constant(cmd('auth/providers')),
  fc.tuple(fc.constantFrom(...HANDLERS), fc.boolean()).map(([handler, device]) =>
    cmd('login_flow/init', [
      ['handler', handler],
      ['client_id', TEST_CLIENT_ID],
      ['redirect_uri', `${TEST_CLIENT_ID}callback`],
      ...(device ? [['device_token', PLACEHOLDERS.deviceToken] as const] : []),
    ]),
  ),
  fc.constantFrom('wonderland', 'wrong').map((password) =>
    cmd('login_flow/step', [...flowRef(), ['user_input', new Obj([['username', 'alice'], ['password', password]])]]),
  ),
  fc.constant(cmd('login_flow/get', flowRef())),
  fc.constant(cmd('login_flow/abort', flowRef())),
  fc.constant(cmd('auth/token', [['grant_type', 'authorization_code'], ['code', PLACEHOLDERS.code], ['client_id', TEST_CLIENT_ID]])),
  fc.constant(cmd('auth/token', [['grant_type', 'refresh_token'], ['refresh_token', PLACEHOLDERS.refreshToken], ['client_id', TEST_CLIENT_ID]])),
  fc.constant(cmd('auth/revoke', [['token', PLACEHOLDERS.refreshToken]])),
  fc.constant(new Obj([['type', 'auth'], ['access_token', PLACEHOLDERS.accessToken]])),
  fc.constant(cmd('auth/current_user')),
  fc.constant(cmd('auth/refresh_tokens')),
  fc.constant(cmd('auth/delete_refresh_token', [['refresh_token_id', PLACEHOLDERS.refreshTokenId]])),
  fc.boolean().map((current) => cmd('auth/delete_all_refresh_tokens', [['delete_current_token', current]])),
  fc.tuple(fc.constantFrom(...TOKEN_NAMES), fc.integer({ min: 1, max: 3650 })).map(([name, days]) =>
    cmd('auth/long_lived_access_token', [['client_name', name], ['lifespan', days]]),
  ),
];

function cmd(type: string, fields: ReadonlyArray<readonly [string, Json]> = []): Obj {
  return new Obj([['id', new Raw(NEXT_ID)], ['type', type], ...fields]);
}

function flowRef(): Array<readonly [string, Json]> {
  return [['flow_id', PLACEHOLDERS.flowId], ['client_id', TEST_CLIENT_ID]];
}

/** Every command type the server knows, plus near misses. */
const COMMAND_TYPES = [
  'ping', 'pong', 'result', 'auth', 'auth_ok', 'auth_required', 'supported_features', 'auth/providers', 'login_flow/init',
  'login_flow/step', 'login_flow/get', 'login_flow/abort', 'auth/token', 'auth/revoke', 'auth/current_user',
  'auth/refresh_tokens', 'auth/delete_refresh_token', 'auth/delete_all_refresh_tokens', 'auth/long_lived_access_token',
  'PING', 'Ping', ' ping', 'ping\u0000', 'login_flow/', 'login_flow/init/', 'auth/', '/', '', 'constructor', '__proto__',
  'toString', 'hasOwnProperty', 'prototype', 'login_flow/__proto__', 'ⅼogin_flow/init',
];

/** Strings that have broken parsers before: control characters, lone surrogates, bidi overrides, lookalikes, injections. */
const ODD_STRINGS = [
  '', ' ', '\u0000', '\ud800', '\udfff', '\u202e', '\u200b', '\ufeff', 'e\u0301', '🦄', '𝕒𝕝𝕚𝕔𝕖', 'аlice', 'ALICE', ' alice ',
  '%s%n%x', '${7*7}', '{{7*7}}', '<script>alert(1)</script>', "' OR '1'='1", '\\', '"', '\n\r\t', 'null', 'NaN', '0', '-1',
  '__proto__', 'constructor', 'prototype', '../../etc/passwd', 'flowgate:default:flow:*', '*', '?', '[', 'a'.repeat(33),
];

/** Lengths just at and past the bounds of the codecs (64, 128, 256, 512, 1024, 2048, 4096 characters). */
const BOUNDARY_LENGTHS = [63, 64, 65, 127, 128, 129, 256, 257, 511, 512, 513, 1024, 1025, 2048, 2049, 4096, 4097, 20_000];

const anyChar16 = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));

const oddString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ODD_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: anyChar16, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...BOUNDARY_LENGTHS), fc.constantFrom('x', 'é', '🦄')).map(([n, c]) => c.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(...Object.values(PLACEHOLDERS)).chain((p) => fc.constantFrom(`${p}x`, `x${p}`, `${p} `)) },
);

/** Numbers at the edges of JSON and of JavaScript's numbers, written as JSON text. */
const ODD_NUMBERS = ['0', '-0', '-1', '1.5', '0.1', '1e308', '1e400', '-1e400', '9007199254740993', '1E2', '2.0', '1e-400', '123456789012345678901234567890'];
const oddNumber: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(...ODD_NUMBERS).map((text) => new Raw(text)),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);

/** Deeply nested arrays or objects, written as text: deeper than a recursive JSON.stringify can follow. */
function nested(depths: readonly number[]): fc.Arbitrary<Raw> {
  return fc.tuple(fc.constantFrom(...depths), fc.boolean()).map(([depth, arrays]) => {
    // An object level takes 6 bytes, an array level 2: 10,000 object levels still fit a frame.
    const objectDepth = Math.min(depth, 10_000);
    return arrays ? new Raw('['.repeat(depth) + ']'.repeat(depth)) : new Raw('{"a":'.repeat(objectDepth) + '1' + '}'.repeat(objectDepth));
  });
}
export const deepValue = nested([2, 64, 1_000, 5_000, 10_000, 30_000]);
/** Nesting that still leaves room for a batch of several commands in one frame. */
const shallowDeepValue = nested([2, 64, 1_000]);

/** Keys that are special to JavaScript objects, or to our own codecs. */
const ODD_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'is_owner', 'is_admin', 'id', 'type', ''];
const oddKey: fc.Arbitrary<string> = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ODD_KEYS) }, { weight: 1, arbitrary: oddString });

/** What prototype pollution would try: an object under `__proto__` with privileged-looking fields. */
const pollution: Json = new Obj([['__proto__', new Obj([['is_owner', true], ['is_admin', true], ['polluted', 'yes'], ['type', 'ping']])]]);

/** A value of the wrong type (or a right type with a bad value) for any field. */
export const oddValue: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: fc.constantFrom<Json>(null, true, false, [], new Obj([]), pollution) },
    { weight: 4, arbitrary: oddString },
    { weight: 3, arbitrary: oddNumber },
    { weight: 1, arbitrary: shallowDeepValue },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.array(fc.tuple(oddKey, tie('value')), { maxLength: 4 }).map((entries) => new Obj(entries)) },
  ),
})).value;

/** Odd ids: zero, negative, fractional, beyond 2^53, strings, reused; NEXT_ID is the valid one. */
const oddId: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(...ODD_NUMBERS, LAST_ID, '1', 'null', 'true', '"1"', '"%%NEXT_ID%%"', '[1]', '{}').map((text) => new Raw(text)),
  oddValue,
);

type Mutation = (command: Obj) => fc.Arbitrary<Obj>;

const entriesOf = (command: Obj): Array<readonly [string, Json]> => [...command.entries];
const pickIndex = (command: Obj): fc.Arbitrary<number> => fc.nat({ max: Math.max(0, command.entries.length - 1) });

const MUTATIONS: readonly Mutation[] = [
  // Drop one field.
  (c) => pickIndex(c).map((i) => new Obj(entriesOf(c).filter((_, j) => j !== i))),
  // A field of the wrong type or with a bad value.
  (c) => fc.tuple(pickIndex(c), oddValue).map(([i, v]) => new Obj(entriesOf(c).map((e, j) => (j === i ? [e[0], v] : e)))),
  // An extra field, often one that is special to JavaScript.
  (c) => fc.tuple(oddKey, oddValue).map(([k, v]) => new Obj([...c.entries, [k, v]])),
  // An odd id.
  (c) => oddId.map((id) => new Obj([['id', id], ...c.entries.filter(([k]) => k !== 'id')])),
  // Another or a misspelt type.
  (c) => fc.oneof(fc.constantFrom(...COMMAND_TYPES), oddString).map((type) => new Obj(c.entries.map((e) => (e[0] === 'type' ? ['type', type] : e)))),
  // A key written twice (JSON.parse keeps the last one).
  (c) => fc.tuple(pickIndex(c), oddValue).map(([i, v]) => new Obj([...c.entries, [c.entries[i]?.[0] ?? 'id', v]])),
  // A hostile user_input (fields of every type, prototype keys, too many fields); any command gets one.
  (c) => hostileUserInput.map((input) => new Obj([...c.entries.filter(([k]) => k !== 'user_input'), ['user_input', input]])),
];

const hostileUserInput: fc.Arbitrary<Json> = fc.oneof(
  fc.array(fc.tuple(fc.oneof(fc.constantFrom('username', 'password'), oddKey), oddValue), { maxLength: 5 }).map((e) => new Obj(e)),
  fc.constant(new Obj([['username', 'alice'], ['password', 'wonderland'], ['__proto__', new Obj([['username', 'admin']])]])),
  fc.constant(new Obj(Array.from({ length: 40 }, (_, i) => [`field${i}`, 'x'] as const))),
  oddValue,
);

/** A valid command of any kind, then none to three mutations; a third stay valid, so flows and tokens are really used. */
export const mutatedCommand: fc.Arbitrary<Obj> = fc
  .tuple(fc.oneof(...TEMPLATES), fc.array(fc.constantFrom(...MUTATIONS), { maxLength: 3 }), fc.boolean())
  .chain(([template, mutations, keep]) =>
    (keep ? [] : mutations).reduce<fc.Arbitrary<Obj>>((acc, mutation) => acc.chain(mutation), fc.constant(template)),
  );

const text = (kind: string, payload: string, padTo?: number): FuzzFrame =>
  padTo === undefined ? { kind, payload, encoding: 'text' } : { kind, payload, encoding: 'text', padTo };

/** JSON that is cut short or has a byte flipped: the parser must answer invalid_format, never throw past the handler. */
const brokenJson: fc.Arbitrary<FuzzFrame> = fc.tuple(mutatedCommand, fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), anyChar16).map(
  ([command, cut, truncate, char]) => {
    const full = render(command);
    const at = Math.floor(cut * (full.length - 1));
    return text('broken_json', truncate ? full.slice(0, at) : full.slice(0, at) + char + full.slice(at + 1));
  },
);

const GARBAGE = ['', ' ', 'null', 'true', '0', '-1', '"ping"', '{}', '[]', '[[]]', '[null]', '{"__proto__":null}', '\u0000', 'undefined', 'NaN', '{"id":1,"type":"ping"', ']'];
const garbage: fc.Arbitrary<FuzzFrame> = fc.oneof(fc.constantFrom(...GARBAGE), fc.string({ unit: 'binary', maxLength: 64 })).map((s) => text('garbage', s));

/** Batches: a few mutated commands, batches of exactly the limit and one past it, nested arrays. */
const batch: fc.Arbitrary<FuzzFrame> = fc.oneof(
  { weight: 10, arbitrary: fc.array(mutatedCommand, { minLength: 1, maxLength: 8 }).map((commands) => text('batch', render(commands))) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_BATCH_COMMANDS, MAX_BATCH_COMMANDS + 1, 1_000).map((n) => text('batch_size', render(Array.from({ length: n }, () => cmd('ping'))))) },
  { weight: 1, arbitrary: fc.array(mutatedCommand, { minLength: 1, maxLength: 3 }).map((commands) => text('batch_nested', render([commands, ...commands]))) },
);

/** Deep nesting as a whole frame, as a field, and as user_input. */
const deep: fc.Arbitrary<FuzzFrame> = fc.tuple(deepValue, fc.constantFrom('frame', 'field', 'user_input', 'id')).map(([value, where]) => {
  if (where === 'frame') return text('deep', value.text);
  if (where === 'id') return text('deep', render(new Obj([['id', value], ['type', 'ping']])));
  const step = cmd('login_flow/step', [...flowRef(), ['user_input', where === 'user_input' ? value : new Obj([['username', value]])]]);
  return text('deep', where === 'field' ? render(new Obj([...cmd('ping').entries, ['extra', value]])) : render(step));
});

/** Frames right under, at and over the frame limit; the ones over it must close the socket with 1009. */
const huge: fc.Arbitrary<FuzzFrame> = fc.tuple(mutatedCommand, fc.constantFrom(40_000, MAX_FRAME_BYTES - 1, MAX_FRAME_BYTES, MAX_FRAME_BYTES + 1, 100_000), fc.boolean()).map(
  ([command, size, inField]) => {
    if (!inField) return text(size > MAX_FRAME_BYTES ? 'huge_over' : 'huge_under', render(command), size);
    // The value fills the frame inside a field instead, where the codecs' length bounds must catch it.
    const value = 'y'.repeat(Math.max(0, size - 200));
    const withValue = new Obj([...command.entries.filter(([k]) => k !== 'user_input'), ['user_input', new Obj([['password', value]])]]);
    return text(size > MAX_FRAME_BYTES ? 'huge_over' : 'huge_under', render(withValue));
  },
);

const binary: fc.Arbitrary<FuzzFrame> = mutatedCommand.map((command) => ({ kind: 'binary', payload: render(command), encoding: 'binary' as const }));
/** A text frame that is not UTF-8 (the payload is sent as latin1 bytes, so a lone 0xff reaches the server). */
const invalidUtf8: fc.Arbitrary<FuzzFrame> = fc.constantFrom('\u00ff', '{"id":1,"type":"\u00c3"}', '\u00ed\u00a0\u0080').map((payload) => ({
  kind: 'invalid_utf8',
  payload,
  encoding: 'invalid_utf8' as const,
}));

/** One frame of the fuzzer's mix: mostly single mutated commands, with every kind of abuse present in each thousand. */
export const fuzzFrame: fc.Arbitrary<FuzzFrame> = fc.oneof(
  { weight: 600, arbitrary: mutatedCommand.map((command) => text('command', render(command))) },
  { weight: 150, arbitrary: batch },
  { weight: 80, arbitrary: brokenJson },
  { weight: 50, arbitrary: garbage },
  { weight: 40, arbitrary: deep },
  { weight: 30, arbitrary: huge },
  { weight: 8, arbitrary: binary },
  { weight: 4, arbitrary: invalidUtf8 },
);
