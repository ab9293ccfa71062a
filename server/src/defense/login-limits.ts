/**
 * Brute-force limits on login attempts, counted in the store so every instance shares them: per client address, per account
 * for clients not trusted for it, per trusted device; plus Home Assistant's optional permanent bans and a bound on open flows.
 */
import type { AttemptCounters, AttemptReservation, AttemptSettlement, LimitedCounter, LoginDefenseStore } from '../store/login-defense.js';
import { ServiceError } from '../errors.js';
import { limitKey } from './client-address.js';
import type { TrustedDevice } from './device-tokens.js';

export interface LoginLimits {
  /**
   * Failed login steps one client address may make per window. 10 per 10 minutes lets a person mistype a password several
   * times (and a household behind one NAT share it) while an attacker gets ~1,400 guesses a day per address instead of millions.
   */
  readonly addressFailures: number;
  readonly addressWindowMs: number;
  /**
   * Failed steps against one account (normalised username, existing or not) per window from clients not trusted for it. 20 per
   * hour caps a botnet's guesses at ~480 a day per account, whatever its number of addresses; the account's owner is unaffected
   * on a device that holds a device token for it.
   */
  readonly accountFailures: number;
  readonly accountWindowMs: number;
  /** Failed steps of one trusted device per window: its own lock, so a stolen device token buys 5 guesses per 10 minutes. */
  readonly deviceFailures: number;
  readonly deviceWindowMs: number;
  /** How long a device token stays valid: a year, so a device used monthly stays trusted. */
  readonly deviceTokenTtlMs: number;
  /**
   * Login flows one address may hold open (started, not yet finished or expired). Each is kept in the store for the flow TTL;
   * 100 covers an office behind one NAT logging in at once, while bounding what one client can make the store hold.
   */
  readonly openFlowsPerAddress: number;
  /**
   * Login flows the devices trusted for one account (a verified device token at the start) may hold open, counted apart from
   * their address's: a page of another site that fills its visitors' address with flows does not lock out the account's
   * owner. 10 covers every device of a household's account logging in at once; keyed by the account, so that one account's
   * many device tokens buy no more. Off with `openFlowsPerAddress` (0 turns every bound on open flows off).
   */
  readonly openFlowsPerTrustedAccount: number;
}

const MINUTE = 60_000;

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  addressFailures: 10,
  addressWindowMs: 10 * MINUTE,
  accountFailures: 20,
  accountWindowMs: 60 * MINUTE,
  deviceFailures: 5,
  deviceWindowMs: 10 * MINUTE,
  deviceTokenTtlMs: 365 * 24 * 60 * MINUTE,
  openFlowsPerAddress: 100,
  openFlowsPerTrustedAccount: 10,
};

/** Home Assistant's `http.ip_ban_enabled` and `http.login_attempts_threshold`: a permanent ban after that many failures. */
export interface BanPolicy {
  readonly enabled: boolean;
  readonly threshold: number;
}

/** Who is attempting: the client's address, the account the step names (null when none), the device the flow presented. */
export interface AttemptSubject {
  readonly address: string | null;
  /** The account's key (provider and normalised username): what the per-account counter and device tokens are bound to. */
  readonly account: string | null;
  /** For logs and metrics only: the provider type and the username as the step named it. */
  readonly provider: string | null;
  readonly username: string | null;
  readonly device: TrustedDevice | null;
}

/** Open login flows, as the store's bounded lease sets keep them. */
export interface OpenFlowLeases {
  acquireLease(set: string, member: string, limit: number, expiresAt: number): Promise<boolean>;
  releaseLease(set: string, member: string): Promise<void>;
  nextLeaseExpiry(set: string): Promise<number | null>;
}

export interface AttemptReport {
  readonly subject: AttemptSubject;
  readonly settlement: AttemptSettlement;
  /** For a failure: the form error that made it one (`invalid_auth`, `invalid_code`). */
  readonly reason: string | null;
  readonly lockedOut: readonly LimitedCounter[];
  readonly banned: boolean;
}

export interface RefusalReport {
  readonly subject: AttemptSubject;
  readonly reason: LimitedCounter | 'banned';
  readonly retryAfterSeconds: number | null;
}

export interface LoginDefenseEvents {
  settled?(report: AttemptReport): void;
  refused?(report: RefusalReport): void;
  /** A flow start refused because the address holds its limit of open flows. */
  tooManyOpenFlows?(address: string | null): void;
}

/** A reserved attempt: settle it once its outcome is known (and committed); `reason` names what made a failure one. */
export interface Attempt {
  settle(settlement: AttemptSettlement, reason?: string): Promise<void>;
}

/** Addresses are unknown only for in-process callers (tests, the CLI): they share one bucket rather than escape the limits. */
const UNKNOWN_ADDRESS = 'unknown';

/** A wait as a refusal states it: whole seconds (at least 1), and its words for a person. */
function wait(retryAfterMs: number): { readonly seconds: number; readonly words: string } {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return { seconds, words: seconds < 120 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes` };
}

export const rateLimited = (retryAfterMs: number): ServiceError => {
  const { seconds, words } = wait(retryAfterMs);
  return new ServiceError('rate_limited', `Too many failed login attempts; try again in ${words}`, { retryAfterSeconds: seconds });
};

/** A flow start refused by its open flows' bound; `retryAfterMs` is when the oldest of them expires. */
function openFlowsRefusal(limit: number, trusted: boolean, retryAfterMs: number): ServiceError {
  const { seconds, words } = wait(retryAfterMs);
  const from = trusted ? 'on the devices signed in to this account' : 'from this address';
  return new ServiceError(
    'rate_limited',
    `Too many unfinished login flows ${from} (at most ${limit}); finish or abort one first, or try again in ${words}`,
    { retryAfterSeconds: seconds },
  );
}

const banned = (): ServiceError =>
  new ServiceError('not_allowed', 'This address is banned after too many failed login attempts; ask the administrator to lift the ban');

export class LoginDefense {
  readonly limits: LoginLimits;

  constructor(
    private readonly store: LoginDefenseStore,
    private readonly leases: OpenFlowLeases,
    limits: Partial<LoginLimits>,
    private readonly bans: BanPolicy,
    private readonly events: LoginDefenseEvents = {},
  ) {
    this.limits = { ...DEFAULT_LOGIN_LIMITS, ...limits };
  }

  private get banThreshold(): number {
    return this.bans.enabled && this.bans.threshold > 0 ? this.bans.threshold : 0;
  }

  /** Home Assistant bans only with `ip_ban_enabled` and a positive `login_attempts_threshold`. */
  get bansEnabled(): boolean {
    return this.banThreshold > 0;
  }

  /**
   * Before a login flow starts: refused while the address is over its limit or banned. A client with a device token is let
   * through (it is limited by its device's own counter once it names its account).
   */
  async admitFlowStart(address: string | null, device: TrustedDevice | null): Promise<void> {
    const subject: AttemptSubject = { address, account: null, provider: null, username: null, device };
    const counters = this.counters(subject);
    const checked = device === null ? counters : { ...counters, address: off(counters.address) };
    const ban = this.bannable(address);
    if (!applies(ban, checked)) return;
    this.refuseUnlessReserved(subject, await this.store.checkAttempt(ban, checked));
  }

  /** Reserves one attempt against every limit that applies, before the provider checks anything; throws when refused. */
  async begin(subject: AttemptSubject): Promise<Attempt> {
    // With every limit off (and bans too), the store has nothing to count: the attempt costs no round trip, and is still reported.
    const counters = this.anyLimit ? this.counters(subject) : null;
    const ban = this.bannable(subject.address);
    const counted = counters !== null && applies(ban, counters);
    const filled = counted ? this.refuseUnlessReserved(subject, await this.store.reserveAttempt(ban, counters)) : [];
    let settled = false;
    return {
      settle: async (settlement, reason) => {
        if (settled) return;
        settled = true;
        // A failure keeps its reservation: with no ban to count towards, the store has nothing to change, and the lockouts it
        // starts are the counters the reservation filled. (A failed step, what an attacker sends, costs one store call, not two.)
        const outcome = !counted
          ? NOTHING_SETTLED
          : settlement === 'failure' && this.banThreshold === 0
            ? { lockedOut: filled, banned: false }
            : await this.store.settleAttempt(this.banKey(subject.address), counters, settlement, this.banThreshold);
        this.events.settled?.({ subject, settlement, reason: reason ?? null, lockedOut: outcome.lockedOut, banned: outcome.banned });
      },
    };
  }

  /** Whether any counter or the ban list can refuse an attempt at all (the bench and some deployments turn them all off). */
  private get anyLimit(): boolean {
    const { addressFailures, accountFailures, deviceFailures } = this.limits;
    return this.bansEnabled || addressFailures > 0 || accountFailures > 0 || deviceFailures > 0;
  }

  /**
   * Counts a started flow against its open flows: its trusted device's account's when it presented a device token, else its
   * address's. The refusal to throw (nothing counted) when those already hold their limit, else null. The lease ends with the
   * flow (`flowEnded`) or expires with it, so an abandoned flow frees its place by itself.
   */
  async flowStarted(flowId: string, address: string | null, device: TrustedDevice | null, expiresAt: number): Promise<ServiceError | null> {
    const { set, limit } = this.openFlows(address, device);
    if (limit === 0 || (await this.leases.acquireLease(set, flowId, limit, expiresAt))) return null;
    this.events.tooManyOpenFlows?.(address);
    // The real wait: a place frees when the oldest open flow expires, if none ends sooner. Should the store not say, a place
    // frees within one flow lifetime at the latest (the refused flow's own expiry).
    const freesAt = await this.leases.nextLeaseExpiry(set).catch(() => expiresAt);
    return openFlowsRefusal(limit, device !== null, freesAt === null ? 0 : freesAt - Date.now());
  }

  /** `device` is the flow's own (its context's), so the place is given back where `flowStarted` took it. */
  async flowEnded(flowId: string, address: string | null, device: TrustedDevice | null): Promise<void> {
    const { set, limit } = this.openFlows(address, device);
    if (limit === 0) return;
    await this.leases.releaseLease(set, flowId);
  }

  /** Where a flow counts: the lease set and its limit (0: not counted). */
  private openFlows(address: string | null, device: TrustedDevice | null): { readonly set: string; readonly limit: number } {
    const { openFlowsPerAddress, openFlowsPerTrustedAccount } = this.limits;
    if (device === null) return { set: `open-flows:${this.banKey(address)}`, limit: openFlowsPerAddress };
    return { set: `open-flows-trusted:${device.account}`, limit: openFlowsPerAddress === 0 ? 0 : openFlowsPerTrustedAccount };
  }

  /** True when the address is on the ban list (always false while bans are off). */
  async isBanned(address: string | null): Promise<boolean> {
    if (this.banThreshold === 0 || address === null) return false;
    return this.store.isBanned(this.banKey(address));
  }

  /**
   * The counters an attempt is checked and counted against: a device trusted for the named account counts only against its
   * own counter; any other client against its address and, when it names one, the account.
   */
  private counters(subject: AttemptSubject): AttemptCounters {
    const limits = this.limits;
    const address = { key: limitKey(subject.address ?? UNKNOWN_ADDRESS), limit: limits.addressFailures, windowMs: limits.addressWindowMs };
    const trusted = subject.device !== null && subject.account !== null && subject.device.account === subject.account;
    if (trusted && subject.device !== null) {
      return {
        address: off(address),
        account: null,
        device: { key: subject.device.id, limit: limits.deviceFailures, windowMs: limits.deviceWindowMs },
      };
    }
    return {
      address,
      account: subject.account === null ? null : { key: subject.account, limit: limits.accountFailures, windowMs: limits.accountWindowMs },
      device: null,
    };
  }

  private banKey(address: string | null): string {
    return limitKey(address ?? UNKNOWN_ADDRESS);
  }

  /** The ban-list key to check, or null while bans are off: a list left from when they were on does not refuse anyone. */
  private bannable(address: string | null): string | null {
    return this.bansEnabled ? this.banKey(address) : null;
  }

  /** The counters the reservation filled; throws the refusal when there was none. */
  private refuseUnlessReserved(subject: AttemptSubject, check: AttemptReservation): readonly LimitedCounter[] {
    if (check.outcome === 'reserved') return check.filled;
    if (check.outcome === 'banned') {
      this.events.refused?.({ subject, reason: 'banned', retryAfterSeconds: null });
      throw banned();
    }
    const error = rateLimited(check.retryAfterMs);
    this.events.refused?.({ subject, reason: check.counter, retryAfterSeconds: error.retryAfterSeconds ?? null });
    throw error;
  }
}

const NOTHING_SETTLED = { lockedOut: [], banned: false } as const;

/** Whether a check has anything to look at in the store: a ban list to consult, or a counter with a limit. */
function applies(ban: string | null, counters: AttemptCounters): boolean {
  return ban !== null || [counters.address, counters.account, counters.device].some((counter) => counter !== null && counter.limit > 0);
}

/** The same counter, not applied (its key still names it, so a success can still clear it). */
const off = (counter: AttemptCounters['address']): AttemptCounters['address'] => ({ ...counter, limit: 0 });
