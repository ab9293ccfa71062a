/** Redis Cluster: the `redis+cluster://` store URL and a node-redis cluster client configured like the single-node one. */
import { createCluster } from 'redis';
import { clientBehaviour } from './client.js';
import { SCRIPTS } from './scripts.js';

export const CLUSTER_SCHEMES = ['redis+cluster:', 'rediss+cluster:'] as const;

export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** `scheme://[user:password@]host:port[,host:port...][/path]`, split: what a cluster or sentinel URL has in common. */
export interface HostListUrl {
  /** Lower-cased, with its colon: `redis+cluster:`. */
  readonly scheme: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly nodes: readonly RedisNodeAddress[];
  /** What follows the host list, without the slash ('' when there is none). */
  readonly path: string;
  /** The URL up to the path, with the password masked, for logs. */
  readonly description: string;
}

/**
 * Several hosts do not fit in a WHATWG URL's host, so the authority is split by hand. The last `@` ends the user info (a
 * password may hold an unencoded `@`); a port may be left out only where the mode has a conventional one (`defaultPort`).
 */
export function parseHostListUrl(url: string, schemes: readonly string[], usage: string, defaultPort?: number): HostListUrl {
  const schemeEnd = url.indexOf('://');
  const scheme = url.slice(0, schemeEnd + 1).toLowerCase();
  if (schemeEnd < 0 || !schemes.includes(scheme)) throw new Error(usage);
  let rest = url.slice(schemeEnd + 3);
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  const at = rest.lastIndexOf('@');
  const userInfo = at >= 0 ? rest.slice(0, at) : undefined;
  const afterUserInfo = at >= 0 ? rest.slice(at + 1) : rest;
  const slash = afterUserInfo.indexOf('/');
  const authority = slash >= 0 ? afterUserInfo.slice(0, slash) : afterUserInfo;
  const path = slash >= 0 ? afterUserInfo.slice(slash + 1) : '';
  if (authority.includes('?') || path.includes('?')) throw new Error(`${usage}; query parameters are not supported`);
  const nodes = authority.split(',').map((part) => {
    const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(part.trim());
    const port = match?.[2] === undefined ? defaultPort : Number(match[2]);
    if (match === null || port === undefined || !(port > 0 && port < 65536)) throw new Error(usage);
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
  return { scheme, username, password, nodes, path, description: `${scheme}//${credentials}${authority}` };
}

export interface ClusterUrl {
  readonly tls: boolean;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Seed nodes: the client discovers the rest of the cluster (and its slot map) from any one that answers. */
  readonly nodes: readonly RedisNodeAddress[];
  /** The URL with the password masked, for logs. */
  readonly description: string;
}

const USAGE = 'expected redis+cluster://[user:password@]host:port[,host:port...] (or rediss+cluster:// for TLS)';

/** A path (a database number) is refused: Redis Cluster only has database 0. */
export function parseClusterUrl(url: string): ClusterUrl {
  const { scheme, username, password, nodes, path, description } = parseHostListUrl(url, CLUSTER_SCHEMES, USAGE);
  if (path !== '') throw new Error(`${USAGE}; Redis Cluster has no database number`);
  return { tls: scheme === 'rediss+cluster:', username, password, nodes, description };
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
