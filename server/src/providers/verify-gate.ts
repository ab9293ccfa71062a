/** The gate in front of every expensive credential check (argon2 verifies, login programs): bounded concurrency and queue. */
import { availableParallelism } from 'node:os';
import { ServiceError } from '../errors.js';

/**
 * Verifies running at once in this process. argon2 is pure CPU: one per core already keeps every core busy (more only share the
 * cores and stretch each verify), and it leaves the rest of libuv's pool (4 threads) free for the file, DNS and crypto work of
 * everything else, and some CPU time for the event loop.
 */
export const VERIFY_CONCURRENCY = Math.max(1, availableParallelism());
/**
 * Verifies waiting for a slot before a login is refused with `unavailable`: at ~22 ms each (OWASP parameters) a full queue is
 * about 1.4 s of waiting, past which a client is better told to retry than kept waiting while memory grows.
 */
export const MAX_QUEUED_VERIFIES = 64 * VERIFY_CONCURRENCY;

/** A counting semaphore with a bounded queue: what keeps password hashing from starving the rest of the server. */
export class VerifyGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
  ) {}

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
      const next = this.waiting.shift();
      if (next === undefined) this.running -= 1;
      else next();
    }
  }
}

/**
 * One gate per process, shared by every provider in it (argon2 verifies, command_line programs): the cores are per process,
 * not per provider.
 */
export const verifyGate = new VerifyGate(VERIFY_CONCURRENCY, MAX_QUEUED_VERIFIES);

