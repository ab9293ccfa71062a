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
import { SCRIPTS } from './scripts.js';

/** Upper bound of the reconnect backoff: an outage is noticed within this much of Redis coming back. */
export const MAX_RECONNECT_DELAY_MS = 2_000;
/** A TCP connect that takes longer than this is treated as a failed attempt (a blackholed host would otherwise hang ~2 min). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;

function reconnectDelay(retries: number): number {
  // Jitter keeps N server instances from reconnecting in lockstep after a Redis restart.
  return Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100);
}

/** The settings shared by single-node and cluster connections (a cluster applies them to every node it connects to). */
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

/** Server replies that mean "not now" rather than "wrong": a loading replica, a cluster mid-failover. */
const TRANSIENT_REPLY = /^(LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY) /;

function isConnectionError(error: unknown): boolean {
  if (error instanceof ErrorReply) return TRANSIENT_REPLY.test(error.message);
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

/** Runs one Redis call, turning every "cannot reach Redis" failure into the store's StoreUnavailableError. */
export async function redisCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isConnectionError(error)) throw new StoreUnavailableError(undefined, { cause: error });
    throw error;
  }
}

/** What both a single-node client and a cluster client are to the functions below: event emitters with a connect(). */
interface Connectable {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  connect(): Promise<unknown>;
  readonly isOpen: boolean;
}

/** A single-node client says 'ready' once usable; a cluster client has no such event, only one per node ('node-ready'). */
export function readyEvent(cluster: boolean): string {
  return cluster ? 'node-ready' : 'ready';
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
  cluster = false,
): void {
  let healthy = true;
  let everReady = false;
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
  });
  client.on(readyEvent(cluster), () => {
    if (!healthy) logger.info({ store: description, client: role }, 'Redis connection ready again');
    healthy = true;
    everReady = true;
  });
}

/**
 * Starts connecting in the background and waits for the first attempt only: a reachable Redis is ready before the store is
 * handed out (so the first call does not answer `unavailable`), an unreachable one does not stop the server from starting.
 */
export async function connectInBackground(
  client: Connectable,
  connectTimeoutMs: number,
  cluster = false,
  wanted: () => boolean = () => true,
): Promise<void> {
  let onSettled = (): void => {};
  const firstAttempt = new Promise<void>((resolve) => {
    onSettled = resolve;
  });
  const timer = setTimeout(onSettled, connectTimeoutMs + 100);
  if (cluster) {
    // A cluster is usable once connect() resolved (slots discovered), not at its first node's 'node-ready'.
    connectClusterUntilUp(client, onSettled, 0, wanted);
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
 * the topology discovery. It is retried here with the same backoff, so a server started during an outage still heals.
 */
function connectClusterUntilUp(client: Connectable, onSettled: () => void, attempt: number, wanted: () => boolean): void {
  client.connect().then(onSettled, () => {
    onSettled();
    const retry = setTimeout(() => {
      if (wanted() && !client.isOpen) connectClusterUntilUp(client, onSettled, attempt + 1, wanted);
    }, reconnectDelay(attempt));
    retry.unref();
  });
}
