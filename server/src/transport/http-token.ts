/**
 * Home Assistant's OAuth token endpoints over HTTP: `POST /auth/token` (both grants, and the deprecated `action=revoke`) and
 * `POST /auth/revoke`, form-encoded as OAuth wants them, with CORS for the configured origins.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_CLIENT_ID_LENGTH, MAX_OPAQUE_ID_LENGTH, MAX_TOKEN_LENGTH, type AuthTokenCommand, type PositiveInt } from '@flowgate/shared';
import type { Logger } from 'pino';
import type { AuthManager } from '../auth/manager.js';
import { exchangeToken, REDIRECT_URI_MISMATCH, revokeToken } from '../auth/token-endpoint.js';
import { ServiceError } from '../errors.js';
import { HttpRefusal, isRetryable, mediaType, readBody, retryAfter, sendEmpty, sendJson, statusOf, type Headers } from './http-io.js';
import type { OriginRule } from './origin.js';

/** Request headers a cross-origin page may send (Home Assistant's list); anything else makes a browser's preflight fail. */
const CORS_ALLOWED_HEADERS = 'Origin, Accept, X-Requested-With, Content-Type, Authorization';
/** How long a browser may reuse a preflight answer: short, so a change of `http.cors_allowed_origins` is seen soon. */
const CORS_MAX_AGE_SECONDS = 600;
/** The longest a form parameter may be: the longest thing any grant carries is a refresh token or a client id. */
const MAX_FORM_VALUE_LENGTH = Math.max(MAX_TOKEN_LENGTH, MAX_CLIENT_ID_LENGTH);
/** The parameters a token request may carry, and no more, so one request cannot make us hold a thousand. */
const MAX_FORM_FIELDS = 16;

export interface TokenRequestContext {
  readonly auth: AuthManager;
  readonly remoteAddress: string | null;
  /** Pages of the origins it lists (`http.cors_allowed_origins`) may call the token endpoints from a browser. */
  readonly origins: Pick<OriginRule, 'isListed'>;
  readonly logger: Logger;
}

/**
 * The CORS answer headers for this request: `Access-Control-Allow-Origin` only for an origin listed (in any spelling) in
 * `http.cors_allowed_origins`; `Vary: Origin` always, so a shared cache never hands one origin's answer to another.
 */
function corsHeaders(request: IncomingMessage, origins: Pick<OriginRule, 'isListed'>): { headers: Headers; allowedOrigin: boolean } {
  const origin = request.headers.origin;
  const allowedOrigin = origin !== undefined && origins.isListed(origin);
  return { headers: allowedOrigin ? { vary: 'Origin', 'access-control-allow-origin': origin } : { vary: 'Origin' }, allowedOrigin };
}

/** `OPTIONS` on a token endpoint: a browser's preflight, answered for the configured origins only. */
export function servePreflight(request: IncomingMessage, response: ServerResponse, context: TokenRequestContext): void {
  const { headers, allowedOrigin } = corsHeaders(request, context.origins);
  if (request.headers.origin === undefined) {
    sendEmpty(response, 204, { ...headers, allow: 'POST, OPTIONS' });
    return;
  }
  if (!allowedOrigin) {
    sendJson(response, 403, { message: 'This origin may not call the token endpoints (see http.cors_allowed_origins)' }, headers);
    return;
  }
  sendEmpty(response, 204, {
    ...headers,
    'access-control-allow-methods': 'POST, OPTIONS',
    'access-control-allow-headers': CORS_ALLOWED_HEADERS,
    'access-control-max-age': String(CORS_MAX_AGE_SECONDS),
  });
}

class FormError extends Error {}

/**
 * The form parameters of a token request (`application/x-www-form-urlencoded`, or `multipart/form-data` as browsers send a
 * `FormData`, which Home Assistant's own client does). A parameter given twice is refused (RFC 6749 section 3.2), as is a file.
 */
async function readForm(request: IncomingMessage): Promise<Map<string, string>> {
  const body = await readBody(request);
  const type = mediaType(request);
  let entries: Array<[string, unknown]>;
  if (body.length === 0) entries = [];
  else if (type === 'application/x-www-form-urlencoded') entries = [...new URLSearchParams(body.toString('utf8'))];
  else if (type === 'multipart/form-data') {
    // The body is already bounded; the platform's parser (undici) reads the parts.
    const contentType = request.headers['content-type'] ?? '';
    const form = await new Response(body, { headers: { 'content-type': contentType } }).formData().catch(() => {
      throw new FormError('The multipart/form-data body does not parse');
    });
    entries = [...form.entries()];
  } else throw new FormError('Send the parameters as application/x-www-form-urlencoded or multipart/form-data');
  if (entries.length > MAX_FORM_FIELDS) throw new FormError(`A token request carries at most ${MAX_FORM_FIELDS} parameters`);
  const form = new Map<string, string>();
  for (const [name, value] of entries) {
    if (typeof value !== 'string') throw new FormError(`Parameter ${name.slice(0, 64)} must be text, not a file`);
    if (form.has(name)) throw new FormError(`Parameter ${name.slice(0, 64)} is given more than once`);
    if (value.length > MAX_FORM_VALUE_LENGTH) throw new FormError(`Parameter ${name.slice(0, 64)} is too long`);
    form.set(name, value);
  }
  return form;
}

/** An OAuth error answer (RFC 6749 section 5.2), never cached. */
function oauthError(response: ServerResponse, status: number, error: string, description: string, headers: Headers): void {
  sendJson(response, status, { error, error_description: description }, { ...headers, ...(isRetryable(status) ? retryAfter(undefined) : {}) });
}

/** Reads the form, or answers the refusal the way the token endpoint answers (OAuth's shape) and gives null. */
async function formOrRefuse(request: IncomingMessage, response: ServerResponse, headers: Headers): Promise<Map<string, string> | null> {
  try {
    return await readForm(request);
  } catch (error) {
    if (error instanceof HttpRefusal) oauthError(response, error.status, 'invalid_request', error.message, { ...headers, connection: 'close' });
    else if (error instanceof FormError) oauthError(response, 400, 'invalid_request', error.message, headers);
    else throw error;
    return null;
  }
}

/** `POST /auth/token`. */
export async function serveToken(request: IncomingMessage, response: ServerResponse, context: TokenRequestContext): Promise<void> {
  const { headers } = corsHeaders(request, context.origins);
  const form = await formOrRefuse(request, response, headers);
  if (form === null) return;
  // IndieAuth's revocation on the token endpoint, kept by Home Assistant for old clients: the same as /auth/revoke.
  if (form.get('action') === 'revoke') return revoke(response, form, context, headers);
  const grantType = form.get('grant_type');
  if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
    const named = grantType === undefined ? 'No grant_type given' : `Unsupported grant_type "${grantType.slice(0, 64)}"`;
    oauthError(response, 400, 'unsupported_grant_type', `${named}: use authorization_code or refresh_token`, headers);
    return;
  }
  const clientId = form.get('client_id');
  const code = form.get('code');
  // Home Assistant's order and words: the client id first, then the code.
  if (grantType === 'authorization_code') {
    if (clientId === undefined || clientId === '') return oauthError(response, 400, 'invalid_request', 'Invalid client id', headers);
    if (code === undefined || code === '' || code.length > MAX_OPAQUE_ID_LENGTH) {
      return oauthError(response, 400, 'invalid_request', 'Invalid code', headers);
    }
  }
  const refreshToken = form.get('refresh_token');
  const redirectUri = form.get('redirect_uri');
  if (grantType === 'refresh_token' && (refreshToken === undefined || refreshToken === '')) {
    return oauthError(response, 400, 'invalid_request', 'The refresh_token grant needs refresh_token', headers);
  }
  // The socket's command, so both transports run one token endpoint (the id is the socket's envelope, unused here).
  const command: AuthTokenCommand = {
    id: 1 as PositiveInt,
    type: 'auth/token',
    grant_type: grantType,
    ...(clientId === undefined || clientId === '' ? {} : { client_id: clientId }),
    ...(code === undefined ? {} : { code }),
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    // Empty is as absent (a form field left blank); any other value must be the code's own (RFC 6749 4.1.3).
    ...(redirectUri === undefined || redirectUri === '' ? {} : { redirect_uri: redirectUri }),
  };
  try {
    const tokens = await exchangeToken(context.auth, command, context.remoteAddress);
    sendJson(response, 200, tokens, headers);
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    const status = statusOf(error.code);
    // Home Assistant answers an unusable authorization code `invalid_request` ("Invalid code"), keeping `invalid_grant` for
    // an unknown refresh token; its clients expect that split. A redirect_uri that is not the code's keeps RFC 6749's name.
    const haCodeRefusal = grantType === 'authorization_code' && error.code === 'invalid_grant' && error.message !== REDIRECT_URI_MISMATCH;
    const code = haCodeRefusal ? 'invalid_request' : oauthCode(error);
    const wait = isRetryable(status) ? retryAfter(error.retryAfterSeconds) : {};
    sendJson(response, status, { error: code, error_description: error.message }, { ...headers, ...wait });
  }
}

/** The OAuth error a refusal of the auth layer is told as (RFC 6749's names where they fit). */
function oauthCode(error: ServiceError): string {
  switch (error.code) {
    case 'invalid_request':
    case 'invalid_grant':
    case 'unsupported_grant_type':
    case 'access_denied':
      return error.code;
    case 'not_allowed':
      return 'access_denied';
    case 'unavailable':
      return 'temporarily_unavailable';
    case 'rate_limited':
      return 'rate_limited';
    default:
      return 'server_error';
  }
}

/** `POST /auth/revoke`. */
export async function serveRevoke(request: IncomingMessage, response: ServerResponse, context: TokenRequestContext): Promise<void> {
  const { headers } = corsHeaders(request, context.origins);
  const form = await formOrRefuse(request, response, headers);
  if (form === null) return;
  await revoke(response, form, context, headers);
}

/**
 * Revokes the refresh token named by `token`. RFC 7009: 200 whether or not it existed (or was given at all); only a store
 * that cannot answer gets 503, since then nothing was revoked and the client should retry.
 */
async function revoke(response: ServerResponse, form: Map<string, string>, context: TokenRequestContext, headers: Headers): Promise<void> {
  const token = form.get('token');
  if (token !== undefined && token !== '') {
    try {
      await revokeToken(context.auth, token, context.remoteAddress);
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'unavailable') {
        sendJson(response, 503, { error: 'temporarily_unavailable', error_description: error.message }, { ...headers, ...retryAfter(error.retryAfterSeconds) });
        return;
      }
      throw error;
    }
  }
  sendEmpty(response, 200, headers);
}
