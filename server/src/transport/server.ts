/** The WebSocket endpoint on the HTTP server: upgrades `/api/websocket`, greets, runs the heartbeat and drains on shutdown. */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode, HA_VERSION, PROTOCOL_VERSION, type AuthRequired } from '@flowgate/shared';
import type { Logger } from 'pino';
import type { AuthManager } from '../auth/manager.js';
import { clientAddressPolicy, limitKey, type ClientAddressPolicy } from '../defense/client-address.js';
import { UnauthenticatedSockets, type Release } from '../defense/unauthenticated-sockets.js';
import type { Metrics } from '../observability/metrics.js';
import { Connection } from './connection.js';
import { requestPath } from './http.js';
import { UserSockets } from './user-sockets.js';
import {
  DEFAULT_TRANSPORT_LIMITS,
  UNAUTHENTICATED_LEASE_GRACE_MS,
  UPGRADE_RETRY_AFTER_SECONDS,
  WEBSOCKET_PATH,
  type TransportLimits,
} from './limits.js';
import { forwardedForGuard, requestClientAddress, type ForwardedForGuard } from './http-io.js';
import { originRule, type OriginRule } from './origin.js';

export interface TransportOptions {
  readonly httpServer: Server;
  readonly auth: AuthManager;
  readonly instanceId: string;
  readonly serverVersion: string;
  readonly logger: Logger;
  readonly limits?: Partial<TransportLimits>;
  /** Whom to believe about the client address (`http:` config); default: the peer, no proxy trusted. */
  readonly clientAddress?: ClientAddressPolicy;
  /** The sockets gauge is kept here; command durations by each connection. */
  readonly metrics?: Metrics;
  /** Which pages' sockets may log in (`http.cors_allowed_origins`); default: the server's own origin only. */
  readonly origins?: OriginRule;
  /** Refuses an X-Forwarded-For that is not believed (shared with the HTTP routes, main.ts); default: one of its own. */
  readonly forwardedFor?: ForwardedForGuard;
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
  const addresses = options.clientAddress ?? clientAddressPolicy({ useXForwardedFor: false, trustedProxies: [], proxyProtocol: false });
  const origins = options.origins ?? originRule({ allowedOrigins: [], clientAddress: addresses });
  const forwardedFor = options.forwardedFor ?? forwardedForGuard(addresses, logger);
  const unauthenticated = new UnauthenticatedSockets({
    store: options.auth.store,
    limit: limits.maxUnauthenticatedSocketsPerAddress,
    leaseMs: limits.maxUnauthenticatedMs + UNAUTHENTICATED_LEASE_GRACE_MS,
    instanceId: options.instanceId,
    logger,
  });
  /** What each unauthenticated socket gives back when it authenticates or closes. */
  const releases = new WeakMap<WebSocket, Release>();
  /** Authenticated sockets by the refresh token they used, so a revocation closes exactly those. */
  const byRefreshToken = new Map<string, Set<Connection>>();
  /** Authenticated sockets by user, bounded by websocket.max_sockets_per_user. */
  const userSockets = new UserSockets<Connection>(limits.maxSocketsPerUser);
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
    const forwardedForRefusal = forwardedFor.refusal(request);
    if (forwardedForRefusal !== null) {
      refuseUpgrade(socket, '400 Bad Request', forwardedForRefusal, false);
      return;
    }
    if (limits.maxSockets > 0 && connections.size >= limits.maxSockets) {
      refuseUpgrade(socket, '503 Service Unavailable', 'This server holds as many connections as it may; try again shortly.');
      logger.warn({ sockets: connections.size }, 'refused a socket: the instance is at websocket.max_sockets');
      return;
    }
    // The PROXY header (when a trusted proxy sent one) stands in for the peer; X-Forwarded-For may then refine it. The HTTP
    // login API resolves its requests with the same function.
    const remoteAddress = requestClientAddress(request, addresses);
    const key = remoteAddress === null ? null : limitKey(remoteAddress);
    if (key !== null && !unauthenticated.hasRoom(key)) {
      refuseUpgrade(socket, '429 Too Many Requests', 'Too many connections from your address are waiting to log in; finish or close one.');
      logger.info({ remote: remoteAddress }, 'refused a socket: too many unauthenticated sockets from this address');
      return;
    }
    // Once per socket: a page of another origin may still `auth` with a token, but none of its login commands run.
    const foreignOrigin = origins.foreignOrigin(request);
    const upgrade = (): void => wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, remoteAddress, key, foreignOrigin));
    if (!options.auth.defense.bansEnabled) {
      upgrade();
      return;
    }
    // Home Assistant answers a banned address 403 on every request. A store that cannot say lets the socket in: the login
    // limits still hold at its first attempt.
    options.auth.defense.isBanned(remoteAddress).then(
      (banned) => {
        if (!banned) return upgrade();
        refuseUpgrade(socket, '403 Forbidden', 'This address is banned after too many failed login attempts.', false);
        logger.info({ remote: remoteAddress }, 'refused a socket: the address is banned');
      },
      () => upgrade(),
    );
  }

  function onConnection(ws: WebSocket, remoteAddress: string | null, key: string | null, foreignOrigin: string | null): void {
    const connection = new Connection({
      socket: ws,
      remoteAddress,
      foreignOrigin,
      auth: options.auth,
      limits,
      logger,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      admitSession: (authenticating, session) => {
        const refusal = userSockets.admit(authenticating, session.userId);
        if (refusal !== null) logger.info({ remote: remoteAddress, userId: session.userId }, 'refused a socket: the user is at websocket.max_sockets_per_user');
        return refusal;
      },
      onAuthenticated: (authenticated, session, previous) => {
        releases.get(ws)?.();
        if (previous === null) {
          options.metrics?.sockets.dec({ state: 'unauthenticated' });
          options.metrics?.sockets.inc({ state: 'authenticated' });
        }
        // A socket that authenticates again answers to its new token only.
        if (previous !== null) byRefreshToken.get(previous.refreshTokenId)?.delete(authenticated);
        const set = byRefreshToken.get(session.refreshTokenId) ?? new Set<Connection>();
        set.add(authenticated);
        byRefreshToken.set(session.refreshTokenId, set);
      },
    });
    connections.add(connection);
    if (key !== null) {
      const tooMany = (): void => {
        logger.info({ remote: remoteAddress }, 'closed a socket: too many unauthenticated sockets from this address on all instances');
        connection.closeAfterCurrentCommand(CloseCode.tryAgainLater, 'too many unauthenticated sockets from this address');
      };
      releases.set(
        ws,
        unauthenticated.admit(key, () => {
          if (!connection.authenticated) tooMany();
        }),
      );
    }
    options.metrics?.sockets.inc({ state: 'unauthenticated' });
    ws.on('close', () => {
      connections.delete(connection);
      userSockets.forget(connection);
      releases.get(ws)?.();
      options.metrics?.sockets.dec({ state: connection.authenticated ? 'authenticated' : 'unauthenticated' });
      const tokenId = connection.refreshTokenId;
      const set = tokenId === null ? undefined : byRefreshToken.get(tokenId);
      set?.delete(connection);
      if (tokenId !== null && set?.size === 0) byRefreshToken.delete(tokenId);
    });
    logger.debug({ remote: remoteAddress, ...(foreignOrigin === null ? {} : { foreignOrigin: foreignOrigin.slice(0, 256) }) }, 'connection opened');
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

/** Answers an upgrade with a plain HTTP status and a sentence for the person reading it; `retry` adds Retry-After (not for a ban). */
function refuseUpgrade(socket: Duplex, status: string, message: string, retry = true): void {
  const body = `${message}\n`;
  const retryAfter = retry ? `Retry-After: ${UPGRADE_RETRY_AFTER_SECONDS}\r\n` : '';
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\n${retryAfter}` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
