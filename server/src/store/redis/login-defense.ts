/**
 * Login defense on Redis: every brute-force counter in its own slot (`{d:<tag>}`, keys.ts), with the ban of its address beside
 * the address counter. One attempt's counters are checked and counted by one script per counter, sent together (one round
 * trip): each counter's check-and-count is atomic, so racing attempts never get past any limit; an attempt refused by one
 * counter gives back what the others reserved, so for that instant a racing attempt may be refused when it would have fitted
 * (never let through when it would not).
 */
import type {
  AttemptCounter,
  AttemptCounters,
  AttemptReservation,
  AttemptSettlement,
  Ban,
  LimitedCounter,
  LoginDefenseStore,
  Settled,
} from '../login-defense.js';
import type { RedisKeys } from './keys.js';
import { luaScript } from './lua.js';

/**
 * KEYS: counter, ban marker (in one slot; the counter again when no ban goes with it). ARGV: '1' to consult the ban, limit
 * (0: not applied), window, '1' to count the attempt or '0' to only look. Returns {2, 0} banned, {1, waitMs} limited, {0, 1, n}
 * counted (n: the count now), {0, 0} allowed without counting. A limited counter that lost its TTL is given its window again rather than blocking forever.
 */
const counterCheck = luaScript(
  `if ARGV[1] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return {2, 0} end
local limit = tonumber(ARGV[2])
if limit == 0 then return {0, 0} end
if tonumber(redis.call('GET', KEYS[1]) or '0') >= limit then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]); ttl = tonumber(ARGV[3]) end
  return {1, ttl}
end
if ARGV[4] ~= '1' then return {0, 0} end
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {0, 1, n}`,
  2,
);

/**
 * KEYS: counter, ban marker, ban count (one slot). ARGV: settlement, limit, what a success does to the counter ('clear',
 * 'giveback' or 'none'), '1' when the ban goes with this counter, ban threshold, now. A given-back count never goes below zero,
 * nor re-creates a counter that expired meanwhile. Returns a bit mask: 1 when this banned, 2 when it brought the counter to its limit.
 */
const counterSettle = luaScript(
  `local function giveBack(key)
  local n = tonumber(redis.call('GET', key) or '0')
  if n > 1 then redis.call('DECR', key) elseif n == 1 then redis.call('DEL', key) end
end
local limit = tonumber(ARGV[2])
if ARGV[1] == 'release' then
  if limit > 0 then giveBack(KEYS[1]) end
  return 0
end
if ARGV[1] == 'success' then
  if ARGV[3] == 'clear' then redis.call('DEL', KEYS[1]) elseif ARGV[3] == 'giveback' and limit > 0 then giveBack(KEYS[1]) end
  if ARGV[4] == '1' then redis.call('DEL', KEYS[3]) end
  return 0
end
local mask = 0
if limit > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') == limit then mask = 2 end
local threshold = tonumber(ARGV[5])
if ARGV[4] == '1' and threshold > 0 and redis.call('INCR', KEYS[3]) >= threshold then
  redis.call('SET', KEYS[2], ARGV[6])
  redis.call('DEL', KEYS[3])
  mask = mask + 1
end
return mask`,
  3,
);

/** KEYS: secret. ARGV: candidate. The first writer wins; everyone reads the winner. */
const sharedSecret = luaScript(
  `redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`,
  1,
);

export const LOGIN_DEFENSE_SCRIPTS = { counterCheck, counterSettle, sharedSecret };

/** The slice of the node-redis client these methods use (the store's client has the scripts above registered). */
export interface LoginDefenseClient {
  counterCheck(keys: string[], args: string[]): Promise<unknown>;
  counterSettle(keys: string[], args: string[]): Promise<unknown>;
  sharedSecret(keys: string[], args: string[]): Promise<unknown>;
  exists(key: string): Promise<number>;
  del(key: string): Promise<number>;
  hSet(key: string, field: string, value: string): Promise<number>;
  hGetAll(key: string): Promise<Record<string, string>>;
  hDel(key: string, field: string): Promise<number>;
}

const COUNTER_NAMES: readonly LimitedCounter[] = ['address', 'account', 'device'];

/** One script call of an attempt: a counter (or none, for a ban kept apart), and whether the ban goes with it. */
interface Part {
  readonly name: LimitedCounter | null;
  readonly counter: AttemptCounter | null;
  readonly withBan: boolean;
}

export class RedisLoginDefense implements LoginDefenseStore {
  constructor(
    private readonly client: LoginDefenseClient,
    private readonly keys: RedisKeys,
    private readonly call: <T>(call: () => Promise<T>) => Promise<T>,
  ) {}

  reserveAttempt(ban: string | null, counters: AttemptCounters): Promise<AttemptReservation> {
    return this.check(ban, counters, true);
  }

  checkAttempt(ban: string | null, counters: AttemptCounters): Promise<AttemptReservation> {
    return this.check(ban, counters, false);
  }

  async settleAttempt(ban: string, counters: AttemptCounters, settlement: AttemptSettlement, banThreshold: number): Promise<Settled> {
    const now = String(Date.now());
    const masks = await Promise.all(
      parts(ban, counters, true).map(async (part) => {
        const onSuccess = part.name === 'account' ? 'giveback' : part.name === null ? 'none' : 'clear';
        const args = [settlement, String(part.counter?.limit ?? 0), onSuccess, part.withBan ? '1' : '0', String(banThreshold), now];
        return Number(await this.call(() => this.client.counterSettle(this.partKeys(ban, part, true), args)));
      }),
    );
    const banned = masks.some((mask) => (mask & 1) === 1);
    // The ban list is what operators read; the marker, set by the script, is what attempts check.
    if (banned) await this.call(() => this.client.hSet(this.keys.banList(), ban, now));
    const all = parts(ban, counters, true);
    return { banned, lockedOut: COUNTER_NAMES.filter((name) => all.some((part, i) => part.name === name && ((masks[i] ?? 0) & 2) !== 0)) };
  }

  async isBanned(address: string): Promise<boolean> {
    return (await this.call(() => this.client.exists(this.keys.ban(address)))) === 1;
  }

  async listBans(): Promise<Ban[]> {
    const all = await this.call(() => this.client.hGetAll(this.keys.banList()));
    return Object.entries(all)
      .map(([address, at]) => ({ address, bannedAt: Number(at) }))
      .sort((a, b) => a.bannedAt - b.bannedAt || (a.address < b.address ? -1 : 1));
  }

  async removeBan(address: string): Promise<boolean> {
    const [marker, listed] = await Promise.all([
      this.call(() => this.client.del(this.keys.ban(address))),
      this.call(() => this.client.hDel(this.keys.banList(), address)),
    ]);
    return marker === 1 || listed === 1;
  }

  async sharedSecret(name: string, candidate: string): Promise<string> {
    return String(await this.call(() => this.client.sharedSecret([this.keys.secret(name)], [candidate])));
  }

  private async check(ban: string | null, counters: AttemptCounters, count: boolean): Promise<AttemptReservation> {
    const all = parts(ban, counters, false);
    const replies = await Promise.all(
      all.map(async (part) => {
        const counter = part.counter;
        const args = [part.withBan ? '1' : '0', String(counter?.limit ?? 0), String(counter?.windowMs ?? 1), count ? '1' : '0'];
        return (await this.call(() => this.client.counterCheck(this.partKeys(ban ?? '', part, false), args))) as CheckReply;
      }),
    );
    const counted = all.filter((_part, i) => Number(replies[i]?.[0]) === 0 && Number(replies[i]?.[1]) === 1);
    const refusal = refusalOf(all, replies);
    if (refusal !== null && counted.length > 0) {
      // Refused by one counter: what the others counted is given back, so the attempt changes nothing.
      await Promise.all(
        counted.map((part) =>
          this.call(() => this.client.counterSettle(this.partKeys(ban ?? '', part, true), ['release', String(part.counter?.limit ?? 0), 'none', '0', '0', '0'])),
        ),
      );
    }
    if (refusal !== null) return refusal;
    const filled = all.flatMap((part, i) => {
      const reply = replies[i];
      return part.name !== null && Number(reply?.[0]) === 0 && Number(reply?.[2]) === part.counter?.limit ? [part.name] : [];
    });
    return { outcome: 'reserved', filled };
  }

  /** A counter's keys: its own, then (with the ban, in its slot) the ban marker and count, else the counter key again. */
  private partKeys(ban: string, part: Part, settling: boolean): string[] {
    const counter = part.name === null || part.counter === null ? null : this.keys.failures(part.name, part.counter.key);
    const main = counter ?? this.keys.banCount(ban);
    const extra = part.withBan ? [this.keys.ban(ban), this.keys.banCount(ban)] : [main, main];
    return settling ? [main, ...extra] : [main, extra[0] ?? main];
  }
}

/**
 * The script calls of one attempt: each counter that is there (settling: also those at limit 0, whose success still clears
 * them), the ban with the address counter when they share the address (they always do in Flowgate), or apart.
 */
function parts(ban: string | null, counters: AttemptCounters, settling: boolean): Part[] {
  const result: Part[] = [];
  const banWithAddress = ban !== null && ban === counters.address.key;
  for (const name of COUNTER_NAMES) {
    const counter = counters[name];
    if (counter === null) continue;
    const withBan = name === 'address' && banWithAddress;
    if (counter.limit > 0 || withBan || (settling && name !== 'account')) result.push({ name, counter, withBan });
  }
  if (ban !== null && !banWithAddress) result.push({ name: null, counter: null, withBan: true });
  return result;
}

/** counterCheck's answer: state (0 allowed, 1 limited, 2 banned), wait or whether it counted, and the count it counted to. */
type CheckReply = readonly [number, number, number?];

/** Banned beats limited; among limits, the longest wait (the first counter on a tie), as the single script answered before. */
function refusalOf(all: readonly Part[], replies: readonly CheckReply[]): AttemptReservation | null {
  if (replies.some((reply) => Number(reply[0]) === 2)) return { outcome: 'banned' };
  let refusal: AttemptReservation | null = null;
  let longest = -1;
  all.forEach((part, i) => {
    const reply = replies[i];
    if (reply === undefined || Number(reply[0]) !== 1 || part.name === null) return;
    if (Number(reply[1]) > longest) {
      longest = Number(reply[1]);
      refusal = { outcome: 'limited', counter: part.name, retryAfterMs: longest };
    }
  });
  return refusal;
}
