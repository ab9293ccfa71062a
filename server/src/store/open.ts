/**
 * Picks and opens the Store backend named by a store URL: redis://, rediss://, redis+cluster://, redis+sentinel:// (shared) or
 * sqlite: (embedded, the default).
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { RedisMode } from './redis/client.js';
import { CLUSTER_SCHEMES, parseClusterUrl } from './redis/cluster.js';
import { DEFAULT_STORE_TIMEOUT_MS, withDeadlines, type DeadlineOptions } from './deadline.js';
import { describeMigration } from './redis/migrate.js';
import { openRedisStore, RedisStore } from './redis/redis-store.js';
import { parseSentinelUrl, SENTINEL_SCHEMES } from './redis/sentinel.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { Store, StoreLogger } from './types.js';

export interface OpenStoreOptions {
  /** Where the default SQLite file (`flowgate.db`) lives when no URL is given. */
  readonly dataDir: string;
  readonly logger: StoreLogger;
  /** Redis only: namespaces keys and channels (`flowgate:<prefix>:...`); tests use a random one each. */
  readonly keyPrefix?: string | undefined;
  /** Deadline of every store call (default DEFAULT_STORE_TIMEOUT_MS); past it the call rejects with StoreUnavailableError. */
  readonly timeoutMs?: number | undefined;
  /** Told of every failed store call, timeouts included (the store error metric). */
  readonly onFailure?: DeadlineOptions['onFailure'];
}

export const DEFAULT_SQLITE_FILE = 'flowgate.db';

/** Hides the password of `scheme://user:password@host` (also in URLs that do not parse), for logs and error messages. */
export function maskStoreUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/@]*@/i, '$1***@');
}

/**
 * `sqlite:///abs/path` is absolute; `sqlite:PATH` is relative to the working directory (or absolute if PATH is). Anything
 * else after `sqlite://` would be a host, which SQLite has no use for.
 */
function sqlitePath(url: string): string | undefined {
  const rest = url.slice('sqlite:'.length);
  if (rest.startsWith('///')) return rest.length > 3 ? rest.slice(2) : undefined;
  if (rest.startsWith('//') || rest.length === 0) return undefined;
  return isAbsolute(rest) ? rest : resolve(process.cwd(), rest);
}

/** The Redis modes whose URL lists several hosts, which a WHATWG URL cannot parse. */
const hostListModes: ReadonlyArray<{ mode: RedisMode; schemes: readonly string[]; parse(url: string): { description: string } }> = [
  { mode: 'cluster', schemes: CLUSTER_SCHEMES, parse: parseClusterUrl },
  { mode: 'sentinel', schemes: SENTINEL_SCHEMES, parse: parseSentinelUrl },
];

/** Opens the backend the URL names, every call of which has the store deadline: no backend can hang its caller. */
export async function openStore(url: string | undefined, options: OpenStoreOptions): Promise<Store> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  const backend = await openBackend(url, options, timeoutMs);
  return withDeadlines(backend, { timeoutMs, ...(options.onFailure === undefined ? {} : { onFailure: options.onFailure }) });
}

/**
 * `flowgate store migrate`: brings a Redis store to this version's key layout and says what moved. Without the store deadline:
 * a large directory takes longer than one call may. The embedded store migrates its schema whenever it is opened.
 */
export async function migrateStoreLayout(url: string | undefined, options: OpenStoreOptions): Promise<string> {
  const backend = await openBackend(url, options, options.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS);
  try {
    if (!(backend instanceof RedisStore)) return `${backend.description}: the embedded store needs no migration (its schema is brought up to date whenever it is opened).`;
    return `${backend.description}: ${describeMigration(await backend.migrateLayout())}.`;
  } finally {
    await backend.close();
  }
}

async function openBackend(url: string | undefined, options: OpenStoreOptions, timeoutMs: number): Promise<Store> {
  // An empty variable (FLOWGATE_STORE_URL= in an env file) means "not set", as shells and compose files treat it.
  if (url === undefined || url.trim() === '') {
    return openSqliteStore({ path: resolve(join(options.dataDir, DEFAULT_SQLITE_FILE)), logger: options.logger });
  }
  const scheme = url.slice(0, url.indexOf(':') + 1).toLowerCase();
  if (scheme === 'redis:' || scheme === 'rediss:') {
    let description: string;
    try {
      const parsed = new URL(url);
      if (parsed.password !== '') parsed.password = '***';
      description = parsed.toString();
    } catch {
      throw new Error(`Invalid store URL "${maskStoreUrl(url)}": expected redis://[user:password@]host[:port][/db]`);
    }
    return openRedisStore({
      url,
      description,
      logger: options.logger,
      closeTimeoutMs: timeoutMs,
      ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
    });
  }
  const hostList = hostListModes.find((candidate) => candidate.schemes.includes(scheme));
  if (hostList !== undefined) {
    let description: string;
    try {
      description = hostList.parse(url).description;
    } catch (error) {
      throw new Error(`Invalid store URL "${maskStoreUrl(url)}": ${(error as Error).message}`, { cause: error });
    }
    return openRedisStore({
      url,
      description,
      mode: hostList.mode,
      logger: options.logger,
      closeTimeoutMs: timeoutMs,
      ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
    });
  }
  if (scheme === 'sqlite:') {
    const path = sqlitePath(url);
    if (path === undefined) {
      throw new Error(`Invalid store URL "${maskStoreUrl(url)}": use sqlite:relative/path.db or sqlite:///absolute/path.db`);
    }
    return openSqliteStore({ path, logger: options.logger });
  }
  throw new Error(`Unsupported store URL "${maskStoreUrl(url)}": use redis://, rediss://, redis+cluster://, redis+sentinel:// or sqlite:PATH`);
}
