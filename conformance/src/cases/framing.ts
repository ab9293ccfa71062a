/** Phase 1 and framing: the hello, JSON and array frames, ids, unknown and phase-2 commands, ping and supported_features. */
import {
  AuthInvalid,
  AuthRequired,
  MAX_BATCH_COMMANDS,
  NullResult,
  PHASE_TWO_COMMAND_TYPES,
  Pong,
  PROTOCOL_VERSION,
  ResultSuccess,
  type ServerMessage,
} from '@flowgate/shared';
import type { CaseGroup } from '../builder.js';
import { KitSocket } from '../client.js';
import { CLIENT_ID, type KitContext } from '../context.js';
import { decode, equal, errorOf, ok, quote } from '../expect.js';
import { SECTIONS } from '../sections.js';

/** How long "no reply" is waited for: a server answers a ping on a local network in far less. */
export const SILENCE_MS = 300;
/** How long the kit waits for a close the protocol promises right away. */
export const CLOSE_WITHIN_MS = 5_000;

const pings = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ id: from + i, type: 'ping' }));

async function pongOf(socket: KitSocket, id: number, what: string): Promise<void> {
  const reply = decode(Pong, await socket.next(undefined, what), what);
  equal(reply.id, id, `${what}: the pong's id`);
}

export function framingCases(group: CaseGroup, context: KitContext): void {
  group.it('sends auth_required before anything else, naming protocol version 1', SECTIONS.phase1, async () => {
    const socket = await KitSocket.connect(context.options.url);
    try {
      const hello = decode(AuthRequired, await socket.next(undefined, 'the hello'), 'the first frame');
      equal(hello.protocol, PROTOCOL_VERSION, 'the hello\'s protocol');
    } finally {
      socket.close();
    }
  });

  group.it('answers invalid JSON with invalid_format and id 0, and keeps serving', SECTIONS.transport, () =>
    context.withSocket(async (socket) => {
      socket.sendRaw('{"id": 1, "type": "ping"');
      errorOf(await socket.next(), 'invalid_format', 'the reply to invalid JSON', 0);
      decode(Pong, await socket.command({ type: 'ping' }), 'a ping after the invalid frame');
    }),
  );

  group.it('closes the socket with 1003 on a binary frame', SECTIONS.closeCodes, () =>
    context.withSocket(async (socket) => {
      socket.sendRaw(Buffer.from(JSON.stringify({ id: 1, type: 'ping' })), true);
      equal((await socket.closedWithin(CLOSE_WITHIN_MS, 'binary frame')).code, 1003, 'the close code');
    }),
  );

  group.it(`answers each command of an array of ${MAX_BATCH_COMMANDS} in order, each with its own reply`, SECTIONS.transport, () =>
    context.withSocket(async (socket) => {
      socket.send(pings(1, MAX_BATCH_COMMANDS));
      for (let id = 1; id <= MAX_BATCH_COMMANDS; id += 1) await pongOf(socket, id, `reply ${id} of the array`);
    }),
  );

  group.it(`refuses an array of ${MAX_BATCH_COMMANDS + 1} commands as a whole with invalid_format and id 0`, SECTIONS.transport, () =>
    context.withSocket(async (socket) => {
      socket.send(pings(1, MAX_BATCH_COMMANDS + 1));
      errorOf(await socket.next(), 'invalid_format', 'the reply to an oversized array', 0);
      // Nothing in it ran, so its ids were not consumed: id 1 is still usable.
      socket.send({ id: 1, type: 'ping' });
      await pongOf(socket, 1, 'a ping with the first id of the refused array');
      socket.usedId(1);
    }),
  );

  group.it('sends no reply to an empty array', SECTIONS.transport, () =>
    context.withSocket(async (socket) => {
      socket.send([]);
      await socket.nothingWithin(SILENCE_MS, 'an empty array gets no reply');
      decode(Pong, await socket.command({ type: 'ping' }), 'a ping after the empty array');
    }),
  );

  group.it('answers a non-object element of an array with its own invalid_format, id 0, in order', SECTIONS.transport, () =>
    context.withSocket(async (socket) => {
      socket.send([{ id: 1, type: 'ping' }, 7, { id: 2, type: 'ping' }]);
      await pongOf(socket, 1, 'the first reply');
      errorOf(await socket.next(), 'invalid_format', 'the reply to the element 7', 0);
      await pongOf(socket, 2, 'the third reply');
      socket.usedId(2);
    }),
  );

  group.it('answers id_reuse to an id that does not increase, and keeps serving', SECTIONS.idRules, () =>
    context.withSocket(async (socket) => {
      decode(Pong, await socket.command({ id: 5, type: 'ping' }), 'the reply to ping id 5');
      errorOf(await socket.command({ id: 5, type: 'ping' }), 'id_reuse', 'the reply to a second id 5', 5);
      errorOf(await socket.command({ id: 3, type: 'ping' }), 'id_reuse', 'the reply to id 3 after 5', 3);
      decode(Pong, await socket.command({ id: 6, type: 'ping' }), 'the reply to id 6 after the refused ones');
    }),
  );

  group.it('answers invalid_format with id 0 to a message without a positive integer id', SECTIONS.idRules, () =>
    context.withSocket(async (socket) => {
      for (const id of [undefined, 0, -1, 1.5, '2', null]) {
        socket.send(id === undefined ? { type: 'ping' } : { id, type: 'ping' });
        errorOf(await socket.next(), 'invalid_format', `the reply to a ping with id ${quote(id)}`, 0);
      }
    }),
  );

  group.it(`answers invalid_format with id 0 to an id past ${Number.MAX_SAFE_INTEGER} (2^53 - 1), without consuming any id`, SECTIONS.idRules, () =>
    context.withSocket(async (socket) => {
      // Written by hand: 9007199254740993 parses as 9007199254740992, which JSON.stringify would send as it is.
      socket.sendRaw('{"id": 9007199254740993, "type": "ping"}');
      errorOf(await socket.next(), 'invalid_format', 'the reply to a ping with id 9007199254740993', 0);
      // The refused id was not taken as the last one: small ids still increase from it.
      socket.send({ id: 2, type: 'ping' });
      await pongOf(socket, 2, 'a ping with id 2 after the unsafe id');
      socket.send({ id: Number.MAX_SAFE_INTEGER, type: 'ping' });
      await pongOf(socket, Number.MAX_SAFE_INTEGER, `a ping with the largest safe id, ${Number.MAX_SAFE_INTEGER}`);
      socket.usedId(Number.MAX_SAFE_INTEGER);
    }),
  );

  group.it('answers invalid_format to a lone surrogate (\\ud800) in a string field or in user_input, and takes a surrogate pair', SECTIONS.errorCodes, () =>
    context.withSocket(async (socket) => {
      // JSON.stringify writes a lone surrogate as the escape "\ud800": a valid UTF-8 frame whose string is no Unicode text.
      errorOf(await socket.command({ type: 'login_flow/get', flow_id: '0'.repeat(32), client_id: `${CLIENT_ID}\ud800` }), 'invalid_format', 'login_flow/get with a lone surrogate in client_id');
      const form = await context.startForm(socket);
      try {
        const field = form.data_schema[0];
        ok(field !== undefined && field.type === 'string', `the first field of the form should be a string field, got ${quote(form.data_schema)}`);
        for (const text of ['\ud800', 'a\udbff', '\udc00b']) {
          const step = { type: 'login_flow/step', flow_id: form.flow_id, client_id: CLIENT_ID, user_input: { [field.name]: text } };
          errorOf(await socket.command(step), 'invalid_format', `login_flow/step with ${quote(text)} in user_input.${field.name}`);
        }
        // A pair is one character (U+1F600): no refusal of the frame, the form answers it as it answers any text.
        const paired = { type: 'login_flow/step', flow_id: form.flow_id, client_id: CLIENT_ID, user_input: { [field.name]: '\ud83d\ude00' } };
        decode(ResultSuccess, await socket.command(paired), 'login_flow/step with a surrogate pair');
      } finally {
        await socket.command({ type: 'login_flow/abort', flow_id: form.flow_id, client_id: CLIENT_ID });
      }
    }),
  );

  group.it('answers invalid_format with the id to a message without a type, without consuming the id', SECTIONS.idRules, () =>
    context.withSocket(async (socket) => {
      socket.send({ id: 4 });
      errorOf(await socket.next(), 'invalid_format', 'the reply to {"id":4}', 4);
      socket.send({ id: 4, type: 'ping' });
      await pongOf(socket, 4, 'a ping reusing the id of the message without a type');
      socket.usedId(4);
    }),
  );

  group.it('consumes the id of a valid envelope even when the command is refused', SECTIONS.idRules, () =>
    context.withSocket(async (socket) => {
      errorOf(await socket.command({ id: 2, type: 'flowgate-conformance/no-such-command' }), 'unknown_command', 'an unknown command', 2);
      errorOf(await socket.command({ id: 2, type: 'ping' }), 'id_reuse', 'a ping reusing its id', 2);
    }),
  );

  group.it('answers unknown_command to a type it does not answer', SECTIONS.errorCodes, () =>
    context.withSocket(async (socket) => {
      errorOf(await socket.command({ type: 'get_states' }), 'unknown_command', 'get_states');
    }),
  );

  group.it('answers invalid_format naming the field to a command that does not match its fields', SECTIONS.errorCodes, () =>
    context.withSocket(async (socket) => {
      const error = errorOf(await socket.command({ type: 'login_flow/get', flow_id: '0'.repeat(32) }), 'invalid_format', 'login_flow/get without client_id');
      ok(error.message.includes('client_id'), `the message should name client_id, got ${quote(error.message)}`);
    }),
  );

  group.it('answers ping with a bare pong carrying its id', SECTIONS.commands, () =>
    context.withSocket(async (socket) => {
      const reply: ServerMessage = await socket.command({ id: 8, type: 'ping' });
      const pong = decode(Pong, reply, 'the reply to ping');
      ok(!('success' in pong) && !('result' in pong), `a pong is not a result: got ${quote(reply)}`);
    }),
  );

  group.it('answers supported_features with a null result, with or without features', SECTIONS.commands, () =>
    context.withSocket(async (socket) => {
      decode(NullResult, await socket.result({ type: 'supported_features' }), 'supported_features without features');
      decode(NullResult, await socket.result({ type: 'supported_features', features: {} }), 'supported_features with no feature');
    }),
  );

  group.it('answers every command of a batch in order once coalesce_messages is offered', SECTIONS.commands, () =>
    context.withSocket(async (socket) => {
      decode(NullResult, await socket.result({ type: 'supported_features', features: { coalesce_messages: 1 } }), 'supported_features');
      const first = socket.nextId();
      socket.send(pings(first, 3));
      for (let id = first; id < first + 3; id += 1) await pongOf(socket, id, `reply ${id - first + 1} of the batch`);
      socket.usedId(first + 2);
    }),
  );

  group.it('answers unauthorized to every phase-2 command on a phase-1 socket, before checking its fields', SECTIONS.phase2, () =>
    context.withSocket(async (socket) => {
      for (const type of PHASE_TWO_COMMAND_TYPES) errorOf(await socket.command({ type }), 'unauthorized', `${type} before auth`);
    }),
  );

  group.it('answers unknown_command to auth sent with an id', SECTIONS.phase1, () =>
    context.withSocket(async (socket) => {
      errorOf(await socket.command({ type: 'auth', access_token: 'x' }), 'unknown_command', 'auth with an id');
    }),
  );

  group.it('answers auth without access_token with auth_invalid naming the field, then closes with 1000', SECTIONS.phase1, () =>
    context.withSocket(async (socket) => {
      socket.send({ type: 'auth' });
      const invalid = decode(AuthInvalid, await socket.next(), 'the answer to auth without access_token');
      ok(invalid.message.includes('access_token'), `the message should name access_token, got ${quote(invalid.message)}`);
      equal((await socket.closedWithin(CLOSE_WITHIN_MS, 'after auth_invalid')).code, 1000, 'the close code');
    }),
  );

  group.it('answers auth with an access token it did not issue with auth_invalid, then closes with 1000', SECTIONS.phase1, () =>
    context.withSocket(async (socket) => {
      socket.send({ type: 'auth', access_token: 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJub2JvZHkifQ.c2lnbmF0dXJl' });
      decode(AuthInvalid, await socket.next(), 'the answer to auth with a forged token');
      equal((await socket.closedWithin(CLOSE_WITHIN_MS, 'after auth_invalid')).code, 1000, 'the close code');
    }),
  );
}
