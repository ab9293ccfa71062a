/** The per-address cap on unauthenticated sockets: counted on this instance at the upgrade, and shared by all through store leases. */
import type { LeaseStore } from '../store/types.js';

/** The slice of a pino logger used here. */
interface WarnLogger {
  warn(obj: object, msg: string): void;
}

export interface UnauthenticatedSocketsOptions {
  readonly store: LeaseStore;
  /** Per client address (limitKey) across every instance; 0: no limit, nothing is counted. */
  readonly limit: number;
  /** How long a lease holds without a release: the socket's own unauthenticated bound plus a margin. */
  readonly leaseMs: number;
  /** Makes lease members unique across instances. */
  readonly instanceId: string;
  readonly logger: WarnLogger;
}

/** Ends one socket's hold: idempotent, called when it authenticates and again when it closes. */
export type Release = () => void;

/** Lease sets are named by what they bound, so the lead's open-flows limit and this one never share a set. */
const leaseSet = (key: string): string => `unauthenticated-sockets:${key}`;

export class UnauthenticatedSockets {
  readonly #local = new Map<string, number>();
  #next = 0;

  constructor(private readonly options: UnauthenticatedSocketsOptions) {}

  /** False when this instance alone already holds the limit for `key`: the upgrade is refused (429) without a store call. */
  hasRoom(key: string): boolean {
    return this.options.limit <= 0 || (this.#local.get(key) ?? 0) < this.options.limit;
  }

  /**
   * Counts a new unauthenticated socket of `key` and asks the store for its shared lease; `onRefused` runs when other instances
   * hold the rest of the limit. The socket does not wait for the store: a store that fails or hangs lets it in (fail open,
   * logged), since refusing everyone during an outage would be worse than the flood this guards against.
   */
  admit(key: string, onRefused: () => void): Release {
    const { limit, store, logger } = this.options;
    if (limit <= 0) return () => undefined;
    this.#local.set(key, (this.#local.get(key) ?? 0) + 1);
    const set = leaseSet(key);
    const member = `${this.options.instanceId}:${(this.#next += 1)}`;
    let released = false;
    let held = false;
    const dropLease = (): void => {
      store.releaseLease(set, member).catch((error: unknown) => {
        // The lease still expires on its own after leaseMs.
        logger.warn({ err: String(error), key }, 'could not release an unauthenticated socket lease');
      });
    };
    store.acquireLease(set, member, limit, Date.now() + this.options.leaseMs).then(
      (granted) => {
        held = granted;
        if (released && granted) dropLease();
        else if (!granted && !released) onRefused();
      },
      (error: unknown) => logger.warn({ err: String(error), key }, 'unauthenticated socket limit not checked: the store did not answer'),
    );
    return () => {
      if (released) return;
      released = true;
      const left = (this.#local.get(key) ?? 1) - 1;
      if (left > 0) this.#local.set(key, left);
      else this.#local.delete(key);
      if (held) dropLease();
    };
  }
}
