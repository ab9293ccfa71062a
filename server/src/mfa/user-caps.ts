/**
 * Per-user bounds on what MFA makes the server hold or send for an authenticated user or a password holder: open setup flows,
 * setup messages, login codes. Each is a lease set of the store, so every instance shares it and nothing outlives its window.
 */
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import type { LeaseStore } from '../store/types.js';

const MINUTE = 60_000;

/** A bound on one user's sends: at most `limit` in any `windowMs` (a sliding window: each send holds its place that long). */
export interface SendCap {
  readonly limit: number;
  readonly windowMs: number;
}

/**
 * Setup flows one user may hold open (started, neither finished nor expired). A person sets up one module at a time; 5 covers
 * tabs left open, while a stolen session cannot fill the store with flows (each holds a TOTP secret or a target until its TTL).
 */
export const MAX_OPEN_SETUP_FLOWS_PER_USER = 5;

/**
 * Messages the notify setup sends per user: each setup sends one to a target the user types, so without a bound a session is
 * a free relay for messages to anyone's phone or mailbox. 5 an hour lets a person mistype a target a few times.
 */
export const SETUP_MESSAGES_PER_USER: SendCap = { limit: 5, windowMs: 60 * MINUTE };

/**
 * Login codes sent per user, whatever the flow, socket or instance: someone who holds the password would otherwise have a
 * message sent for every flow they start. 5 per 15 minutes covers a person whose code did not arrive, or who mistyped it.
 */
export const LOGIN_CODES_PER_USER: SendCap = { limit: 5, windowMs: 15 * MINUTE };

/** The lease sets, one per user and bound (user ids are opaque to the store: the set name keeps them apart). */
export const capSets = {
  openSetupFlows: (userId: string): string => `mfa-setup-flows:${userId}`,
  setupMessages: (userId: string): string => `mfa-setup-messages:${userId}`,
  loginCodes: (userId: string): string => `mfa-login-codes:${userId}`,
} as const;

/** Whole seconds until `at`, at least 1 (what `retry_after` says). */
const secondsUntil = (at: number): number => Math.max(1, Math.ceil((at - Date.now()) / 1000));

/** "42 seconds", "15 minutes": the wait as a person reads it. */
const inWords = (seconds: number): string => (seconds < 120 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`);

/**
 * Takes a place in `set` for `member` until `expiresAt`; null when taken, else the `rate_limited` refusal to throw, saying when
 * the earliest place frees up. `refusal` words it from the wait ("try again in 15 minutes").
 */
export async function takePlace(
  leases: LeaseStore,
  place: { readonly set: string; readonly member: string; readonly limit: number; readonly expiresAt: number },
  refusal: (wait: string) => string,
): Promise<ServiceError | null> {
  if (await leases.acquireLease(place.set, place.member, place.limit, place.expiresAt)) return null;
  // Between the refusal and this read a place may have freed: then the wait is the shortest one, a second.
  const frees = (await leases.nextLeaseExpiry(place.set)) ?? Date.now();
  const seconds = secondsUntil(frees);
  return new ServiceError('rate_limited', refusal(inWords(seconds)), { retryAfterSeconds: seconds });
}

/**
 * Counts one send now against `cap` in `set`; throws the refusal when the user's sends fill it. Every attempt counts, delivered
 * or not: a delivery that failed may still have reached the target (a timeout), and failing targets must not send for free.
 */
export async function countSend(leases: LeaseStore, set: string, cap: SendCap, refusal: (wait: string) => string): Promise<void> {
  const refused = await takePlace(leases, { set, member: randomId(), limit: cap.limit, expiresAt: Date.now() + cap.windowMs }, refusal);
  if (refused !== null) throw refused;
}
