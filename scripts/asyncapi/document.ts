/** Builds docs/asyncapi.yaml (AsyncAPI 3.0) from the codecs of @flowgate/shared and the server's command table. */
import { readFileSync } from 'node:fs';
import * as shared from '@flowgate/shared';
import {
  Auth,
  AuthInvalid,
  CloseCode,
  AuthOk,
  CurrentUser,
  DeposeMfaResult,
  EmptyResult,
  FlowResult,
  LongLivedAccessToken,
  MfaSetupEntry,
  NullResult,
  MAX_BATCH_COMMANDS,
  PositiveInt,
  PROTOCOL_VERSION,
  ProviderList,
  RefreshTokenList,
  ResultError,
  ResultSuccess,
  ServerMessage,
  TokenResponse,
  UserList,
  UserResult,
} from '@flowgate/shared';
import * as t from 'io-ts';
import { stringify } from 'yaml';
import { COMMANDS } from '../../server/src/transport/commands.js';
import { isCodec, SchemaWriter, type JsonSchema } from './json-schema.js';

/** `ping` is answered by a bare `pong` frame rather than a `result`. */
const PONG = 'pong';

/**
 * What each command answers in `result` when it succeeds, keyed by the command codec's export name (one codec may answer several
 * types: the password commands answer to two prefixes). The one table written by hand: io-ts has no link from a command to its
 * answer. A command codec missing here, or an entry that names no command codec, stops the generator.
 */
const RESULTS: Readonly<Partial<Record<keyof typeof shared, t.Mixed | typeof PONG>>> = {
  PingCommand: PONG,
  SupportedFeaturesCommand: NullResult,
  AuthProvidersCommand: ProviderList,
  LoginFlowInit: FlowResult,
  LoginFlowStep: FlowResult,
  LoginFlowGet: FlowResult,
  LoginFlowAbort: NullResult,
  AuthTokenCommand: TokenResponse,
  AuthRevokeCommand: NullResult,
  CurrentUserCommand: CurrentUser,
  RefreshTokensCommand: RefreshTokenList,
  DeleteRefreshTokenCommand: EmptyResult,
  DeleteAllRefreshTokensCommand: EmptyResult,
  LongLivedAccessTokenCommand: LongLivedAccessToken,
  SetupMfaCommand: t.union([FlowResult, MfaSetupEntry]),
  DeposeMfaCommand: DeposeMfaResult,
  ListUsersCommand: UserList,
  CreateUserCommand: UserResult,
  UpdateUserCommand: UserResult,
  DeleteUserCommand: NullResult,
  CreatePasswordCommand: NullResult,
  DeletePasswordCommand: NullResult,
  ChangePasswordCommand: NullResult,
  AdminChangePasswordCommand: NullResult,
  AdminChangeUsernameCommand: NullResult,
};

/** Client messages that are not commands (no `id`), with the server messages that answer them. */
const NON_COMMAND_MESSAGES: readonly { readonly codec: t.Mixed; readonly replies: readonly t.Mixed[]; readonly summary: string }[] = [
  {
    codec: Auth,
    replies: [AuthOk, AuthInvalid],
    summary: `Authenticates the socket with an access token: auth_ok moves it to phase 2; auth_invalid is followed by close ${CloseCode.normal}.`,
  },
];

const PHASE_SUMMARY = {
  any: 'Answered in both phases, before and after auth.',
  authenticated: 'Needs an authenticated socket (after auth_ok); a phase-1 socket gets the error unauthorized.',
  admin: "Needs an administrator's authenticated socket (a member of system-admin); anyone else gets the error unauthorized.",
} as const;

const CHANNEL = 'websocket';
const channelRef = () => ({ $ref: `#/channels/${CHANNEL}` });
const messageRef = (key: string) => ({ $ref: `#/channels/${CHANNEL}/messages/${key}` });
/** Component keys may hold only letters, digits, `.`, `-` and `_`: `login_flow/init` becomes `login_flow.init`. */
const keyOf = (type: string) => type.replaceAll('/', '.');

interface Command {
  readonly exportName: string;
  readonly codec: t.Mixed;
  readonly type: string;
  /** Whether the codec's `type` is a `t.keyof` (several types, one codec), so the message narrows it. */
  readonly shared: boolean;
}

/** The required fields of an object codec (through intersections, exact and readonly wrappers), or undefined for any other. */
function requiredProps(codec: t.Mixed): t.Props | undefined {
  const c = codec as t.Mixed & { _tag?: string; props?: t.Props; type?: t.Mixed; types?: t.Mixed[] };
  if (c._tag === 'InterfaceType') return c.props;
  if (c._tag === 'ExactType' || c._tag === 'ReadonlyType') return requiredProps(c.type as t.Mixed);
  if (c._tag === 'IntersectionType') return Object.assign({}, ...(c.types ?? []).map((part) => requiredProps(part) ?? {})) as t.Props;
  return undefined;
}

/** The literal values a `type` field accepts, or undefined when it is not a literal or a keyof of literals. */
function typeValues(codec: t.Mixed | undefined): readonly string[] | undefined {
  const c = codec as (t.Mixed & { _tag?: string; value?: unknown; keys?: object }) | undefined;
  if (c?._tag === 'LiteralType' && typeof c.value === 'string') return [c.value];
  if (c?._tag === 'KeyofType') return Object.keys(c.keys ?? {});
  return undefined;
}

/** Every command codec shared exports: a required `id: PositiveInt` and a literal (or keyof) `type`. */
function findCommands(): Command[] {
  const commands: Command[] = [];
  for (const [exportName, codec] of Object.entries(shared)) {
    if (!isCodec(codec)) continue;
    const props = requiredProps(codec);
    const types = typeValues(props?.type);
    if (props?.id !== PositiveInt || types === undefined) continue;
    for (const type of types) commands.push({ exportName, codec, type, shared: types.length > 1 });
  }
  sameSet(
    commands.map((c) => c.exportName),
    Object.keys(RESULTS),
    (name) => `${name} is a command codec: add what it answers to RESULTS (scripts/asyncapi/document.ts)`,
    (name) => `RESULTS names ${name}, which is not a command codec of @flowgate/shared`,
  );
  sameSet(
    commands.map((c) => c.type),
    Object.keys(COMMANDS),
    (type) => `@flowgate/shared defines the command ${type}, which the server's command table does not answer`,
    (type) => `The server answers ${type}, which no command codec of @flowgate/shared defines`,
  );
  return commands.sort((a, b) => (a.type < b.type ? -1 : 1));
}

/** Throws the first difference between two sets, said from the side it is missing on. */
function sameSet(ours: readonly string[], theirs: readonly string[], onlyOurs: (x: string) => string, onlyTheirs: (x: string) => string) {
  const a = new Set(ours);
  const b = new Set(theirs);
  for (const x of a) if (!b.has(x)) throw new Error(onlyOurs(x));
  for (const x of b) if (!a.has(x)) throw new Error(onlyTheirs(x));
}

/** The `type` a server message carries (`auth_ok`), read from its codec. */
function wireType(codec: t.Mixed): string {
  const type = typeValues(requiredProps(codec)?.type);
  if (type?.length !== 1 || type[0] === undefined) throw new Error(`${codec.name}: a message codec needs a literal type`);
  return type[0];
}

/** The server messages, from the `ServerMessage` union (nested unions flattened). */
function serverMessageCodecs(): t.Mixed[] {
  const flatten = (codec: t.Mixed): t.Mixed[] => {
    const c = codec as t.Mixed & { _tag?: string; types?: t.Mixed[] };
    return c._tag === 'UnionType' ? (c.types ?? []).flatMap(flatten) : [codec];
  };
  return flatten(ServerMessage);
}

function rootVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

const DESCRIPTION = `Flowgate's WebSocket protocol, version ${PROTOCOL_VERSION}: Home Assistant's websocket API dialect (auth phase,
id-numbered commands, result frames) with Home Assistant's login flows on the same socket.

This document describes the server as the application: it receives the client's messages (auth and commands) and sends the
hello (auth_required) and the replies. Every command gets exactly one reply carrying its id: the command's success result, the
shared error result (result_error, whose code is one of ErrorCode), or for ping a bare pong. A client frame may also be a JSON
array of up to ${MAX_BATCH_COMMANDS} commands, handled in order with one reply frame each.

Generated by npm run asyncapi from the io-ts codecs in shared/src/protocol; docs/protocol.md is the prose reference: Transport
(frames, batches, limits, close codes), Phase 1: unauthenticated, Commands and results (id rules, error codes), Phase-1 commands,
Flow results, Phase 2: authenticated, User management and Tokens.`;

/** The whole AsyncAPI document as plain data. */
export function asyncApiDocument(): JsonSchema {
  const schemas = new SchemaWriter(shared);
  const messages: Record<string, JsonSchema> = {};
  const operations: Record<string, JsonSchema> = {};
  const message = (key: string, body: JsonSchema) => {
    if (key in messages) throw new Error(`Two messages would be named ${key}`);
    messages[key] = { name: key, contentType: 'application/json', ...body };
  };
  const serverMessage = (codec: t.Mixed) => {
    const key = wireType(codec);
    if (!(key in messages)) message(key, { title: key, payload: schemas.schemaOf(codec, key) });
    return key;
  };

  message('result_error', {
    name: 'result',
    title: 'Error result',
    summary: 'The failure reply of any command.',
    payload: schemas.schemaOf(ResultError, 'result_error'),
  });
  for (const { codec, replies, summary } of NON_COMMAND_MESSAGES) {
    const key = wireType(codec);
    message(key, { title: key, summary, payload: schemas.schemaOf(codec, key) });
    operations[key] = {
      action: 'receive',
      channel: channelRef(),
      summary,
      messages: [messageRef(key)],
      reply: { channel: channelRef(), messages: replies.map((reply) => messageRef(serverMessage(reply))) },
    };
  }

  const resultSuccess = ResultSuccess as t.Mixed as t.TypeC<t.Props>;
  if (resultSuccess._tag !== 'InterfaceType') throw new Error('ResultSuccess is no longer a t.type: update scripts/asyncapi/document.ts');
  for (const command of findCommands()) {
    const key = keyOf(command.type);
    const spec = COMMANDS[command.type];
    const answer = RESULTS[command.exportName as keyof typeof shared];
    if (spec === undefined || answer === undefined) throw new Error(`${command.type}: no server entry or result`);
    const payload = schemas.schemaOf(command.codec, key);
    message(key, {
      name: command.type,
      title: command.type,
      summary: PHASE_SUMMARY[spec.phase],
      payload: command.shared ? { allOf: [payload, { properties: { type: { const: command.type } } }] } : payload,
    });
    let replies: string[];
    if (answer === PONG) {
      // A ping can still be refused (id_reuse, say) with the error result.
      replies = [serverMessage(shared.Pong), 'result_error'];
    } else {
      const success = t.type({ ...resultSuccess.props, result: answer });
      message(`${key}.result`, {
        name: 'result',
        title: `${command.type} result`,
        summary: `The success reply of ${command.type}.`,
        payload: schemas.inline(success, `${key}.result`),
      });
      replies = [`${key}.result`, 'result_error'];
    }
    operations[key] = {
      action: 'receive',
      channel: channelRef(),
      title: command.type,
      summary: PHASE_SUMMARY[spec.phase],
      messages: [messageRef(key)],
      reply: { channel: channelRef(), messages: replies.map(messageRef) },
    };
  }

  // Whatever else the server sends without being asked (the hello; any event a later codec adds to ServerMessage).
  const replies = Object.values(operations).flatMap((op) => (op.reply as { messages: { $ref: string }[] }).messages);
  const replied = new Set(replies.map((m) => m.$ref));
  for (const codec of serverMessageCodecs()) {
    if (codec === ResultSuccess || codec === ResultError) continue;
    const key = serverMessage(codec);
    if (replied.has(messageRef(key).$ref)) continue;
    operations[key] = { action: 'send', channel: channelRef(), title: key, messages: [messageRef(key)] };
  }

  const sortedMessages = Object.fromEntries(Object.entries(messages).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    asyncapi: '3.0.0',
    info: { title: 'Flowgate', version: rootVersion(), description: DESCRIPTION },
    defaultContentType: 'application/json',
    servers: {
      local: { host: 'localhost:8123', protocol: 'ws', description: 'A server on its default port (http.port 8123); wss behind TLS.' },
    },
    channels: {
      [CHANNEL]: {
        address: '/api/websocket',
        title: 'The Flowgate socket',
        description: 'GET /api/websocket upgraded to a WebSocket; text frames of one JSON value each.',
        messages: Object.fromEntries(Object.keys(sortedMessages).map((key) => [key, { $ref: `#/components/messages/${key}` }])),
      },
    },
    operations: Object.fromEntries(Object.entries(operations).sort(([a], [b]) => (a < b ? -1 : 1))),
    components: { schemas: schemas.components(), messages: sortedMessages },
  };
}

/** The document as the YAML committed in docs/asyncapi.yaml. */
export function renderAsyncApi(): string {
  const header = '# Generated by `npm run asyncapi` (scripts/asyncapi.ts) from the codecs in shared/src/protocol: do not edit by hand.\n';
  return header + stringify(asyncApiDocument(), { aliasDuplicateObjects: false, lineWidth: 0 });
}
