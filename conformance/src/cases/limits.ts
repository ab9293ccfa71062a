/** Limits a client can observe from outside, at the documented defaults: frame size, bounded fields, invalid frames, flow starts. */
import {
  AuthInvalid,
  FormResult,
  MAX_ACCESS_TOKEN_LENGTH,
  MAX_CLIENT_ID_LENGTH,
  MAX_FRAME_BYTES,
  MAX_HANDLER_PART_LENGTH,
  MAX_OPAQUE_ID_LENGTH,
  MAX_TOKEN_LENGTH,
  MAX_USER_INPUT_FIELDS,
  MAX_USER_INPUT_STRING_LENGTH,
  Pong,
  ResultSuccess,
} from '@flowgate/shared';
import type { CaseGroup } from '../builder.js';
import { CLIENT_ID, type KitContext } from '../context.js';
import { decode, equal, errorOf, ok, quote } from '../expect.js';
import { SECTIONS } from '../sections.js';
import { CLOSE_WITHIN_MS } from './framing.js';

/** Invalid-JSON frames a socket may send before the next one closes it (docs/protocol.md, Limits). */
const INVALID_FRAMES_ALLOWED = 10;
/** Login flows one socket may start per sliding minute at the default `websocket.max_flow_starts_per_minute`. */
const FLOW_STARTS_PER_MINUTE = 60;
/** Longest `grant_type` (docs/protocol.md, Limits); the codec spells it inline, so it has no shared constant. */
const MAX_GRANT_TYPE_LENGTH = 64;

/** A ping padded with an ignored field to exactly `bytes` bytes of JSON. */
function paddedPing(id: number, bytes: number): string {
  const bare = JSON.stringify({ id, type: 'ping', padding: '' });
  return JSON.stringify({ id, type: 'ping', padding: 'x'.repeat(bytes - bare.length) });
}

export function limitCases(group: CaseGroup, context: KitContext): void {
  group.it(`answers a frame of exactly ${MAX_FRAME_BYTES} bytes (extra fields are ignored)`, SECTIONS.limits, () =>
    context.withSocket(async (socket) => {
      socket.sendRaw(paddedPing(1, MAX_FRAME_BYTES));
      decode(Pong, await socket.next(), 'the reply to a frame at the limit');
      socket.usedId(1);
    }),
  );

  group.it(`closes the socket with 1009 on a frame over ${MAX_FRAME_BYTES} bytes`, SECTIONS.limits, () =>
    context.withSocket(async (socket) => {
      socket.sendRaw(paddedPing(1, MAX_FRAME_BYTES + 1));
      equal((await socket.closedWithin(CLOSE_WITHIN_MS, 'oversized frame')).code, 1009, 'the close code');
    }),
  );

  group.it(`closes the socket with 1008 on invalid-JSON frame number ${INVALID_FRAMES_ALLOWED + 1}`, SECTIONS.limits, () =>
    context.withSocket(async (socket) => {
      for (let i = 0; i <= INVALID_FRAMES_ALLOWED; i += 1) socket.sendRaw('not json');
      for (let i = 0; i < INVALID_FRAMES_ALLOWED; i += 1) errorOf(await socket.next(), 'invalid_format', `the reply to invalid frame ${i + 1}`, 0);
      equal((await socket.closedWithin(CLOSE_WITHIN_MS, 'too many invalid frames')).code, 1008, 'the close code');
    }),
  );

  group.it(`answers auth with an access token over ${MAX_ACCESS_TOKEN_LENGTH} characters with auth_invalid, then closes`, SECTIONS.limits, () =>
    context.withSocket(async (socket) => {
      socket.send({ type: 'auth', access_token: 'a'.repeat(MAX_ACCESS_TOKEN_LENGTH + 1) });
      decode(AuthInvalid, await socket.next(), 'the answer to an over-long access token');
      equal((await socket.closedWithin(CLOSE_WITHIN_MS, 'after auth_invalid')).code, 1000, 'the close code');
    }),
  );

  group.it('answers invalid_format to over-long client_id, handler, flow_id, code, refresh_token, token and grant_type', SECTIONS.limits, () =>
    context.withSocket(async (socket) => {
      const long = (n: number) => 'a'.repeat(n + 1);
      const commands: Array<[string, Record<string, unknown>]> = [
        ['client_id', { type: 'login_flow/init', handler: ['password', null], client_id: `https://e.example/${long(MAX_CLIENT_ID_LENGTH)}` }],
        ['handler', { type: 'login_flow/init', handler: [long(MAX_HANDLER_PART_LENGTH), null], client_id: CLIENT_ID }],
        ['flow_id', { type: 'login_flow/get', flow_id: long(MAX_OPAQUE_ID_LENGTH), client_id: CLIENT_ID }],
        ['code', { type: 'auth/token', grant_type: 'authorization_code', code: long(MAX_OPAQUE_ID_LENGTH), client_id: CLIENT_ID }],
        ['refresh_token', { type: 'auth/token', grant_type: 'refresh_token', refresh_token: long(MAX_TOKEN_LENGTH), client_id: CLIENT_ID }],
        ['token', { type: 'auth/revoke', token: long(MAX_TOKEN_LENGTH) }],
        ['grant_type', { type: 'auth/token', grant_type: long(MAX_GRANT_TYPE_LENGTH), client_id: CLIENT_ID }],
      ];
      for (const [field, command] of commands) {
        errorOf(await socket.command(command), 'invalid_format', `${String(command['type'])} with an over-long ${field}`);
      }
    }),
  );

  group.it(`answers a user_input of more than ${MAX_USER_INPUT_FIELDS} keys with the form error base: unknown_field`, SECTIONS.limits, () =>
    context.withSocket(async (socket) => {
      const form = await context.startForm(socket);
      try {
        const input = Object.fromEntries(Array.from({ length: MAX_USER_INPUT_FIELDS + 1 }, (_, i) => [`field${i}`, 'x']));
        const result = decode(FormResult, await socket.result({ type: 'login_flow/step', flow_id: form.flow_id, client_id: CLIENT_ID, user_input: input }), 'the reply');
        equal(result.errors?.['base'], 'unknown_field', 'errors.base');
      } finally {
        await socket.command({ type: 'login_flow/abort', flow_id: form.flow_id, client_id: CLIENT_ID });
      }
    }),
  );

  group.it(`answers a user_input string over ${MAX_USER_INPUT_STRING_LENGTH} characters with the field error too_long`, SECTIONS.limits, () =>
    context.withSocket(async (socket) => {
      const form = await context.startForm(socket);
      try {
        const field = form.data_schema[0];
        ok(field !== undefined && field.type === 'string', `the first field of the form should be a string field, got ${quote(form.data_schema)}`);
        const input = { [field.name]: 'x'.repeat(MAX_USER_INPUT_STRING_LENGTH + 1) };
        const result = decode(FormResult, await socket.result({ type: 'login_flow/step', flow_id: form.flow_id, client_id: CLIENT_ID, user_input: input }), 'the reply');
        equal(result.errors?.[field.name], 'too_long', `errors.${field.name}`);
      } finally {
        await socket.command({ type: 'login_flow/abort', flow_id: form.flow_id, client_id: CLIENT_ID });
      }
    }),
  );

  group.it(`answers rate_limited with retry_after to login flow ${FLOW_STARTS_PER_MINUTE + 1} started on one socket within a minute`, SECTIONS.limits, () =>
    context.withSocket(async (socket) => {
      const handler = await context.handler(socket);
      const first = socket.nextId();
      socket.send(Array.from({ length: FLOW_STARTS_PER_MINUTE }, (_, i) => ({ id: first + i, type: 'login_flow/init', handler, client_id: CLIENT_ID })));
      socket.usedId(first + FLOW_STARTS_PER_MINUTE - 1);
      const flowIds: string[] = [];
      try {
        for (let i = 0; i < FLOW_STARTS_PER_MINUTE; i += 1) {
          const reply = decode(ResultSuccess, await socket.next(), `the reply to login_flow/init ${i + 1}`);
          flowIds.push(decode(FormResult, reply.result, `the result of login_flow/init ${i + 1}`).flow_id);
        }
        const refused = errorOf(await socket.command({ type: 'login_flow/init', handler, client_id: CLIENT_ID }), 'rate_limited', `login_flow/init ${FLOW_STARTS_PER_MINUTE + 1}`);
        ok(typeof refused.retry_after === 'number' && refused.retry_after >= 1, `rate_limited should carry retry_after (whole seconds, at least 1), got ${quote(refused)}`);
      } finally {
        // The flows would otherwise count against the address's unfinished flows for their whole lifetime.
        for (const flowId of flowIds) await socket.command({ type: 'login_flow/abort', flow_id: flowId, client_id: CLIENT_ID });
      }
    }),
  );
}
