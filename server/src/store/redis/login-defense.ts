/** Login defense on Redis: each attempt's check-and-count and its settlement are one Lua script over one hash tag. */
import { defineScript, type CommandParser } from 'redis';
import type {
  AttemptCounters,
  AttemptReservation,
  AttemptSettlement,
  Ban,
  LimitedCounter,
  LoginDefenseStore,
  Settled,
} from '../login-defense.js';
import type { RedisKeys } from './keys.js';

function defenseScript(source: string, numberOfKeys: number) {
  return defineScript({
    SCRIPT: source,
    NUMBER_OF_KEYS: numberOfKeys,
    parseCommand(parser: CommandParser, keys: readonly string[], args: readonly string[]) {
      for (const key of keys) parser.pushKey(key);
      parser.push(...args);
    },
    transformReply: (reply: unknown): unknown => reply,
  });
}

/**
 * KEYS: bans, address, account, device counters. ARGV: ban field ('' when bans are off), the three limits (0: not applied), the three windows, and
 * '1' to count the attempt or '0' to only look. Returns {0} when allowed, {1, waitMs, counter index} when limited, {2} banned.
 * A limited counter that lost its TTL is given its window again rather than blocking forever.
 */
const attemptCheck = defenseScript(
  `if ARGV[1] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {2, 0, 0} end
local wait, which = -1, 0
for i = 2, 4 do
  local limit = tonumber(ARGV[i])
  if limit > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[i + 3]); ttl = tonumber(ARGV[i + 3]) end
    if ttl > wait then wait = ttl; which = i - 1 end
  end
end
if which > 0 then return {1, wait, which} end
if ARGV[8] == '1' then
  for i = 2, 4 do
    if tonumber(ARGV[i]) > 0 then
      local n = redis.call('INCR', KEYS[i])
      if n == 1 or redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[i + 3]) end
    end
  end
end
return {0, 0, 0}`,
  4,
);

/**
 * KEYS: bans, address, account, device counters, ban count. ARGV: ban field, the three limits, settlement, ban threshold, now.
 * A given-back count never goes below zero, nor re-creates a counter that expired meanwhile. Returns a bit mask: 1 when this
 * banned, 2/4/8 when it brought the address/account/device counter to its limit.
 */
const attemptSettle = defenseScript(
  `local function giveBack(key)
  local n = tonumber(redis.call('GET', key) or '0')
  if n > 1 then redis.call('DECR', key) elseif n == 1 then redis.call('DEL', key) end
end
local settlement = ARGV[5]
if settlement == 'release' then
  for i = 2, 4 do if tonumber(ARGV[i]) > 0 then giveBack(KEYS[i]) end end
  return 0
end
if settlement == 'success' then
  redis.call('DEL', KEYS[2], KEYS[4], KEYS[5])
  if tonumber(ARGV[3]) > 0 then giveBack(KEYS[3]) end
  return 0
end
local locked = 0
for i = 2, 4 do
  local limit = tonumber(ARGV[i])
  if limit > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') == limit then locked = locked + 2 ^ (i - 1) end
end
local threshold = tonumber(ARGV[6])
if threshold > 0 and redis.call('INCR', KEYS[5]) >= threshold then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[7])
  redis.call('DEL', KEYS[5])
  return locked + 1
end
return locked`,
  5,
);

/** KEYS: secret. ARGV: candidate. The first writer wins; everyone reads the winner. */
const sharedSecret = defenseScript(
  `redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`,
  1,
);

export const LOGIN_DEFENSE_SCRIPTS = { attemptCheck, attemptSettle, sharedSecret };

/** The slice of the node-redis client these methods use (the store's client has the scripts above registered). */
export interface LoginDefenseClient {
  attemptCheck(keys: string[], args: string[]): Promise<unknown>;
  attemptSettle(keys: string[], args: string[]): Promise<unknown>;
  sharedSecret(keys: string[], args: string[]): Promise<unknown>;
  hExists(key: string, field: string): Promise<number | boolean>;
  hGetAll(key: string): Promise<Record<string, string>>;
  hDel(key: string, field: string): Promise<number>;
}

const COUNTER_NAMES: readonly LimitedCounter[] = ['address', 'account', 'device'];

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
    const keys = [this.bans(), ...this.counterKeys(counters), this.keys.loginDefense('ban-count', ban)];
    const args = [ban, ...limits(counters), settlement, String(banThreshold), String(Date.now())];
    const mask = Number(await this.call(() => this.client.attemptSettle(keys, args)));
    return { banned: (mask & 1) === 1, lockedOut: COUNTER_NAMES.filter((_name, index) => (mask & (2 << index)) !== 0) };
  }

  async isBanned(address: string): Promise<boolean> {
    return Boolean(await this.call(() => this.client.hExists(this.bans(), address)));
  }

  async listBans(): Promise<Ban[]> {
    const all = await this.call(() => this.client.hGetAll(this.bans()));
    return Object.entries(all)
      .map(([address, at]) => ({ address, bannedAt: Number(at) }))
      .sort((a, b) => a.bannedAt - b.bannedAt || (a.address < b.address ? -1 : 1));
  }

  async removeBan(address: string): Promise<boolean> {
    return (await this.call(() => this.client.hDel(this.bans(), address))) === 1;
  }

  async sharedSecret(name: string, candidate: string): Promise<string> {
    return String(await this.call(() => this.client.sharedSecret([this.keys.loginDefense('secret', name)], [candidate])));
  }

  private async check(ban: string | null, counters: AttemptCounters, count: boolean): Promise<AttemptReservation> {
    const keys = [this.bans(), ...this.counterKeys(counters)];
    const args = [ban ?? '', ...limits(counters), ...windows(counters), count ? '1' : '0'];
    const [outcome, waitMs, which] = (await this.call(() => this.client.attemptCheck(keys, args))) as [number, number, number];
    if (outcome === 2) return { outcome: 'banned' };
    if (outcome === 1) return { outcome: 'limited', counter: COUNTER_NAMES[which - 1] ?? 'address', retryAfterMs: Number(waitMs) };
    return { outcome: 'reserved' };
  }

  private bans(): string {
    return this.keys.loginDefense('bans');
  }

  /** A counter that is not applied still gets a key (scripts take a fixed number), one nothing else uses. */
  private counterKeys(counters: AttemptCounters): string[] {
    return COUNTER_NAMES.map((name) => this.keys.loginDefense('failures', name, counters[name]?.key ?? '-'));
  }
}

const limits = (counters: AttemptCounters): string[] => COUNTER_NAMES.map((name) => String(counters[name]?.limit ?? 0));
const windows = (counters: AttemptCounters): string[] => COUNTER_NAMES.map((name) => String(counters[name]?.windowMs ?? 1));
