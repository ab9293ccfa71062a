/** Whether this instance should get traffic: its store answers, its revocation subscriber listens, and it is not draining. */

/** Why `/readyz` answers 503; each names a condition an operator can look up in docs/operations.md. */
export type NotReadyReason = 'store_unavailable' | 'subscriber_down' | 'draining';

export interface ReadinessSource {
  /** Empty while ready. Never waits: it reads state the probe keeps up to date. */
  notReadyReasons(): NotReadyReason[];
}

/** The slice of the Store that readiness looks at (its ping carries the store deadline, so a hung store fails it in time). */
export interface ProbedStore {
  isAvailable(): boolean;
  isSubscriberUp(): boolean;
  ping(): Promise<void>;
}

/**
 * How often the store is pinged. A load balancer checks every few seconds (haproxy's default `inter` is 2 s), so a result at
 * most this old plus the store deadline is as fresh as it can use; one round trip a second costs the store nothing.
 */
export const READINESS_PROBE_INTERVAL_MS = 1_000;

export class Readiness implements ReadinessSource {
  readonly #store: ProbedStore;
  readonly #timer: NodeJS.Timeout;
  #storeAnswered: boolean;
  #probing = false;
  #draining = false;

  constructor(store: ProbedStore, probeIntervalMs = READINESS_PROBE_INTERVAL_MS) {
    this.#store = store;
    this.#storeAnswered = store.isAvailable();
    this.#timer = setInterval(() => this.#probe(), probeIntervalMs);
    this.#timer.unref();
    this.#probe();
  }

  /** From now on `/readyz` says `draining`, so the load balancer sends new clients elsewhere while sockets are closed. */
  startDraining(): void {
    this.#draining = true;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  notReadyReasons(): NotReadyReason[] {
    const reasons: NotReadyReason[] = [];
    if (this.#draining) reasons.push('draining');
    // A dropped connection is known at once; a hung one (the connection stays up) only when a ping misses its deadline.
    if (!this.#store.isAvailable() || !this.#storeAnswered) reasons.push('store_unavailable');
    if (!this.#store.isSubscriberUp()) reasons.push('subscriber_down');
    return reasons;
  }

  #probe(): void {
    // One ping at a time: while the store hangs, pings would otherwise pile up, one per interval, until the deadline.
    if (this.#probing) return;
    this.#probing = true;
    this.#store.ping().then(
      () => {
        this.#storeAnswered = true;
        this.#probing = false;
      },
      () => {
        this.#storeAnswered = false;
        this.#probing = false;
      },
    );
  }
}
