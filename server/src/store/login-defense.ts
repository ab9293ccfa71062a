/** The store's part of login defense: brute-force counters, the ban list and shared secrets, atomic in every backend. */

/** One brute-force counter: at most `limit` failures per `windowMs` (a fixed window from its first failure); limit 0: off. */
export interface AttemptCounter {
  readonly key: string;
  readonly limit: number;
  readonly windowMs: number;
}

/** What an attempt is counted against: always its address, then either its account (untrusted clients) or its device. */
export interface AttemptCounters {
  readonly address: AttemptCounter;
  readonly account: AttemptCounter | null;
  readonly device: AttemptCounter | null;
}

export type LimitedCounter = keyof AttemptCounters;

export type AttemptReservation =
  /**
   * Allowed. `filled` names the counters that this reservation brought to their limit: should the attempt fail, each of them
   * starts a lockout. (A failure keeps what was reserved, so knowing this now lets it settle without another store call.)
   */
  | { readonly outcome: 'reserved'; readonly filled: readonly LimitedCounter[] }
  | { readonly outcome: 'limited'; readonly counter: LimitedCounter; readonly retryAfterMs: number }
  | { readonly outcome: 'banned' };

/**
 * How an attempt ended: `failure` keeps what was reserved; `success` clears the address and device counters and gives the
 * account counter back its one (an attacker's failures on the account stay counted); `release` gives every counter back its
 * one (the attempt did not count: it lost a race, or did not get to check a password).
 */
export type AttemptSettlement = 'failure' | 'success' | 'release';

/** What a settled failure caused: the counters it brought to their limit (a lockout starts), and whether it banned. */
export interface Settled {
  readonly lockedOut: readonly LimitedCounter[];
  readonly banned: boolean;
}

export interface Ban {
  readonly address: string;
  /** Milliseconds since the epoch. */
  readonly bannedAt: number;
}

export interface LoginDefenseStore {
  /**
   * Atomically: refused, changing nothing, when `ban` (null: bans are off) is banned or a counter is at its limit (with the longest wait of those
   * that are); else every counter counts this attempt as a failure in advance, so that racing attempts cannot get past a limit
   * between a check and a verify. Settle it afterwards with `settleAttempt`.
   */
  reserveAttempt(ban: string | null, counters: AttemptCounters): Promise<AttemptReservation>;
  /**
   * Settles a reserved attempt. With `banThreshold` > 0 a failure also counts towards a permanent ban of `ban` (no window:
   * Home Assistant's `login_attempts_threshold`), and a success resets that count. A failure with bans off changes nothing in
   * the store (its reservation already counted it), so callers need not make this call for one (login-limits.ts does not).
   */
  settleAttempt(ban: string, counters: AttemptCounters, settlement: AttemptSettlement, banThreshold: number): Promise<Settled>;
  /** Read only: whether an attempt against just these counters would be refused now, and why. */
  checkAttempt(ban: string | null, counters: AttemptCounters): Promise<AttemptReservation>;
  isBanned(address: string): Promise<boolean>;
  listBans(): Promise<Ban[]>;
  /** False when the address was not banned. */
  removeBan(address: string): Promise<boolean>;
  /**
   * The deployment-wide secret called `name`: the first caller's `candidate` is kept, every later caller (on any instance) gets
   * that one. For keys that every instance must share, such as the one that signs device tokens.
   */
  sharedSecret(name: string, candidate: string): Promise<string>;
}
