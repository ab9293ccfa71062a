/** The gate in front of every expensive credential check (argon2 verifies, login programs): bounded concurrency and queue. */
import { availableParallelism } from 'node:os';
import { ServiceError } from '../errors.js';

/**
 * Verifies running at once in this process by default. argon2 is pure CPU: one per core already keeps every core busy (more
 * only share the cores and stretch each verify), and it leaves the rest of libuv's pool (4 threads) free for the file, DNS and
 * crypto work of everything else. `password_hashing.concurrency: cores - 1` leaves the event loop a core of its own instead
 * (README: the trade-off).
 */
export const VERIFY_CONCURRENCY = Math.max(1, availableParallelism());
/** Verifies that may wait per slot: at ~22 ms each (OWASP parameters) a full queue is about 1.4 s of waiting. */
export const QUEUED_VERIFIES_PER_SLOT = 64;
/**
 * Verifies waiting for a slot before a login is refused with `unavailable`: past about 1.4 s of waiting a client is better told
 * to retry than kept waiting while memory grows.
 */
export const MAX_QUEUED_VERIFIES = QUEUED_VERIFIES_PER_SLOT * VERIFY_CONCURRENCY;

export interface VerifyGateLimits {
  /** Checks running at once (default: one per core). */
  readonly concurrency?: number;
  /** Checks waiting for a slot before the next is refused (default: 64 per slot). */
  readonly maxQueued?: number;
}

/** A counting semaphore with a bounded queue: what keeps password hashing from starving the rest of the server. */
export class VerifyGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(
    private concurrency: number,
    private maxQueued: number,
  ) {}

  /** The configured limits (`password_hashing:`), applied from the next check on; checks in progress keep their slots. */
  configure(limits: VerifyGateLimits): void {
    this.concurrency = limits.concurrency ?? VERIFY_CONCURRENCY;
    this.maxQueued = limits.maxQueued ?? QUEUED_VERIFIES_PER_SLOT * this.concurrency;
    // A raised concurrency frees slots for waiting checks at once rather than at the next finish.
    while (this.running < this.concurrency && this.waiting.length > 0) {
      this.running += 1;
      this.waiting.shift()?.();
    }
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) {
        throw new ServiceError('unavailable', 'Too many password checks in progress; retry in a moment');
      }
      // The slot is handed over by the finishing task (running stays counted), so a newcomer can never overtake the queue.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running += 1;
    try {
      return await task();
    } finally {
      // A lowered concurrency gives the slot back instead of handing it over.
      const next = this.running > this.concurrency ? undefined : this.waiting.shift();
      if (next === undefined) this.running -= 1;
      else next();
    }
  }
}

/**
 * One gate per process, shared by every provider in it (argon2 verifies, command_line programs): the cores are per process,
 * not per provider. `startServer` configures it from `password_hashing:`.
 */
export const verifyGate = new VerifyGate(VERIFY_CONCURRENCY, MAX_QUEUED_VERIFIES);
