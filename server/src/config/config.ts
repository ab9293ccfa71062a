/** Configuration: a YAML file shaped like Home Assistant's, plus environment and flags; every bad key is reported by its path. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { parse as parseYaml } from 'yaml';
import { describeErrors } from '@flowgate/shared';
import { closedObject } from '../codec.js';
import { mfaModuleFactory } from '../mfa/registry.js';
import { providerFactory } from '../providers/registry.js';
import { DEFAULT_STORE_TIMEOUT_MS } from '../store/deadline.js';
import { DEFAULT_PRIVILEGED_SESSION_MS } from '../tokens/refresh-tokens.js';
import { ConfigError } from './error.js';

// Defined apart (./error.ts) so that MFA modules, which this file's registry imports, can raise it too.
export { ConfigError };

export const DEFAULT_PORT = 8123;
export const DEFAULT_HOST = '0.0.0.0';
/** The embedded store lives in this folder, beside the config file (or in the working directory without one). */
export const DATA_DIR_NAME = 'flowgate-data';

const Port = t.refinement(t.Int, (n) => n >= 0 && n <= 65535, 'port number (0-65535)');
const PositiveSeconds = t.refinement(t.number, (n) => n > 0 && Number.isFinite(n), 'a positive number of seconds');
const PositiveCount = t.refinement(t.Int, (n) => n > 0, 'a positive integer');
const NonNegativeCount = t.refinement(t.Int, (n) => n >= 0, 'a whole number, 0 for no limit');
const PositiveMs = t.refinement(t.Int, (n) => n > 0, 'a positive number of milliseconds');
const LogLevel = t.keyof({ fatal: null, error: null, warn: null, info: null, debug: null, trace: null, silent: null });

const ProviderEntry = t.intersection([t.type({ type: t.string }), t.UnknownRecord]);

export const ConfigFile = closedObject(
  'Flowgate config',
  {},
  {
    port: Port,
    host: t.string,
    store: t.string,
    log_level: LogLevel,
    auth_providers: t.array(ProviderEntry),
    mfa_modules: t.array(ProviderEntry),
    /** MFA logins: how long after its start a login flow's code is still taken (HA's 5 minutes), in seconds. */
    mfa: closedObject('mfa', {}, { session_seconds: PositiveSeconds }),
    login_flow: closedObject('login_flow', {}, { ttl_seconds: PositiveSeconds }),
    websocket: closedObject(
      'websocket',
      {},
      {
        idle_timeout_seconds: PositiveSeconds,
        heartbeat_interval_seconds: PositiveSeconds,
        max_pending_commands: PositiveCount,
        max_frame_bytes: PositiveCount,
        max_flow_starts_per_minute: NonNegativeCount,
        max_unauthenticated_seconds: PositiveSeconds,
        max_unauthenticated_sockets_per_address: NonNegativeCount,
        max_sockets: NonNegativeCount,
        max_sockets_per_user: NonNegativeCount,
      },
    ),
    /** Home Assistant's `http:` keys that concern Flowgate: who the client is behind proxies, and bans. */
    http: closedObject(
      'http',
      {},
      {
        use_x_forwarded_for: t.boolean,
        trusted_proxies: t.array(t.string),
        proxy_protocol: t.boolean,
        ip_ban_enabled: t.boolean,
        login_attempts_threshold: t.Int,
        /** Origins (`https://app.example`) whose pages may call the HTTP token endpoints from a browser (HA's `cors_allowed_origins`). */
        cors_allowed_origins: t.array(t.string),
      },
    ),
    /** OAuth clients known in advance: each client id's extra redirect URIs (beyond its own scheme and host, and its page's links). */
    clients: t.array(closedObject('clients[]', { client_id: t.string, redirect_uris: t.array(t.string) }, {})),
    /** IndieAuth: how a client id's page is fetched to find its `<link rel="redirect_uri">`. */
    indieauth: closedObject('indieauth', {}, { allow_private_addresses: t.boolean }),
    login_limits: closedObject(
      'login_limits',
      {},
      {
        address_failures: NonNegativeCount,
        address_window_seconds: PositiveSeconds,
        account_failures: NonNegativeCount,
        account_window_seconds: PositiveSeconds,
        device_failures: NonNegativeCount,
        device_window_seconds: PositiveSeconds,
        device_token_days: t.refinement(t.number, (n) => n > 0 && Number.isFinite(n), 'a positive number of days'),
        open_flows_per_address: NonNegativeCount,
      },
    ),
    /** The server secret every signing key is derived from: 32 random bytes, base64 or hex, the same on every instance. */
    secret_key: t.string,
    /** Step-up: privileged commands need a login at most this many seconds old. */
    privileged_session_seconds: PositiveSeconds,
    store_timeout_ms: PositiveMs,
    shutdown_timeout_seconds: PositiveSeconds,
    metrics: closedObject('metrics', {}, { port: Port, host: t.string, token: t.string }),
    password_hashing: closedObject('password_hashing', {}, { concurrency: PositiveCount, max_queued: NonNegativeCount }),
  },
);
export type ConfigFile = t.TypeOf<typeof ConfigFile>;

/** A provider's config as decoded by its own codec (its shape is the provider's business). */
export interface ProviderConfig {
  readonly type: string;
  readonly [key: string]: unknown;
}

export interface Config {
  readonly configPath: string | null;
  readonly port: number;
  readonly host: string;
  readonly storeUrl: string | undefined;
  readonly dataDir: string;
  readonly logLevel: t.TypeOf<typeof LogLevel>;
  readonly authProviders: readonly ProviderConfig[];
  /** `mfa_modules`, each decoded by its module's codec (server/src/mfa/registry.ts). */
  readonly mfaModules: readonly ProviderConfig[];
  /** How long after a login flow started its MFA code is still taken; the MFA handler's default when absent. */
  readonly mfaSessionMs: number | undefined;
  readonly flowTtlMs: number | undefined;
  readonly websocket: {
    readonly phaseOneIdleTimeoutMs?: number;
    readonly heartbeatIntervalMs?: number;
    readonly maxPendingCommands?: number;
    readonly maxFrameBytes?: number;
    readonly maxFlowStartsPerMinute?: number;
    readonly maxUnauthenticatedMs?: number;
    readonly maxUnauthenticatedSocketsPerAddress?: number;
    readonly maxSockets?: number;
    readonly maxSocketsPerUser?: number;
  };
  readonly http: HttpConfig;
  /** `clients:`: client id -> the redirect URIs configured for it. */
  readonly clients: ReadonlyMap<string, readonly string[]>;
  /** Fetch client id pages from private, loopback and link-local addresses too (off: server-side request forgery). */
  readonly indieAuthAllowPrivateAddresses: boolean;
  /** Only the keys the file sets; the defense module fills in the defaults. */
  readonly loginLimits: LoginLimitsConfig;
  /** `secret_key` as written in the file (or FLOWGATE_SECRET_KEY); decoded and checked by the tokens' key module. */
  readonly secretKey: string | undefined;
  /** Step-up: privileged commands need a login (code exchange or re-authentication) at most this old. */
  readonly privilegedSessionMs: number;
  /** Deadline of every store call, past which the command answers `unavailable`. */
  readonly storeTimeoutMs: number;
  /** SIGTERM ends the process within this long, even when draining cannot finish (a hung store). */
  readonly shutdownTimeoutMs: number;
  readonly metrics: MetricsConfig;
  /** `password_hashing:`: the verify gate's slots and queue (server/src/providers/verify-gate.ts); its defaults when absent. */
  readonly passwordHashing?: { readonly concurrency?: number; readonly maxQueued?: number };
}

export interface HttpConfig {
  /** Believe X-Forwarded-For, but only from a trusted proxy. */
  readonly useXForwardedFor: boolean;
  /** Addresses or CIDRs of the proxies in front of Flowgate. */
  readonly trustedProxies: readonly string[];
  /** Read a PROXY protocol (v1 or v2) header from connections of trusted proxies (haproxy `send-proxy-v2`). */
  readonly proxyProtocol: boolean;
  /** HA's permanent ban list; only bans when `loginAttemptsThreshold` is positive. */
  readonly ipBanEnabled: boolean;
  readonly loginAttemptsThreshold: number;
  /** Origins allowed to call `/auth/token` and `/auth/revoke` from a browser (CORS); none when empty. */
  readonly corsAllowedOrigins: readonly string[];
}

export interface LoginLimitsConfig {
  readonly addressFailures?: number;
  readonly addressWindowMs?: number;
  readonly accountFailures?: number;
  readonly accountWindowMs?: number;
  readonly deviceFailures?: number;
  readonly deviceWindowMs?: number;
  readonly deviceTokenTtlMs?: number;
  readonly openFlowsPerAddress?: number;
}

export interface MetricsConfig {
  /** A separate listener for `/metrics` (off when absent). */
  readonly port: number | undefined;
  /** Where that listener binds; loopback by default. */
  readonly host: string;
  /** When set, `/metrics` is also served on the public port to requests with `Authorization: Bearer <token>`. */
  readonly token: string | undefined;
}

// The store's deadline default lives with the deadline itself (every opened store has one, the CLI's too).
export { DEFAULT_STORE_TIMEOUT_MS };
/** What an orchestrator waits by default before SIGKILL is 30 s (Kubernetes, compose's stop_grace_period here): finish well inside it. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
export const DEFAULT_METRICS_HOST = '127.0.0.1';

export interface ConfigSources {
  readonly configPath?: string | undefined;
  readonly storeUrl?: string | undefined;
  readonly port?: string | undefined;
  readonly host?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/** With no config file: local password accounts (OWASP argon2id defaults), managed with `flowgate user`. */
const DEFAULT_PROVIDERS: readonly ProviderConfig[] = [{ type: 'password' }];

function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read the config file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw new ConfigError(`The config file ${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const decoded = ConfigFile.decode(raw);
  if (isLeft(decoded)) throw new ConfigError(`Invalid config file ${path}: ${describeErrors(decoded.left)}`);
  return decoded.right;
}

/** Decodes each entry of a plugin list (`auth_providers`, `mfa_modules`) with the codec of its `type`'s factory. */
function decodePlugins(
  key: 'auth_providers' | 'mfa_modules',
  what: string,
  find: (type: string) => { configCodec: t.Type<{ type: string }, unknown, unknown> } | undefined,
  entries: readonly t.TypeOf<typeof ProviderEntry>[],
  path: string,
): ProviderConfig[] {
  return entries.map((entry, index) => {
    const factory = find(entry.type);
    if (factory === undefined) {
      throw new ConfigError(`Invalid config file ${path}: ${key}[${index}].type: unknown ${what} type "${entry.type}"`);
    }
    // Decoding under the entry's own path makes errors read `auth_providers[0].users[1].password: ...`.
    const decoded = factory.configCodec.validate(entry, [
      { key: '', type: ConfigFile, actual: undefined },
      { key, type: t.UnknownArray, actual: entries },
      { key: String(index), type: factory.configCodec, actual: entry },
    ]);
    if (isLeft(decoded)) throw new ConfigError(`Invalid config file ${path}: ${describeErrors(decoded.left)}`);
    return decoded.right;
  });
}

/** MFA modules, each id (the type unless given) once: a login names its module by id. */
function decodeMfaModules(entries: readonly t.TypeOf<typeof ProviderEntry>[], path: string): ProviderConfig[] {
  const modules = decodePlugins('mfa_modules', 'MFA module', mfaModuleFactory, entries, path);
  const ids = modules.map((module) => (typeof module['id'] === 'string' ? module['id'] : module.type));
  const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
  if (repeated !== undefined) {
    throw new ConfigError(`Invalid config file ${path}: mfa_modules: the id "${repeated}" is used twice; give each module its own id`);
  }
  return modules;
}

function parsePort(value: string, origin: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${origin} must be a port number between 0 and 65535, not "${value}"`);
  }
  return port;
}

/** Drops the keys whose value is undefined (exactOptionalPropertyTypes keeps "absent" and "undefined" apart). */
function withoutUndefined<T extends object>(value: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Merges flags over environment over the config file over defaults. */
export function loadConfig(sources: ConfigSources): Config {
  const { env } = sources;
  const configPathRaw = sources.configPath ?? env['FLOWGATE_CONFIG'];
  const configPath = configPathRaw === undefined || configPathRaw === '' ? null : resolve(sources.cwd, configPathRaw);
  const file: ConfigFile = configPath === null ? {} : readConfigFile(configPath);
  const portFlag = sources.port ?? env['FLOWGATE_PORT'];
  const origin = sources.port === undefined ? 'FLOWGATE_PORT' : '--port';
  const logLevelEnv = env['FLOWGATE_LOG_LEVEL'];
  const logLevel = logLevelEnv === undefined ? file.log_level ?? 'info' : LogLevel.is(logLevelEnv) ? logLevelEnv : undefined;
  if (logLevel === undefined) throw new ConfigError(`FLOWGATE_LOG_LEVEL must be one of ${Object.keys(LogLevel.keys).join(', ')}`);
  const ws = file.websocket ?? {};
  const http = file.http ?? {};
  const limits = file.login_limits ?? {};
  const seconds = (value: number | undefined): number | undefined => (value === undefined ? undefined : value * 1000);
  return {
    configPath,
    port: portFlag === undefined || portFlag === '' ? file.port ?? DEFAULT_PORT : parsePort(portFlag, origin),
    host: sources.host ?? env['FLOWGATE_HOST'] ?? file.host ?? DEFAULT_HOST,
    storeUrl: sources.storeUrl ?? (env['FLOWGATE_STORE'] || undefined) ?? file.store,
    dataDir: resolve(configPath === null ? sources.cwd : dirname(configPath), DATA_DIR_NAME),
    logLevel,
    authProviders:
      file.auth_providers === undefined
        ? DEFAULT_PROVIDERS
        : decodePlugins('auth_providers', 'provider', providerFactory, file.auth_providers, configPath ?? ''),
    mfaModules: file.mfa_modules === undefined ? [] : decodeMfaModules(file.mfa_modules, configPath ?? ''),
    flowTtlMs: file.login_flow?.ttl_seconds === undefined ? undefined : file.login_flow.ttl_seconds * 1000,
    websocket: {
      ...(ws.idle_timeout_seconds === undefined ? {} : { phaseOneIdleTimeoutMs: ws.idle_timeout_seconds * 1000 }),
      ...(ws.heartbeat_interval_seconds === undefined ? {} : { heartbeatIntervalMs: ws.heartbeat_interval_seconds * 1000 }),
      ...(ws.max_pending_commands === undefined ? {} : { maxPendingCommands: ws.max_pending_commands }),
      ...(ws.max_frame_bytes === undefined ? {} : { maxFrameBytes: ws.max_frame_bytes }),
      ...(ws.max_flow_starts_per_minute === undefined ? {} : { maxFlowStartsPerMinute: ws.max_flow_starts_per_minute }),
      ...(ws.max_unauthenticated_seconds === undefined ? {} : { maxUnauthenticatedMs: ws.max_unauthenticated_seconds * 1000 }),
      ...(ws.max_unauthenticated_sockets_per_address === undefined
        ? {}
        : { maxUnauthenticatedSocketsPerAddress: ws.max_unauthenticated_sockets_per_address }),
      ...(ws.max_sockets === undefined ? {} : { maxSockets: ws.max_sockets }),
      ...(ws.max_sockets_per_user === undefined ? {} : { maxSocketsPerUser: ws.max_sockets_per_user }),
    },
    http: {
      useXForwardedFor: http.use_x_forwarded_for ?? false,
      trustedProxies: http.trusted_proxies ?? [],
      proxyProtocol: http.proxy_protocol ?? false,
      ipBanEnabled: http.ip_ban_enabled ?? false,
      loginAttemptsThreshold: http.login_attempts_threshold ?? -1,
      corsAllowedOrigins: http.cors_allowed_origins ?? [],
    },
    clients: new Map((file.clients ?? []).map((client) => [client.client_id, client.redirect_uris])),
    indieAuthAllowPrivateAddresses: file.indieauth?.allow_private_addresses ?? false,
    loginLimits: withoutUndefined({
      addressFailures: limits.address_failures,
      addressWindowMs: seconds(limits.address_window_seconds),
      accountFailures: limits.account_failures,
      accountWindowMs: seconds(limits.account_window_seconds),
      deviceFailures: limits.device_failures,
      deviceWindowMs: seconds(limits.device_window_seconds),
      deviceTokenTtlMs: limits.device_token_days === undefined ? undefined : limits.device_token_days * 24 * 60 * 60 * 1000,
      openFlowsPerAddress: limits.open_flows_per_address,
    }),
    mfaSessionMs: seconds(file.mfa?.session_seconds),
    secretKey: (env['FLOWGATE_SECRET_KEY'] || undefined) ?? file.secret_key,
    privilegedSessionMs: seconds(file.privileged_session_seconds) ?? DEFAULT_PRIVILEGED_SESSION_MS,
    storeTimeoutMs: file.store_timeout_ms ?? DEFAULT_STORE_TIMEOUT_MS,
    shutdownTimeoutMs: seconds(file.shutdown_timeout_seconds) ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    metrics: { port: file.metrics?.port, host: file.metrics?.host ?? DEFAULT_METRICS_HOST, token: file.metrics?.token },
    passwordHashing: withoutUndefined({ concurrency: file.password_hashing?.concurrency, maxQueued: file.password_hashing?.max_queued }),
  };
}
