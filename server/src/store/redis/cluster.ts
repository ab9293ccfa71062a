/** Redis Cluster: the `redis+cluster://` store URL and a node-redis cluster client configured like the single-node one. */
import { createCluster } from 'redis';
import { clientBehaviour, type FlowgateRedisClient } from './client.js';
import { SCRIPTS } from './scripts.js';

export const CLUSTER_SCHEMES = ['redis+cluster:', 'rediss+cluster:'] as const;

export interface ClusterUrl {
  readonly tls: boolean;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Seed nodes: the client discovers the rest of the cluster (and its slot map) from any one that answers. */
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /** The URL with the password masked, for logs. */
  readonly description: string;
}

const USAGE = 'expected redis+cluster://[user:password@]host:port[,host:port...] (or rediss+cluster:// for TLS)';

/**
 * A cluster has several seed nodes, which a WHATWG URL cannot hold in its host, so the authority is split by hand. A path (a
 * database number) is refused: Redis Cluster only has database 0.
 */
export function parseClusterUrl(url: string): ClusterUrl {
  const schemeEnd = url.indexOf('://');
  const scheme = url.slice(0, schemeEnd + 1).toLowerCase();
  if (schemeEnd < 0 || !(CLUSTER_SCHEMES as readonly string[]).includes(scheme)) throw new Error(USAGE);
  let rest = url.slice(schemeEnd + 3);
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  const at = rest.lastIndexOf('@');
  const userInfo = at >= 0 ? rest.slice(0, at) : undefined;
  const authority = at >= 0 ? rest.slice(at + 1) : rest;
  if (authority.includes('/') || authority.includes('?')) throw new Error(`${USAGE}; Redis Cluster has no database number`);
  const nodes = authority.split(',').map((part) => {
    const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(part.trim());
    const port = Number(match?.[2]);
    if (match === null || !(port > 0 && port < 65536)) throw new Error(USAGE);
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
  let username: string | undefined;
  let password: string | undefined;
  if (userInfo !== undefined) {
    const colon = userInfo.indexOf(':');
    username = decodeURIComponent(colon >= 0 ? userInfo.slice(0, colon) : userInfo) || undefined;
    password = colon >= 0 ? decodeURIComponent(userInfo.slice(colon + 1)) : undefined;
  }
  const credentials = userInfo === undefined ? '' : `${username ?? ''}${password === undefined ? '' : ':***'}@`;
  return { tls: scheme === 'rediss+cluster:', username, password, nodes, description: `${scheme}//${credentials}${authority}` };
}

export function createRedisClusterClient(url: ClusterUrl, connectTimeoutMs: number) {
  const behaviour = clientBehaviour(connectTimeoutMs);
  return createCluster({
    rootNodes: url.nodes.map(({ host, port }) => ({ socket: { host, port, tls: url.tls, connectTimeout: connectTimeoutMs } })),
    // Every connection to a discovered node is built from these (rootNodes settings are not inherited), so credentials, TLS,
    // fail-fast and the backoff go here.
    defaults: {
      ...(url.username === undefined ? {} : { username: url.username }),
      ...(url.password === undefined ? {} : { password: url.password }),
      disableOfflineQueue: behaviour.disableOfflineQueue,
      maintNotifications: behaviour.maintNotifications,
      socket: { ...behaviour.socket, tls: url.tls },
    },
    commandOptions: behaviour.commandOptions,
    // Scripts route by their first key; every script's keys share one hash tag (keys.ts), so each runs within one slot.
    scripts: SCRIPTS,
  });
}

export type FlowgateRedisCluster = ReturnType<typeof createRedisClusterClient>;
export type FlowgateRedis = FlowgateRedisClient | FlowgateRedisCluster;
