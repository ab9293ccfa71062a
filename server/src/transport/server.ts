/** The WebSocket endpoint on the HTTP server: upgrades `/api/websocket`, greets, runs the heartbeat and drains on shutdown. */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode, HA_VERSION, PROTOCOL_VERSION, type AuthRequired } from '@flowgate/shared';
import type { Logger } from 'pino';
import type { AuthManager } from '../auth/manager.js';
import { Connection } from './connection.js';
import { requestPath } from './http.js';
import { DEFAULT_TRANSPORT_LIMITS, WEBSOCKET_PATH, type TransportLimits } from './limits.js';

export interface TransportOptions {
  readonly httpServer: Server;
  readonly auth: AuthManager;
  readonly instanceId: string;
  readonly serverVersion: string;
  readonly logger: Logger;
  readonly limits?: Partial<TransportLimits>;
}

export interface Transport {
  /** Open sockets right now. */
  connectionCount(): number;
  /** Stops accepting sockets, lets commands in flight finish, then closes every socket with 1012 so clients reconnect elsewhere. */
  shutdown(): Promise<void>;
}

export async function attachTransport(options: TransportOptions): Promise<Transport> {
  const limits: TransportLimits = { ...DEFAULT_TRANSPORT_LIMITS, ...options.limits };
  const { logger } = options;
  const connections = new Set<Connection>();
  /** Authenticated sockets by the refresh token they used, so a revocation closes exactly those. */
  const byRefreshToken = new Map<string, Set<Connection>>();
  const unsubscribe = await options.auth.tokens.onRevoked((refreshTokenId) => {
    const revoked = byRefreshToken.get(refreshTokenId);
    if (revoked === undefined) return;
    byRefreshToken.delete(refreshTokenId);
    for (const connection of revoked) connection.closeAfterCurrentCommand(CloseCode.tokenRevoked, 'token_revoked');
    logger.info({ refreshTokenId, sockets: revoked.size }, 'closed sockets of a revoked refresh token');
  });
  let accepting = true;
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameBytes, clientTracking: false });
  wss.on('error', (error) => logger.error({ err: error }, 'websocket server error'));

  const hello: AuthRequired = {
    type: 'auth_required',
    ha_version: HA_VERSION,
    server: 'flowgate',
    version: options.serverVersion,
    protocol: PROTOCOL_VERSION,
    instance: options.instanceId,
  };
  const helloFrame = JSON.stringify(hello);

  function onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const path = requestPath(request.url);
    if (path !== WEBSOCKET_PATH || !accepting) {
      const status = accepting ? '404 Not Found' : '503 Service Unavailable';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, request));
  }

  function onConnection(ws: WebSocket, request: IncomingMessage): void {
    const remoteAddress = request.socket.remoteAddress ?? null;
    const connection = new Connection({
      socket: ws,
      remoteAddress,
      auth: options.auth,
      limits,
      logger,
      onAuthenticated: (authenticated, session, previous) => {
        // A socket that authenticates again answers to its new token only.
        if (previous !== null) byRefreshToken.get(previous.refreshTokenId)?.delete(authenticated);
        const set = byRefreshToken.get(session.refreshTokenId) ?? new Set<Connection>();
        set.add(authenticated);
        byRefreshToken.set(session.refreshTokenId, set);
      },
    });
    connections.add(connection);
    ws.on('close', () => {
      connections.delete(connection);
      const tokenId = connection.refreshTokenId;
      const set = tokenId === null ? undefined : byRefreshToken.get(tokenId);
      set?.delete(connection);
      if (tokenId !== null && set?.size === 0) byRefreshToken.delete(tokenId);
    });
    logger.debug({ remote: remoteAddress }, 'connection opened');
    ws.send(helloFrame);
  }

  const heartbeat = setInterval(() => {
    for (const connection of connections) {
      if (!connection.alive) {
        connection.terminate();
        continue;
      }
      connection.alive = false;
      connection.ping();
    }
  }, limits.heartbeatIntervalMs);
  heartbeat.unref();

  options.httpServer.on('upgrade', onUpgrade);

  return {
    connectionCount: () => connections.size,
    async shutdown() {
      accepting = false;
      clearInterval(heartbeat);
      await unsubscribe().catch(() => undefined);
      await Promise.all([...connections].map((c) => c.drainAndClose(CloseCode.serviceRestart, 'service restart')));
      options.httpServer.off('upgrade', onUpgrade);
      wss.close();
    },
  };
}
