/** `GET /metrics` in Prometheus' text format: on a listener of its own (loopback by default) and/or behind a bearer token. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';

export const METRICS_PATH = '/metrics';

/** What renders the scrape: a prom-client Registry. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsAccess {
  readonly source: MetricsSource;
  /** When set, every scrape must send `Authorization: Bearer <token>`, on either listener. */
  readonly token: string | undefined;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Compared as SHA-256 digests: equal lengths for timingSafeEqual, and no timing hint of how much of the token matched. */
function presentsToken(request: IncomingMessage, token: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '');
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), digest(token));
}

function answer(response: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  response.end(JSON.stringify(body));
}

/** Answers a request for `/metrics`: 401 without the configured token, the scrape otherwise. */
export function serveMetrics(request: IncomingMessage, response: ServerResponse, access: MetricsAccess): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    answer(response, 405, { message: 'Use GET to scrape metrics' }, { allow: 'GET, HEAD' });
    return;
  }
  if (access.token !== undefined && !presentsToken(request, access.token)) {
    answer(response, 401, { message: 'Scraping metrics needs the configured token: send Authorization: Bearer <token>' }, {
      'www-authenticate': 'Bearer realm="metrics"',
    });
    return;
  }
  access.source.metrics().then(
    (text) => {
      response.writeHead(200, { 'content-type': access.source.contentType, 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : text);
    },
    () => answer(response, 500, { message: 'Metrics could not be collected' }),
  );
}

export interface MetricsListener {
  readonly port: number;
  close(): Promise<void>;
}

/** The separate metrics listener (`metrics.port`): it serves `/metrics` only, so nothing else is reachable on its address. */
export async function startMetricsListener(
  access: MetricsAccess,
  options: { readonly host: string; readonly port: number; readonly logger: Logger },
): Promise<MetricsListener> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === METRICS_PATH) serveMetrics(request, response, access);
    else answer(response, 404, { message: 'Not found: this listener serves /metrics only' });
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  options.logger.info({ host: options.host, port }, 'metrics listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection must not hold a shutdown up.
        server.closeAllConnections();
      }),
  };
}
