/** The composition root: builds the store, the providers, the auth manager and the transport from a Config. */
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import { AuthManager } from './auth/manager.js';
import type { Config } from './config/config.js';
import { randomId } from './crypto.js';
import { providerFactory } from './providers/registry.js';
import { openStore } from './store/open.js';
import type { Store } from './store/types.js';
import { attachTransport, type Transport } from './transport/server.js';
import { handleHttpRequest } from './transport/http.js';
import { SERVER_VERSION } from './version.js';

export interface RunningServer {
  readonly instanceId: string;
  readonly port: number;
  readonly store: Store;
  readonly logger: Logger;
  /** Drains sockets (close 1012), stops listening and closes the store. */
  close(): Promise<void>;
}

export function createLogger(level: Config['logLevel']): Logger {
  // Never log a secret, even by accident through an object that happens to carry one.
  return pino({
    level,
    base: { pid: process.pid },
    redact: { paths: ['*.password', '*.access_token', '*.refresh_token', '*.code', '*.token'], censor: '[redacted]' },
  });
}

export async function startServer(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  const instanceId = `${hostname().slice(0, 24)}-${randomId(4)}`;
  const store = await openStore(config.storeUrl, { dataDir: config.dataDir, logger });
  const providers = config.authProviders.map((providerConfig) => {
    const factory = providerFactory(providerConfig.type);
    if (factory === undefined) throw new Error(`Unknown provider type ${providerConfig.type}`);
    return factory.create(providerConfig, { store });
  });
  const auth = new AuthManager({
    store,
    providers,
    ...(config.flowTtlMs === undefined ? {} : { flowTtlMs: config.flowTtlMs }),
    onFlowFinished: (flow, result) =>
      logger.info(
        {
          flowId: flow.flowId,
          handler: flow.handler,
          clientId: flow.context.clientId,
          remote: flow.context.remoteAddress,
          outcome: result.type,
          ...(result.type === 'abort' ? { reason: result.reason } : {}),
        },
        'login flow finished',
      ),
  });
  const httpServer: Server = createServer((request, response) => handleHttpRequest(request, response, store));
  httpServer.on('clientError', (_error, socket) => socket.destroy());
  const transport: Transport = await attachTransport({
    httpServer,
    auth,
    instanceId,
    serverVersion: SERVER_VERSION,
    logger,
    limits: config.websocket,
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const address = httpServer.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  logger.info({ instance: instanceId, port, host: config.host, store: store.description }, 'flowgate listening');
  return {
    instanceId,
    port,
    store,
    logger,
    async close() {
      await transport.shutdown();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await store.close();
    },
  };
}
