/**
 * Home Assistant's HTTP login API on the server's port: the routes, the ban check every one of them passes, the provider list
 * and the OAuth metadata document. The flows and tokens behind them are the socket's (http-login-flow.ts, http-token.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_OPAQUE_ID_LENGTH } from '@flowgate/shared';
import type { Logger } from 'pino';
import type { AuthManager } from '../auth/manager.js';
import type { ClientAddressPolicy } from '../defense/client-address.js';
import { requestClientAddress, sendJson } from './http-io.js';
import { serveAbort, serveStart, serveStep, type LoginFlowRequestContext } from './http-login-flow.js';
import type { OriginRule } from './origin.js';
import { servePreflight, serveRevoke, serveToken, type TokenRequestContext } from './http-token.js';

export interface HttpAuthOptions {
  readonly auth: AuthManager;
  /** The same policy the WebSocket upgrade uses (trusted proxies, X-Forwarded-For, PROXY protocol). */
  readonly clientAddress: ClientAddressPolicy;
  /** The socket's origin rule: pages of a foreign origin may not run login flows; listed ones get CORS on the token endpoints. */
  readonly origins: OriginRule;
  readonly logger: Logger;
}

export interface HttpAuthApi {
  /** True for the paths this API answers (anything else goes on to the static files). */
  handles(path: string): boolean;
  handle(request: IncomingMessage, response: ServerResponse, path: string): void;
}

export const WELL_KNOWN_PATH = '/.well-known/oauth-authorization-server';
const LOGIN_FLOW_PATH = '/auth/login_flow';
const FLOW_PREFIX = `${LOGIN_FLOW_PATH}/`;
const EXACT_PATHS: ReadonlySet<string> = new Set([WELL_KNOWN_PATH, '/auth/providers', LOGIN_FLOW_PATH, '/auth/token', '/auth/revoke']);
/** Home Assistant's page about this API: every field of the metadata document below is described there. */
const SERVICE_DOCUMENTATION = 'https://developers.home-assistant.io/docs/auth_api';
/** A Host header we put into the metadata document: a host name or address and an optional port, nothing else. */
const HOST_PATTERN = /^(?:[a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(?::\d{1,5})?$/i;

type Route = (request: IncomingMessage, response: ServerResponse, context: RequestContext) => Promise<void> | void;
type RequestContext = LoginFlowRequestContext & TokenRequestContext & { readonly options: HttpAuthOptions };

/** The flow id of a `/auth/login_flow/{flow_id}` path, or null when the rest is not one plausible id. */
function flowIdOf(path: string): string | null {
  if (!path.startsWith(FLOW_PREFIX)) return null;
  const id = path.slice(FLOW_PREFIX.length);
  return /^[A-Za-z0-9_-]+$/.test(id) && id.length <= MAX_OPAQUE_ID_LENGTH ? id : null;
}

const methodNotAllowed =
  (allow: string): Route =>
  (_request, response) =>
    sendJson(response, 405, { message: 'Method not allowed' }, { allow });

/** The routes of one path by method; a method not listed is 405 with Allow naming the ones that are. */
function byMethod(routes: Readonly<Record<string, Route>>): Route {
  const allow = Object.keys(routes).join(', ');
  return (request, response, context) => {
    const method = request.method === 'HEAD' && routes['GET'] !== undefined ? 'GET' : (request.method ?? '');
    const route = Object.hasOwn(routes, method) ? routes[method] : undefined;
    return (route ?? methodNotAllowed(allow))(request, response, context);
  };
}

/** The public base URL of this server as the client reached it: a trusted proxy may say the scheme and host. */
function baseUrl(request: IncomingMessage, policy: ClientAddressPolicy): string | null {
  const proxied = policy.isTrustedProxy(request.socket.remoteAddress);
  const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim();
  const forwardedProto = proxied ? first(request.headers['x-forwarded-proto'])?.toLowerCase() : undefined;
  const scheme = forwardedProto === 'https' || forwardedProto === 'http' ? forwardedProto : 'http';
  const host = (proxied ? first(request.headers['x-forwarded-host']) : undefined) ?? request.headers.host;
  return host !== undefined && HOST_PATTERN.test(host) ? `${scheme}://${host}` : null;
}

/** `GET /.well-known/oauth-authorization-server` (RFC 8414), Home Assistant's newest document: absolute URLs, no PKCE. */
const wellKnown: Route = (request, response, { options }) => {
  const base = baseUrl(request, options.clientAddress);
  if (base === null) return sendJson(response, 400, { message: 'The request has no valid Host header' });
  sendJson(response, 200, {
    issuer: base,
    authorization_endpoint: `${base}/auth/authorize`,
    token_endpoint: `${base}/auth/token`,
    revocation_endpoint: `${base}/auth/revoke`,
    response_types_supported: ['code'],
    service_documentation: SERVICE_DOCUMENTATION,
  });
};

/** `GET /auth/providers`: Home Assistant's newest shape. No "remember me" box is pre-ticked: tokens are the client's to keep. */
const providers: Route = (_request, response, { auth, remoteAddress }) =>
  sendJson(response, 200, {
    providers: auth.providers(remoteAddress).map(({ name, id, type }) => ({ name, id, type })),
    preselect_remember_me: false,
  });

const ROUTES: Readonly<Record<string, Route>> = {
  [WELL_KNOWN_PATH]: byMethod({ GET: wellKnown }),
  '/auth/providers': byMethod({ GET: providers }),
  // Home Assistant never lists the flows in progress (they belong to other clients).
  [LOGIN_FLOW_PATH]: byMethod({ GET: methodNotAllowed('POST'), POST: (rq, rs, c) => serveStart(rq, rs, c) }),
  '/auth/token': byMethod({ POST: (rq, rs, c) => serveToken(rq, rs, c), OPTIONS: (rq, rs, c) => servePreflight(rq, rs, c) }),
  '/auth/revoke': byMethod({ POST: (rq, rs, c) => serveRevoke(rq, rs, c), OPTIONS: (rq, rs, c) => servePreflight(rq, rs, c) }),
};

/** `/auth/login_flow/{flow_id}`: a flow's state is never read over HTTP (Home Assistant answers 404 to GET). */
const flowRoute = (flowId: string): Route =>
  byMethod({
    GET: (_rq, response) => sendJson(response, 404, { message: 'Invalid flow specified' }),
    POST: (rq, rs, c) => serveStep(rq, rs, flowId, c),
    DELETE: (rq, rs, c) => serveAbort(rq, rs, flowId, c),
  });

export function httpAuthApi(options: HttpAuthOptions): HttpAuthApi {
  const { auth, logger } = options;

  async function run(request: IncomingMessage, response: ServerResponse, route: Route, loginFlow: boolean): Promise<void> {
    // The socket's rule: a text/plain POST needs no preflight, so without it any page could start flows from its visitors.
    const foreignOrigin = loginFlow ? options.origins.foreignOrigin(request) : null;
    if (foreignOrigin !== null) {
      request.resume();
      const text = `Pages of ${foreignOrigin.slice(0, 256)} may not log in here: the operator can allow them in http.cors_allowed_origins`;
      sendJson(response, 403, { message: text, code: 'origin_not_allowed' }, { connection: 'close' });
      return;
    }
    const remoteAddress = requestClientAddress(request, options.clientAddress);
    // Home Assistant answers a banned address 403 on every request; a store that cannot say lets it through, as the socket does
    // (the login limits still hold at its first attempt).
    if (auth.defense.bansEnabled && (await auth.defense.isBanned(remoteAddress).catch(() => false))) {
      sendJson(response, 403, { message: 'This address is banned after too many failed login attempts.' });
      return;
    }
    await route(request, response, { auth, remoteAddress, logger, origins: options.origins, options });
  }

  return {
    handles: (path) => EXACT_PATHS.has(path) || path.startsWith(FLOW_PREFIX),
    handle(request, response, path) {
      const flowId = flowIdOf(path);
      const route = Object.hasOwn(ROUTES, path) ? ROUTES[path] : flowId === null ? undefined : flowRoute(flowId);
      if (route === undefined) {
        sendJson(response, 404, { message: 'Invalid flow specified' });
        return;
      }
      run(request, response, route, path === LOGIN_FLOW_PATH || flowId !== null).catch((error: unknown) => {
        // Nothing of the failure reaches the client but the fact; the log has it whole.
        logger.error({ err: error, path, method: request.method }, 'HTTP login API request failed');
        sendJson(response, 500, { message: 'Internal server error' });
      });
    },
  };
}
