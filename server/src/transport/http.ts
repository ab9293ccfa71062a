/**
 * Plain HTTP on the same port: liveness (`/healthz`) and readiness (`/readyz`) for load balancers, `/metrics` behind a token,
 * and the dashboard's static files (read from disk, never imported).
 */
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WEBSOCKET_PATH } from './limits.js';
import { METRICS_PATH, serveMetrics, type MetricsAccess } from './metrics-endpoint.js';
import type { ReadinessSource } from './readiness.js';
import type { HttpAuthApi } from './http-auth.js';
import type { ForwardedForGuard } from './http-io.js';

export interface HttpEndpoints {
  /** Backs `/readyz`; without it the instance always says ready. */
  readonly readiness?: ReadinessSource;
  /** `/metrics` on this port: only with a token configured (404 otherwise, so the public port never leaks them by default). */
  readonly metrics?: MetricsAccess;
  /** Home Assistant's HTTP login API (`/auth/*`, the OAuth metadata document); without it those paths are static files or 404. */
  readonly authApi?: HttpAuthApi;
  /** Refuses (400) a request whose X-Forwarded-For is not believed, on every route; without it the header is left to the routes. */
  readonly forwardedFor?: ForwardedForGuard;
}

/** Where the built dashboard lives: clients/web/dist beside the server package (server/dist/transport -> repository root). */
export const WEB_ROOT = resolve(fileURLToPath(new URL('../../../clients/web/dist/', import.meta.url)));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** The page itself must be revalidated (it names the current assets); assets may be cached briefly and then revalidated. */
const HTML_CACHE = 'no-cache';
/** Home Assistant's authorize page (`getAuth()` of home-assistant-js-websocket sends browsers here). */
const AUTHORIZE_PAGE_PATH = '/auth/authorize';
const ASSET_CACHE = 'public, max-age=300';

/**
 * Security headers for the page: no framing (clickjacking on a login form), no sniffing, scripts from this origin only, and
 * connections to this origin only ('self' covers its ws: and wss: too, CSP level 3): an injected script cannot send what the
 * page holds (tokens, a password being typed) anywhere else.
 */
const PAGE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
};

/**
 * The path of a request, or null when its target does not parse as a URL path (Node's parser accepts targets such as `//`
 * that `new URL` refuses: they must get a 404, not an exception that ends the process).
 */
export function requestPath(requestUrl: string | undefined): string | null {
  try {
    return new URL(requestUrl ?? '/', 'http://localhost').pathname;
  } catch {
    return null;
  }
}

export function handleHttpRequest(request: IncomingMessage, response: ServerResponse, endpoints: HttpEndpoints = {}, webRoot = WEB_ROOT): void {
  const forwardedForRefusal = endpoints.forwardedFor?.refusal(request) ?? null;
  if (forwardedForRefusal !== null) {
    response.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store', connection: 'close' });
    response.end(JSON.stringify({ message: forwardedForRefusal }));
    return;
  }
  const path = requestPath(request.url);
  if (path === null) {
    notFound(response);
    return;
  }
  if (path === '/healthz') {
    // Liveness only: the process serves HTTP. A store outage is for /readyz; restarting a process cannot fix Redis.
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(JSON.stringify({ status: 'ok' }));
    return;
  }
  if (path === '/readyz') {
    const reasons = endpoints.readiness?.notReadyReasons() ?? [];
    response.writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(JSON.stringify(reasons.length === 0 ? { status: 'ok', reasons } : { status: 'not_ready', reasons }));
    return;
  }
  if (path === METRICS_PATH) {
    if (endpoints.metrics?.token === undefined) notFound(response);
    else serveMetrics(request, response, endpoints.metrics);
    return;
  }
  if (endpoints.authApi?.handles(path) === true) {
    endpoints.authApi.handle(request, response, path);
    return;
  }
  if (path !== WEBSOCKET_PATH && (request.method === 'GET' || request.method === 'HEAD')) {
    serveStatic(path, request.method === 'HEAD', response, webRoot).catch(() => notFound(response));
    return;
  }
  notFound(response);
}

function notFound(response: ServerResponse): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(404, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ message: 'Not found' }));
}

/** A file under `webRoot` (index.html for `/`); anything that escapes the root, or is not a file, is a 404. */
async function serveStatic(path: string, headOnly: boolean, response: ServerResponse, webRoot: string): Promise<void> {
  let relative: string;
  try {
    // The OAuth authorize page is the dashboard itself, run for another application (clients/web/src/authorize.ts).
    relative = decodeURIComponent(path === '/' || path === AUTHORIZE_PAGE_PATH ? '/index.html' : path);
  } catch {
    return notFound(response);
  }
  const file = resolve(join(webRoot, relative));
  if (relative.includes('\0') || !file.startsWith(webRoot + sep)) return notFound(response);
  const info = await stat(file).catch(() => null);
  if (info === null || !info.isFile()) {
    if (path === '/') return fallbackHome(response);
    return notFound(response);
  }
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  const isHtml = type.startsWith('text/html');
  const body = headOnly ? undefined : await readFile(file);
  response.writeHead(200, {
    'content-type': type,
    'content-length': String(info.size),
    'cache-control': isHtml ? HTML_CACHE : ASSET_CACHE,
    'last-modified': info.mtime.toUTCString(),
    ...(isHtml ? PAGE_HEADERS : { 'x-content-type-options': 'nosniff' }),
  });
  response.end(body);
}

/** Without a built dashboard (`npm run build` makes it), `/` still says where the socket is. */
function fallbackHome(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
  response.end(`Flowgate is running. Connect a WebSocket to ${WEBSOCKET_PATH} to log in.\n`);
}
