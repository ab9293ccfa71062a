/** The Lua scripts behind every Redis transition that must be atomic (compare-and-set, take-once, owner election...). */
import { DIRECTORY_SCRIPTS } from './directory-scripts.js';
import { LOGIN_DEFENSE_SCRIPTS } from './login-defense.js';
import { luaScript } from './lua.js';

/** KEYS: flow. ARGV: data, expiresAt. Returns 1, or 0 when the id exists (ids are random, so that is a bug upstream). */
const createFlow = luaScript(
  `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 'd', ARGV[1], 'x', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1`,
  1,
);

/** KEYS: flow. ARGV: expectedVersion, data, expiresAt. An expired flow is already gone from Redis, so it answers not_found. */
const replaceFlow = luaScript(
  `local v = redis.call('HGET', KEYS[1], 'v')
if not v then return 'not_found' end
if tonumber(v) ~= tonumber(ARGV[1]) then return 'conflict' end
redis.call('HSET', KEYS[1], 'v', tonumber(v) + 1, 'd', ARGV[2], 'x', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 'ok'`,
  1,
);

/** KEYS: flow. ARGV: expectedVersion. */
const deleteFlow = luaScript(
  `local v = redis.call('HGET', KEYS[1], 'v')
if not v then return 'not_found' end
if tonumber(v) ~= tonumber(ARGV[1]) then return 'conflict' end
redis.call('DEL', KEYS[1])
return 'ok'`,
  1,
);

/** KEYS: code. ARGV: clientId, data, expiresAt. DEL first so a reused code never keeps a field of its predecessor. */
const putCode = luaScript(
  `redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1`,
  1,
);

/** KEYS: code. ARGV: clientId. Returns the data, or nil (and leaves the code) when it is absent or belongs to another client. */
const takeCode = luaScript(
  `local v = redis.call('HMGET', KEYS[1], 'c', 'd')
if not v[1] or v[1] ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return v[2]`,
  1,
);

/**
 * KEYS: lease set (a sorted set scored by expiresAt). ARGV: member, limit, expiresAt, now. Returns 1 when the member holds a
 * lease afterwards, else 0. The key expires with its last member, so an abandoned set cleans itself up.
 */
const acquireLease = luaScript(
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
if tonumber(ARGV[3]) <= tonumber(ARGV[4]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1`,
  1,
);

/**
 * KEYS: mfaSettings. ARGV: module id, new value (`<revision>:<JSON>`), condition ('any', 'absent' or 'match'), expected
 * revision. Returns 1 when written, 0 (writing nothing) when the condition failed. Revisions are random hex, so they hold no
 * ':' and the stored value starts with exactly `<revision>:`.
 */
const putMfaSetting = luaScript(
  `local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] == 'absent' and current then return 0 end
if ARGV[3] == 'match' and (not current or string.sub(current, 1, #ARGV[4] + 1) ~= ARGV[4] .. ':') then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`,
  1,
);

export const SCRIPTS = {
  ...LOGIN_DEFENSE_SCRIPTS,
  ...DIRECTORY_SCRIPTS,
  acquireLease,
  createFlow,
  replaceFlow,
  deleteFlow,
  putCode,
  takeCode,
  putMfaSetting,
};
