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
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxFrameBytes: MAX_FRAME_BYTES,
  phaseOneIdleTimeoutMs: 60_000,
  heartbeatIntervalMs: 30_000,
  maxPendingCommands: 128,
  maxFlowStartsPerMinute: 60,
  maxInvalidFrames: 10,
  maxBufferedBytes: 1024 * 1024,
};

/** Path of the WebSocket endpoint, as in Home Assistant. */
export const WEBSOCKET_PATH = '/api/websocket';
