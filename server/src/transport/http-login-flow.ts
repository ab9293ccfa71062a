/**
 * Home Assistant's login flow over HTTP (`/auth/login_flow`, `/auth/login_flow/{flow_id}`): the socket's flows on the same
 * engine and store, so either transport may continue a flow the other started; HTTP steps are bound to the starting address.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as t from 'io-ts';
import { isRight } from 'fp-ts/lib/Either.js';
import {
  boundedString,
  ClientId,
  FieldErrorKey,
  HandlerKey,
  isWellFormedJson,
  MAX_REDIRECT_URI_LENGTH,
  MAX_TOKEN_LENGTH,
  type FlowResult,
} from '@flowgate/shared';
import type { Logger } from 'pino';
import { INVALID_REDIRECT_URI } from '../auth/indieauth.js';
import { LoginAddressChanged } from '../auth/login-context.js';
import type { AuthManager } from '../auth/manager.js';
import { ServiceError } from '../errors.js';
import { HttpRefusal, isRetryable, mediaType, readBody, retryAfter, sendJson, statusOf, type Headers } from './http-io.js';

export interface LoginFlowRequestContext {
  readonly auth: AuthManager;
  readonly remoteAddress: string | null;
  readonly logger: Logger;
}

/** `POST /auth/login_flow`: Home Assistant's fields (`handler` is `[type, id]` or a bare type), plus our device token. */
const StartBody = t.intersection([
  t.type({ client_id: ClientId, handler: t.unknown, redirect_uri: boundedString(MAX_REDIRECT_URI_LENGTH) }),
  t.partial({ type: t.string, device_token: boundedString(MAX_TOKEN_LENGTH) }),
]);

/** `POST /auth/login_flow/{flow_id}`: the client id beside the step's own fields. */
const StepBody = t.type({ client_id: ClientId });

/** Why a body was refused, in Home Assistant's words (its validator answers "Message format incorrect: ..."). */
class BadRequest extends Error {}

/** Thrown from the flow's admission check when the flow is the caller's but was started from another address. */

const message = (response: ServerResponse, status: number, text: string, headers: Headers = {}): void =>
  sendJson(response, status, { message: text }, headers);

/**
 * Refuses bytes that are not UTF-8 rather than reading them as U+FFFD (the socket's `ws` closes such a frame with 1007): two
 * different passwords must never reach a provider as the same text.
 */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The body as a JSON object, or a BadRequest / HttpRefusal saying why not. */
async function readJsonObject(request: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(request);
  let parsed: unknown;
  try {
    parsed = JSON.parse(STRICT_UTF8.decode(body));
  } catch {
    throw new BadRequest('Message format incorrect: the body is not valid JSON in UTF-8');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequest('Message format incorrect: the body must be a JSON object');
  }
  // A `\ud800` escape is valid JSON but no text: refused for every field, as the socket's codecs refuse it (invalid_format).
  if (!isWellFormedJson(parsed)) throw new BadRequest('Message format incorrect: a string holds a lone surrogate (an unpaired \\ud800-\\udfff escape)');
  return parsed as Record<string, unknown>;
}

/** A decoded body, or a BadRequest naming the first field that is missing or wrong. */
function decodeBody<A>(codec: t.Type<A, unknown, unknown>, body: Record<string, unknown>): A {
  const decoded = codec.decode(body);
  if (isRight(decoded)) return decoded.right;
  const path = decoded.left[0]?.context.map((entry) => entry.key).filter((key) => key !== '' && !/^\d+$/.test(key)).join('.');
  throw new BadRequest(`Message format incorrect: ${path === undefined || path === '' ? 'the body' : `"${path}"`} is missing or not valid`);
}

/**
 * The one body type the login flow routes take. Any other is refused unread: `text/plain` (and the form types) are what a page
 * of another site may POST without a CORS preflight, so parsing them as JSON let any page start flows from its visitors.
 */
const JSON_MEDIA_TYPE = 'application/json';

/** Runs a route, answering body refusals (415, 413, 408, 400) in Home Assistant's `{"message": ...}` shape. */
async function withBody(response: ServerResponse, request: IncomingMessage, run: (body: Record<string, unknown>) => Promise<void>): Promise<void> {
  if (mediaType(request) !== JSON_MEDIA_TYPE) {
    request.resume();
    const headers = { connection: 'close', 'accept-post': JSON_MEDIA_TYPE };
    return message(response, 415, 'Send the body as JSON, with Content-Type: application/json', headers);
  }
  let body: Record<string, unknown>;
  try {
    body = await readJsonObject(request);
  } catch (error) {
    if (error instanceof HttpRefusal) return message(response, error.status, error.message, { connection: 'close' });
    if (error instanceof BadRequest) return message(response, 400, error.message);
    throw error;
  }
  try {
    await run(body);
  } catch (error) {
    if (error instanceof BadRequest) return message(response, 400, error.message);
    throw error;
  }
}

/**
 * A flow result as Home Assistant's HTTP API sends it: the socket's shape, with `create_entry` carrying only the code (never
 * data) plus the empty `description` fields Home Assistant's clients read.
 */
function flowJson(result: FlowResult): unknown {
  if (result.type !== 'create_entry') return result;
  return { type: result.type, flow_id: result.flow_id, handler: result.handler, result: result.result, description: null, description_placeholders: null };
}

/**
 * True when a form came back because the input did not fit its schema (every error is a field check's key). Home Assistant
 * answers that 400 "User input malformed"; a provider's own errors (`invalid_auth`, ...) are a normal form answer.
 */
function schemaRefusal(result: FlowResult): boolean {
  if (result.type !== 'form' || result.errors === null) return false;
  const values = Object.values(result.errors);
  return values.length > 0 && values.every((value) => FieldErrorKey.is(value));
}

/** Answers a refusal of the auth layer; `words` gives Home Assistant's sentence for the codes it has one for. */
function refuse(response: ServerResponse, error: ServiceError, words: Partial<Record<ServiceError['code'], string>>): void {
  const status = statusOf(error.code);
  const known = words[error.code];
  if (known !== undefined) return message(response, status, known);
  // Codes Home Assistant has no answer for keep the auth layer's sentence and name their code, as its `json_message` can.
  const wait = isRetryable(status) ? retryAfter(error.retryAfterSeconds) : {};
  const body = { message: error.message, code: error.code, ...(error.retryAfterSeconds === undefined ? {} : { retry_after: error.retryAfterSeconds }) };
  sendJson(response, status, body, wait);
}

/** `POST /auth/login_flow`. */
export function serveStart(request: IncomingMessage, response: ServerResponse, context: LoginFlowRequestContext): Promise<void> {
  return withBody(response, request, async (raw) => {
    const body = decodeBody(StartBody, raw);
    // Home Assistant takes `[type, id]` or a bare type; anything else names no handler it has.
    const handler = typeof body.handler === 'string' ? [body.handler, null] : body.handler;
    if (!HandlerKey.is(handler)) {
      if (Array.isArray(body.handler)) return message(response, 404, 'Invalid handler specified');
      throw new BadRequest('Message format incorrect: "handler" must be [type, id] or a provider type');
    }
    // Linking a second login to a signed-in user (`link_user`) is not offered; every other type is a plain login, as in HA.
    if (body.type === 'link_user') throw new BadRequest('Message format incorrect: "type": "link_user" is not supported by this server');
    try {
      const result = await context.auth.startLogin(handler, {
        clientId: body.client_id,
        redirectUri: body.redirect_uri,
        remoteAddress: context.remoteAddress,
        deviceToken: body.device_token ?? null,
      });
      answerFlow(response, result);
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      // The auth layer checks the client id and the redirect URI here (invalid_request); Home Assistant answers a bad client id
      // 400 and a redirect URI the client may not use 403. A flow that ends at once (trusted_networks' bypass) fails at its
      // end as a step does.
      if (error.code === 'invalid_request' && error.message === INVALID_REDIRECT_URI) return message(response, 403, INVALID_REDIRECT_URI);
      refuse(response, error, { not_found: 'Invalid handler specified', invalid_request: 'Invalid client id', ...endWords(error) });
    }
  });
}

/** Home Assistant's 403 at a flow's end: "Login blocked: <reason>", as the auth layer words it (user-access.ts). */
function endWords(error: ServiceError): Partial<Record<ServiceError['code'], string>> {
  return error.code === 'access_denied' ? { access_denied: error.message } : {};
}

function answerFlow(response: ServerResponse, result: FlowResult): void {
  if (schemaRefusal(result)) return message(response, 400, 'User input malformed');
  sendJson(response, 200, flowJson(result));
}

/** `POST /auth/login_flow/{flow_id}`. */
export function serveStep(request: IncomingMessage, response: ServerResponse, flowId: string, context: LoginFlowRequestContext): Promise<void> {
  return withBody(response, request, async (raw) => {
    const { client_id: clientId } = decodeBody(StepBody, raw);
    // Null-prototype copy: a `__proto__` field from the client stays an ordinary (unknown, refused) field.
    const input: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, raw);
    delete input['client_id'];
    try {
      // Bound to the address that started the flow too (HA's rule for HTTP steps; socket steps are not).
      answerFlow(response, await context.auth.loginStep(flowId, clientId, input, { remoteAddress: context.remoteAddress }));
    } catch (error) {
      if (error instanceof LoginAddressChanged) return message(response, 400, 'IP address changed');
      if (!(error instanceof ServiceError)) throw error;
      refuse(response, error, {
        not_found: 'Invalid flow specified',
        invalid_format: 'User input malformed',
        invalid_request: INVALID_REDIRECT_URI,
        ...endWords(error),
      });
    }
  });
}

/**
 * `DELETE /auth/login_flow/{flow_id}`. Home Assistant's clients send no body: the flow id (a secret) and the starting address
 * decide; a `client_id` in the query string, when given, must be the flow's too.
 */
export async function serveAbort(request: IncomingMessage, response: ServerResponse, flowId: string, context: LoginFlowRequestContext): Promise<void> {
  const clientId = new URL(request.url ?? '/', 'http://localhost').searchParams.get('client_id');
  // Whatever body came is read and dropped (bounded), so the connection stays usable.
  await readBody(request).catch(() => Buffer.alloc(0));
  try {
    await context.auth.loginAbort(flowId, clientId, { remoteAddress: context.remoteAddress });
    message(response, 200, 'Flow aborted');
  } catch (error) {
    if (error instanceof LoginAddressChanged) return message(response, 400, 'IP address changed');
    if (!(error instanceof ServiceError)) throw error;
    refuse(response, error, { not_found: 'Invalid flow specified' });
  }
}
