/** The composition root: builds the store, the providers, the auth manager and the transport from a Config. */
import { createServer, type Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';
import { AuthManager } from './auth/manager.js';
import { auditLog } from './observability/audit.js';
import type { MfaModule } from './mfa/module.js';
import { mfaModuleFactory } from './mfa/registry.js';
import { ConfigError, type Config } from './config/config.js';
import { randomId } from './crypto.js';
import { clientAddressPolicy } from './defense/client-address.js';
import { createMetrics, type Metrics, type MfaCodePurpose, type MfaCodeResult } from './observability/metrics.js';
import { logDestination } from './observability/log-destination.js';
import { startEventLoopReport } from './observability/event-loop-report.js';
import { passwordConfigIn } from './providers/password.js';
import { loadServerSecret, ServerSecret } from './secrets/server-secret.js';
import { providerFactory } from './providers/registry.js';
import { verifyGate } from './providers/verify-gate.js';
import { openStore } from './store/open.js';
import type { Store } from './store/types.js';
import { attachTransport, type Transport } from './transport/server.js';
import { handleHttpRequest } from './transport/http.js';
import { httpAuthApi } from './transport/http-auth.js';
import { forwardedForGuard } from './transport/http-io.js';
import { originRule } from './transport/origin.js';
import { createProxyProtocolListener } from './transport/proxy-protocol.js';
import { startMetricsListener, type MetricsListener } from './transport/metrics-endpoint.js';
import { Readiness } from './transport/readiness.js';
import { SERVER_VERSION } from './version.js';

export interface RunningServer {
  readonly instanceId: string;
  readonly port: number;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** What `/readyz` answers from. */
  readonly readiness: Readiness;
  /** The separate `/metrics` listener's port, when `metrics.port` is set. */
  readonly metricsPort: number | undefined;
  /** Says `draining` on /readyz, drains sockets (close 1012), stops listening and closes the store. */
  close(): Promise<void>;
}

/** Fields that hold secrets wherever they appear, at the top of a log line or one level down. */
const SECRET_FIELDS = ['password', 'access_token', 'refresh_token', 'code', 'token', 'device_token', 'user_input'];

const CENSOR = '[redacted]';

export function createLogger(level: Config['logLevel'], destination: DestinationStream = logDestination()): Logger {
  // Never log a secret, even by accident through an object that happens to carry one.
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]), censor: CENSOR } },
    destination,
  );
}

/**
 * The audit log's logger: its fields are flat values by type (`AuditFields`), so only the top-level secret names can match. The
 * one-level-down wildcards cost ~15 us a line here (a failed login step's line took 17 us to format, 2 us without them).
 */
export function auditLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: SECRET_FIELDS, censor: CENSOR } });
}

/** True when the store is Redis (redis://, rediss://, redis+cluster://, redis+sentinel://), shared by every instance. */
function isSharedStore(config: Config): boolean {
  return /^rediss?(\+[a-z]+)?:/i.test(config.storeUrl?.trim() ?? '');
}

/**
 * The server's secret_key (secrets/server-secret.ts): the configured one, or with the embedded store the one generated into the
 * data folder. A ConfigError that says how to make one when the key is malformed, or missing with a shared store.
 */
export function serverSecretOf(config: Config): ServerSecret {
  return loadServerSecret({ secretKey: config.secretKey, sharedStore: isSharedStore(config), dataDir: config.dataDir });
}

/** The same, read only when first used: the CLI's commands that sign nothing work without it. */
export const deferredServerSecret = (config: Config): ServerSecret => ServerSecret.deferred(() => serverSecretOf(config));

/**
 * The configured MFA modules. A module that seals secrets (TOTP's) does so with the server secret, unless its config (or a key
 * file an earlier version generated for the embedded store) gives it a key of its own.
 */
export function createMfaModules(
  config: Config,
  store: Store,
  observe?: { metrics: Metrics; logger: Logger },
  serverSecret: ServerSecret = deferredServerSecret(config),
): MfaModule[] {
  const sharedStore = isSharedStore(config);
  // Code messages (notify) are counted: sent, refused past the user's cap, failed to deliver (the client is told only that).
  const onCodeMessage = (purpose: MfaCodePurpose, result: MfaCodeResult, error?: unknown): void => {
    observe?.metrics.mfaCodes.inc({ purpose, result });
    if (result === 'failed') observe?.logger.warn({ err: error, purpose }, 'an MFA code message was not delivered');
  };
  return config.mfaModules.map((moduleConfig) => {
    const factory = mfaModuleFactory(moduleConfig.type);
    if (factory === undefined) throw new Error(`Unknown MFA module type ${moduleConfig.type}`);
    return factory.create(moduleConfig, { store, dataDir: config.dataDir, sharedStore, serverSecret, onCodeMessage, leases: store });
  });
}

export async function startServer(config: Config, baseLogger: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  const instanceId = `${hostname().slice(0, 24)}-${randomId(4)}`;
  // Every line names its instance, so the logs of a scaled-out deployment can be read together.
  const logger = baseLogger.child({ instance: instanceId });
  // First, so a bad http.trusted_proxies entry stops the start before anything is opened.
  const clientAddress = clientAddressPolicy(config.http);
  const origins = originRule({
    allowedOrigins: config.http.corsAllowedOrigins,
    clientAddress,
    invalid: (message) => {
      throw new ConfigError(message);
    },
  });
  // Before the store when configured or required (a Redis deployment without secret_key must not start, nor touch Redis);
  // the embedded store's generated one after it, so that a store URL refused leaves no key file behind.
  const secretFirst = config.secretKey !== undefined || isSharedStore(config) ? serverSecretOf(config) : undefined;
  // One gate per process (the cores are), so the last server started in a process sets it: in production there is one.
  verifyGate.configure(config.passwordHashing ?? {});
  const metrics = createMetrics();
  const store = await openStore(config.storeUrl, {
    dataDir: config.dataDir,
    logger,
    timeoutMs: config.storeTimeoutMs,
    onFailure: () => metrics.storeErrors.inc(),
  });
  let serverSecret: ServerSecret;
  try {
    serverSecret = secretFirst ?? serverSecretOf(config);
  } catch (error) {
    await store.close();
    throw error;
  }
  const providers = config.authProviders.map((providerConfig) => {
    const factory = providerFactory(providerConfig.type);
    if (factory === undefined) throw new Error(`Unknown provider type ${providerConfig.type}`);
    return factory.create(providerConfig, { store, trustedProxies: config.http.trustedProxies, logger: logger.child({ provider: providerConfig.type }) });
  });
  const mfaModules = createMfaModules(config, store, { metrics, logger }, serverSecret);
  const auth = new AuthManager({
    store,
    serverSecret,
    providers,
    ...(config.flowTtlMs === undefined ? {} : { flowTtlMs: config.flowTtlMs }),
    metrics,
    loginLimits: config.loginLimits,
    mfaModules,
    ...(config.mfaSessionMs === undefined ? {} : { mfaSessionMs: config.mfaSessionMs }),
    privilegedSessionMs: config.privilegedSessionMs,
    // Passwords set by admin commands are hashed as the password provider's own logins are.
    passwordOptions: passwordConfigIn(config.authProviders) ?? {},
    clients: config.clients,
    indieAuth: {
      allowPrivateAddresses: config.indieAuthAllowPrivateAddresses,
      // Info, not error: any unauthenticated client can name any page, and the operator needs this only when a client fails.
      onPageProblem: (clientId, reason) => logger.info({ clientId, reason }, 'client id page gave no matching redirect URI'),
    },
    bans: { enabled: config.http.ipBanEnabled, threshold: config.http.loginAttemptsThreshold },
    audit: auditLog(auditLogger(logger)),
    onBackgroundError: (error) => logger.error({ err: error }, 'after-step work failed'),
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
  const readiness = new Readiness(store);
  const metricsAccess = { source: metrics.registry, token: config.metrics.token };
  // Home Assistant's HTTP login API, on the flows, tokens and address rules the socket uses.
  const authApi = httpAuthApi({ auth, clientAddress, origins, logger });
  // One guard for the socket and the HTTP routes, so a proxy nobody listed gives one warning, not one per path.
  const forwardedFor = forwardedForGuard(clientAddress, logger);
  const httpServer: Server = createServer((request, response) =>
    handleHttpRequest(request, response, { readiness, metrics: metricsAccess, authApi, forwardedFor }),
  );
  httpServer.on('clientError', (_error, socket) => socket.destroy());
  const transport: Transport = await attachTransport({
    httpServer,
    auth,
    instanceId,
    serverVersion: SERVER_VERSION,
    logger,
    limits: config.websocket,
    metrics,
    clientAddress,
    origins,
    forwardedFor,
  });
  // With the PROXY protocol a TCP listener reads the header of trusted proxies first and hands the rest to HTTP.
  const listener: NetServer = clientAddress.proxyProtocol
    ? createProxyProtocolListener({ httpServer, policy: clientAddress, logger })
    : httpServer;
  const metricsListener: MetricsListener | undefined =
    config.metrics.port === undefined
      ? undefined
      : await startMetricsListener(metricsAccess, { host: config.metrics.host, port: config.metrics.port, logger });
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(config.port, config.host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await metricsListener?.close();
    throw error;
  }
  const address = listener.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  logger.info({ instance: instanceId, port, host: config.host, store: store.description }, 'flowgate listening');
  const stopLoopReport = startEventLoopReport(process.env, logger);
  return {
    instanceId,
    port,
    store,
    logger,
    metrics,
    readiness,
    metricsPort: metricsListener?.port,
    async close() {
      readiness.startDraining();
      stopLoopReport();
      await transport.shutdown();
      await Promise.all(
        [...new Set([httpServer, listener])].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
      await metricsListener?.close();
      readiness.stop();
      await store.close();
    },
  };
}
