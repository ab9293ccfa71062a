/** Redis Sentinel: the `redis+sentinel://` store URL and a node-redis sentinel client that behaves like the single-node one. */
import { createSentinel } from 'redis';
import { clientBehaviour, MAX_RECONNECT_DELAY_MS } from './client.js';
import { parseHostListUrl, type RedisNodeAddress } from './cluster.js';
import { SCRIPTS } from './scripts.js';

export const SENTINEL_SCHEMES = ['redis+sentinel:', 'rediss+sentinel:'] as const;
/** The port a sentinel listens on unless told otherwise. */
export const DEFAULT_SENTINEL_PORT = 26379;

export interface SentinelUrl {
  /** For the master (and its replicas); the sentinels themselves are asked without credentials. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Any of the sentinels that watch the master: the client asks the first one that answers where the master is. */
  readonly sentinels: readonly RedisNodeAddress[];
  /** The name the sentinels monitor the master under (`sentinel monitor <name> ...`). */
  readonly masterName: string;
  /** The URL with the password masked, for logs. */
  readonly description: string;
}

const USAGE = 'expected redis+sentinel://[user:password@]host[:port][,host[:port]...]/MASTER_NAME (port defaults to 26379)';

export function parseSentinelUrl(url: string): SentinelUrl {
  if (url.toLowerCase().startsWith('rediss+sentinel:')) {
    // node-redis would open TLS to the addresses the sentinels announce (IPs, as a rule), which certificates seldom name.
    throw new Error('TLS through Sentinel (rediss+sentinel://) is not supported; use redis+sentinel:// on a private network');
  }
  const { username, password, nodes, path, description } = parseHostListUrl(url, SENTINEL_SCHEMES, USAGE, DEFAULT_SENTINEL_PORT);
  const masterName = decodeURIComponent(path);
  if (masterName === '') throw new Error(`${USAGE}; the master name is missing`);
  if (masterName.includes('/')) throw new Error(`${USAGE}; a database number is not supported`);
  return { username, password, sentinels: nodes, masterName, description: `${description}/${path}` };
}

/**
 * node-redis keeps one connection to a sentinel (subscribed to its failover events), a connection to the master for commands,
 * and another for pub/sub that it moves to each new master with its subscriptions. Two settings bring it in line with the
 * other modes, where a command that meets an outage fails at once and is never sent twice:
 * - `maxCommandRediscovers: 0`: by default a command whose master connection drops is re-sent after the topology is found
 *   again (retried up to 16 times, a second apart), i.e. a caller waits through the whole failover and a script may run twice.
 *   With 0 the failure surfaces at once, and a first connect that finds no master rejects (connectInBackground retries it).
 * - `scanInterval`: node-redis moves to a new master when its sentinel publishes one of a few events, of which the
 *   `+switch-master` that matters is not one (its pattern lacks the `+`); asking the sentinels this often bounds the delay.
 * Readiness is checked before each call (isUsable in client.ts): node-redis would otherwise hold a command until a master
 * answers again.
 */
export function createRedisSentinelClient(url: SentinelUrl, connectTimeoutMs: number) {
  const behaviour = clientBehaviour(connectTimeoutMs);
  const connection = {
    disableOfflineQueue: behaviour.disableOfflineQueue,
    maintNotifications: behaviour.maintNotifications,
    socket: behaviour.socket,
  };
  return createSentinel({
    name: url.masterName,
    sentinelRootNodes: url.sentinels.map(({ host, port }) => ({ host, port })),
    nodeClientOptions: {
      ...(url.username === undefined ? {} : { username: url.username }),
      ...(url.password === undefined ? {} : { password: url.password }),
      ...connection,
    },
    // node-redis connects to a sentinel without reconnecting (it moves to another one instead), whatever the strategy says.
    sentinelClientOptions: connection,
    commandOptions: behaviour.commandOptions,
    maxCommandRediscovers: 0,
    scanInterval: MAX_RECONNECT_DELAY_MS,
    // A promoted replica has an empty script cache: each master connection falls back from EVALSHA to EVAL on NOSCRIPT.
    scripts: SCRIPTS,
  });
}

export type FlowgateRedisSentinel = ReturnType<typeof createRedisSentinelClient>;
