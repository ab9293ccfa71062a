/** Limits the transport enforces per socket; each is a named constant with its reason, overridable in config for tests. */
import { MAX_FRAME_BYTES } from '@flowgate/shared';

export interface TransportLimits {
  /** Largest frame accepted; ws closes the socket with 1009 above it. */
  readonly maxFrameBytes: number;
  /** A phase-1 socket silent this long is closed with 4000 `idle`: unauthenticated sockets must not be parked for free. */
  readonly phaseOneIdleTimeoutMs: number;
  /** WebSocket-level ping period; a peer that did not answer the previous ping is dropped (dead NATs, sleeping laptops). */
  readonly heartbeatIntervalMs: number;
  /** Commands received but not yet answered; beyond it the client is not reading its answers or is flooding: close 1008. */
  readonly maxPendingCommands: number;
  /** Frames that are not JSON before the socket is closed with 1008: one is a bug, many are an attack. */
  readonly maxInvalidFrames: number;
  /**
   * Login flows one socket may start per minute (0: no limit). Each flow is kept in the shared store until it ends or
   * expires, so without a bound one client could fill the store; a person needs a handful, a retrying client a few dozen.
   */
  readonly maxFlowStartsPerMinute: number;
  /** Bytes queued for a client that does not read them; beyond it the socket is dropped rather than grow server memory. */
  readonly maxBufferedBytes: number;
  /**
   * An unauthenticated socket is closed (4000, "authentication timeout") this long after it opened, however busy it is: pings
   * and commands do not extend it. A login flow lives 600 s by default (the flow TTL), so a socket still unauthenticated
   * after that is not logging anybody in; without the bound one `ping` a minute would hold a socket, and its share of the
   * per-address limit, forever.
   */
  readonly maxUnauthenticatedMs: number;
  /**
   * Unauthenticated sockets one client address may hold at once, counted per limitKey (IPv4 address, IPv6 /64) across every
   * instance through the store (0: no limit). A person's browser tabs, a few devices behind one NAT and a CLI need a handful;
   * 50 leaves room for an office or a school behind one address while one attacker cannot park thousands. Beyond it the
   * upgrade answers 429 (this instance already holds that many) or the socket is closed with 1013 (other instances do).
   */
  readonly maxUnauthenticatedSocketsPerAddress: number;
  /**
   * Sockets one instance holds at once (0: no limit); the upgrade answers 503 beyond it, which haproxy retries on another
   * instance. An idle socket costs ~8 KiB, so 20,000 are ~160 MiB plus their share of the event loop: past that an instance
   * serves everyone worse instead of letting the balancer send new clients elsewhere.
   */
  readonly maxSockets: number;
  /**
   * Authenticated sockets one user may hold on one instance (0: no limit). A person's tabs, devices and services need a few
   * dozen; 100 leaves room for a dashboard wall, while one stolen token cannot take an instance's socket budget (20,000) for
   * itself. Beyond it `auth` answers `auth_invalid`, with a message naming this key, and the socket closes.
   */
  readonly maxSocketsPerUser: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxFrameBytes: MAX_FRAME_BYTES,
  phaseOneIdleTimeoutMs: 60_000,
  heartbeatIntervalMs: 30_000,
  maxPendingCommands: 128,
  maxFlowStartsPerMinute: 60,
  maxInvalidFrames: 10,
  maxBufferedBytes: 1024 * 1024,
  maxUnauthenticatedMs: 600_000,
  maxUnauthenticatedSocketsPerAddress: 50,
  maxSockets: 20_000,
  maxSocketsPerUser: 100,
};

/**
 * The shared lease of an unauthenticated socket outlives the socket's own bound by this much, so a lease is never dropped
 * while its socket still stands; a lease whose instance died goes at the same time.
 */
export const UNAUTHENTICATED_LEASE_GRACE_MS = 30_000;

/** What a refused upgrade tells the client to wait before retrying (429 and 503 `Retry-After`). */
export const UPGRADE_RETRY_AFTER_SECONDS = 10;

/** Path of the WebSocket endpoint, as in Home Assistant. */
export const WEBSOCKET_PATH = '/api/websocket';
