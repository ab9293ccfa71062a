/** Plain HTTP on the same port: a health check for load balancers and a pointer to the WebSocket for people. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WEBSOCKET_PATH } from './limits.js';

export interface HealthSource {
  isAvailable(): boolean;
}

export function handleHttpRequest(request: IncomingMessage, response: ServerResponse, health: HealthSource): void {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path === '/healthz') {
    const ok = health.isAvailable();
    response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(JSON.stringify({ status: ok ? 'ok' : 'store_unavailable' }));
    return;
  }
  if (path === '/') {
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    response.end(`Flowgate is running. Connect a WebSocket to ${WEBSOCKET_PATH} to log in.\n`);
    return;
  }
  response.writeHead(404, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ message: 'Not found' }));
}
