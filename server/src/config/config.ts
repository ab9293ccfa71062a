/** Configuration: a YAML file shaped like Home Assistant's, plus environment and flags; every bad key is reported by its path. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { parse as parseYaml } from 'yaml';
import { describeErrors } from '@flowgate/shared';
import { closedObject } from '../codec.js';
import { providerFactory } from '../providers/registry.js';

/** Raised for any configuration problem; its message is one line a person can act on. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const DEFAULT_PORT = 8123;
export const DEFAULT_HOST = '0.0.0.0';
/** The embedded store lives in this folder, beside the config file (or in the working directory without one). */
export const DATA_DIR_NAME = 'flowgate-data';

const Port = t.refinement(t.Int, (n) => n >= 0 && n <= 65535, 'port number (0-65535)');
const PositiveSeconds = t.refinement(t.number, (n) => n > 0 && Number.isFinite(n), 'a positive number of seconds');
const PositiveCount = t.refinement(t.Int, (n) => n > 0, 'a positive integer');
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
    login_flow: closedObject('login_flow', {}, { ttl_seconds: PositiveSeconds }),
    websocket: closedObject(
      'websocket',
      {},
      {
        idle_timeout_seconds: PositiveSeconds,
        heartbeat_interval_seconds: PositiveSeconds,
        max_pending_commands: PositiveCount,
        max_frame_bytes: PositiveCount,
        max_flow_starts_per_minute: t.refinement(t.Int, (n) => n >= 0, 'a whole number, 0 for no limit'),
      },
    ),
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
  readonly flowTtlMs: number | undefined;
  readonly websocket: {
    readonly phaseOneIdleTimeoutMs?: number;
    readonly heartbeatIntervalMs?: number;
    readonly maxPendingCommands?: number;
    readonly maxFrameBytes?: number;
    readonly maxFlowStartsPerMinute?: number;
  };
}

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

function decodeProviders(entries: readonly t.TypeOf<typeof ProviderEntry>[], path: string): ProviderConfig[] {
  return entries.map((entry, index) => {
    const factory = providerFactory(entry.type);
    if (factory === undefined) {
      throw new ConfigError(`Invalid config file ${path}: auth_providers[${index}].type: unknown provider type "${entry.type}"`);
    }
    // Decoding under the entry's own path makes errors read `auth_providers[0].users[1].password: ...`.
    const decoded = factory.configCodec.validate(entry, [
      { key: '', type: ConfigFile, actual: undefined },
      { key: 'auth_providers', type: t.UnknownArray, actual: entries },
      { key: String(index), type: factory.configCodec, actual: entry },
    ]);
    if (isLeft(decoded)) throw new ConfigError(`Invalid config file ${path}: ${describeErrors(decoded.left)}`);
    return decoded.right;
  });
}

function parsePort(value: string, origin: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${origin} must be a port number between 0 and 65535, not "${value}"`);
  }
  return port;
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
  return {
    configPath,
    port: portFlag === undefined || portFlag === '' ? file.port ?? DEFAULT_PORT : parsePort(portFlag, origin),
    host: sources.host ?? env['FLOWGATE_HOST'] ?? file.host ?? DEFAULT_HOST,
    storeUrl: sources.storeUrl ?? (env['FLOWGATE_STORE'] || undefined) ?? file.store,
    dataDir: resolve(configPath === null ? sources.cwd : dirname(configPath), DATA_DIR_NAME),
    logLevel,
    authProviders:
      file.auth_providers === undefined ? DEFAULT_PROVIDERS : decodeProviders(file.auth_providers, configPath ?? ''),
    flowTtlMs: file.login_flow?.ttl_seconds === undefined ? undefined : file.login_flow.ttl_seconds * 1000,
    websocket: {
      ...(ws.idle_timeout_seconds === undefined ? {} : { phaseOneIdleTimeoutMs: ws.idle_timeout_seconds * 1000 }),
      ...(ws.heartbeat_interval_seconds === undefined ? {} : { heartbeatIntervalMs: ws.heartbeat_interval_seconds * 1000 }),
      ...(ws.max_pending_commands === undefined ? {} : { maxPendingCommands: ws.max_pending_commands }),
      ...(ws.max_frame_bytes === undefined ? {} : { maxFrameBytes: ws.max_frame_bytes }),
      ...(ws.max_flow_starts_per_minute === undefined ? {} : { maxFlowStartsPerMinute: ws.max_flow_starts_per_minute }),
    },
  };
}
