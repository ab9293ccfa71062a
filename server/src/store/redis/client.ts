/** node-redis clients configured to fail fast while Redis is down and to heal by themselves, plus the error mapping to the store's. */
import {
  AbortError,
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  createClient,
  DisconnectsClientError,
  ErrorReply,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
} from 'redis';
import { StoreUnavailableError, type StoreLogger } from '../types.js';
import type { FlowgateRedisCluster } from './cluster.js';
import { SCRIPTS } from './scripts.js';
import type { FlowgateRedisSentinel } from './sentinel.js';

/** Upper bound of the reconnect backoff: an outage is noticed within this much of Redis coming back. */
export const MAX_RECONNECT_DELAY_MS = 2_000;
/** A TCP connect that takes longer than this is treated as a failed attempt (a blackholed host would otherwise hang ~2 min). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;

function reconnectDelay(retries: number): number {
  // Jitter keeps N server instances from reconnecting in lockstep after a Redis restart.
  return Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100);
}

/** The settings shared by every connection (a cluster or sentinel client applies them to every node it connects to). */
export function clientBehaviour(connectTimeoutMs: number) {
  return {
    // Without this, commands issued during an outage queue up in memory and every caller hangs until Redis returns; the store
    // contract wants an immediate `unavailable` instead.
    disableOfflineQueue: true,
    // node-redis 6 arms an AbortSignal timer per command by default (5 s): it costs p99 latency and pipelined throughput, and
    // a dead connection is already caught by the socket closing. A hung-but-connected Redis is the case this gives up on.
    commandOptions: { timeout: 0 },
    // Redis Enterprise maintenance push notifications: RESP3 turns the handshake on by default ('auto'), which resolves the
    // host in DNS on every connect and is useless against open-source Redis.
    maintNotifications: 'disabled' as const,
    socket: { connectTimeout: connectTimeoutMs, reconnectStrategy: reconnectDelay },
  };
}

export function createRedisClient(url: string, connectTimeoutMs: number) {
  return createClient({ url, ...clientBehaviour(connectTimeoutMs), scripts: SCRIPTS });
}

export type FlowgateRedisClient = ReturnType<typeof createRedisClient>;
export type FlowgateRedis = FlowgateRedisClient | FlowgateRedisCluster | FlowgateRedisSentinel;

/** One Redis (`redis://`), a Redis Cluster (`redis+cluster://`) or a master found through Sentinel (`redis+sentinel://`). */
export type RedisMode = 'single' | 'cluster' | 'sentinel';

/**
 * Server replies that mean "not now" rather than "wrong": a loading replica, a cluster mid-failover, a master demoted to a
 * replica by a failover that the client has not caught up with yet (READONLY).
 */
const TRANSIENT_REPLY = /^(LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|READONLY) /;
/**
 * What node-redis' sentinel client rejects a command with when the topology refresh it waited for found no master to use: the
 * sentinels hold the master down, or a failover is in progress, or no sentinel answered. Plain Errors, told apart by message.
 */
const SENTINEL_NO_MASTER = /^(no valid master node|None of the sentinels are available)$/;

function isConnectionError(error: unknown): boolean {
  if (error instanceof ErrorReply) return TRANSIENT_REPLY.test(error.message);
  if (error instanceof Error && SENTINEL_NO_MASTER.test(error.message)) return true;
  if (
    error instanceof ClientOfflineError ||
    error instanceof ClientClosedError ||
    error instanceof SocketClosedUnexpectedlyError ||
    error instanceof ConnectionTimeoutError ||
    error instanceof SocketTimeoutError ||
    error instanceof TimeoutError ||
    error instanceof DisconnectsClientError ||
    error instanceof AbortError
  ) {
    return true;
  }
  // Commands in flight when the socket dies are rejected with the raw socket error (ECONNRESET, EPIPE...).
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

/**
 * Runs one Redis call, turning every "cannot reach Redis" failure into the store's StoreUnavailableError. Given the `client` the
 * call goes to, a call that client cannot send now (isUsable) fails at once, unsent.
 */
export async function redisCall<T>(call: () => Promise<T>, client?: FlowgateRedis): Promise<T> {
  if (client !== undefined && !isUsable(client)) throw new StoreUnavailableError(undefined, { cause: new ClientOfflineError() });
  try {
    return await call();
  } catch (error) {
    if (isConnectionError(error)) throw new StoreUnavailableError(undefined, { cause: error });
    throw error;
  }
}

/** What every client is to the functions below: event emitters with a connect() (and, for a sentinel client, a master). */
interface Connectable {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  connect(): Promise<unknown>;
  readonly isOpen: boolean;
  readonly isReady: boolean;
  getMasterNode?(): unknown;
}

/**
 * A single-node client says 'ready' once usable, a sentinel client once it has found (a new) master and connected to it; a
 * cluster client has no such event, only one per node ('node-ready').
 */
export function readyEvent(mode: RedisMode): string {
  return mode === 'cluster' ? 'node-ready' : 'ready';
}

/**
 * Whether a call can be sent now. A sentinel client stays "ready" while the master it knows is unreachable (until the sentinels
 * elect another), and would hold every command until one answers: its master connection is what tells.
 */
export function isUsable(client: Connectable): boolean {
  return client.isReady && (client.getMasterNode === undefined || client.getMasterNode() !== undefined);
}

/**
 * Keeps the log to one warning per outage and one line per recovery: node-redis emits 'error' on every failed reconnect attempt
 * (every 2 s while Redis is down), and the listener is also what stops those errors from crashing the process.
 */
export function watchConnection(
  client: Connectable,
  role: 'commands' | 'subscriber',
  description: string,
  logger: StoreLogger,
  mode: RedisMode = 'single',
): void {
  let healthy = true;
  let everReady = false;
  let recoveryPoll: NodeJS.Timeout | undefined;
  const ready = (): void => {
    if (!healthy) logger.info({ store: description, client: role }, 'Redis connection ready again');
    healthy = true;
    everReady = true;
    clearInterval(recoveryPoll);
  };
  client.on('error', (error: unknown) => {
    if (!healthy) return;
    healthy = false;
    const reason = error instanceof Error ? error.message || error.name : String(error);
    logger.warn(
      { store: description, client: role, err: reason },
      everReady
        ? 'Redis connection lost; store calls answer unavailable until it is back'
        : 'Redis is not reachable; store calls answer unavailable while it keeps retrying in the background',
    );
    // A sentinel client says 'ready' after a failover only: a master back at its address (a restart shorter than the
    // sentinels' down-after-milliseconds) is used again without a word, so its return is looked for here.
    if (mode === 'sentinel') {
      recoveryPoll = setInterval(() => (isUsable(client) ? ready() : undefined), MAX_RECONNECT_DELAY_MS);
      recoveryPoll.unref();
    }
  });
  client.on(readyEvent(mode), ready);
  client.on('end', () => clearInterval(recoveryPoll));
}

/**
 * Starts connecting in the background and waits for the first attempt only: a reachable Redis is ready before the store is
 * handed out (so the first call does not answer `unavailable`), an unreachable one does not stop the server from starting.
 */
export async function connectInBackground(
  client: Connectable,
  connectTimeoutMs: number,
  mode: RedisMode = 'single',
  wanted: () => boolean = () => true,
): Promise<void> {
  let onSettled = (): void => {};
  const firstAttempt = new Promise<void>((resolve) => {
    onSettled = resolve;
  });
  const timer = setTimeout(onSettled, connectTimeoutMs + 100);
  if (mode !== 'single') {
    // A cluster is usable once connect() resolved (slots discovered), not at its first node's 'node-ready'; a sentinel client
    // once it has found and connected the master.
    connectUntilUp(client, onSettled, 0, wanted);
    await firstAttempt;
    clearTimeout(timer);
    return;
  }
  client.once('ready', onSettled);
  client.once('error', onSettled);
  // connect() only rejects when the store is closed before Redis was ever reached; the 'error' listener has logged the rest.
  client.connect().catch(() => {});
  try {
    await firstAttempt;
  } finally {
    clearTimeout(timer);
    client.off('ready', onSettled);
    client.off('error', onSettled);
  }
}

/**
 * A single-node client retries its first connection by itself; a cluster client's connect() gives up when no seed node answers
 * the topology discovery, a sentinel client's when no sentinel answers or names a reachable master. It is retried here with the
 * same backoff, so a server started during an outage still heals.
 */
function connectUntilUp(client: Connectable, onSettled: () => void, attempt: number, wanted: () => boolean): void {
  client.connect().then(onSettled, () => {
    onSettled();
    const retry = setTimeout(() => {
      if (wanted() && !client.isOpen) connectUntilUp(client, onSettled, attempt + 1, wanted);
    }, reconnectDelay(attempt));
    retry.unref();
  });
}
