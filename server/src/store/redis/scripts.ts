/** The Lua scripts behind every Redis transition that must be atomic (compare-and-set, take-once, owner election...). */
import { defineScript, type CommandParser } from 'redis';
import { LOGIN_DEFENSE_SCRIPTS } from './login-defense.js';

/**
 * A script called as `client.NAME(keys, args)`. node-redis sends EVALSHA and falls back to EVAL on NOSCRIPT (a restarted or
 * failed-over Redis has an empty script cache), so scripts need no explicit SCRIPT LOAD. Replies are decoded by the caller.
 */
function luaScript(source: string, numberOfKeys: number) {
  return defineScript({
    SCRIPT: source,
    NUMBER_OF_KEYS: numberOfKeys,
    parseCommand(parser: CommandParser, keys: readonly string[], args: readonly string[]) {
      if (keys.length !== numberOfKeys) throw new Error(`Lua script expects ${numberOfKeys} keys, got ${keys.length}`);
      for (const key of keys) parser.pushKey(key);
      parser.push(...args);
    },
    transformReply: (reply: unknown): unknown => reply,
  });
}

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
 * KEYS: owner, user, userIndex. ARGV: id, createdAt, name, groups (JSON), isActive, localOnly.
 * Returns -1 when the id exists, else 1 if this user became the owner, 0 if not. The owner marker is never deleted: the first
 * user *ever* is the owner, so removing it does not promote anyone. (The owner is an admin whatever its groups say: the
 * decoder adds `system-admin`, so no JSON is edited here.)
 */
const createUser = luaScript(
  `if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local owner = 0
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then owner = 1 end
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'name', ARGV[3], 'groups', ARGV[4], 'active', ARGV[5], 'local', ARGV[6], 'owner', owner, 'created', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return owner`,
  3,
);

/** KEYS: user. ARGV: field, value, ... Returns the updated hash (flat array), or nil for an unknown user. */
const updateUser = luaScript(
  `if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return redis.call('HGETALL', KEYS[1])`,
  1,
);

/**
 * KEYS: user, userIndex, userCredentials, userRefreshTokens, mfaSettings. ARGV: userId, credential key prefix, refresh token
 * key prefix. Credential and token keys are derived from stored ids inside the script; they share the directory hash tag, so
 * they are in this slot. Tokens and MFA settings go even when the user is unknown: none may outlive a user that a racing
 * removal already took.
 */
const removeUser = luaScript(
  `-- Deletes every record whose id is in the set, each with the index key it names, then the set itself.
local function deleteIndexed(set, prefix)
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    local record = prefix .. id
    local index = redis.call('HGET', record, 'idx')
    if index then redis.call('DEL', index) end
    redis.call('DEL', record)
  end
  redis.call('DEL', set)
end
deleteIndexed(KEYS[4], ARGV[3])
redis.call('DEL', KEYS[5])
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
deleteIndexed(KEYS[3], ARGV[2])
return 1`,
  5,
);

/**
 * KEYS: credentialIndex, new credential. ARGV: credential key prefix, id, providerType, providerId (JSON), subject, data, createdAt.
 * Returns the existing credential's hash or the new one's (flat array): the index is claimed in the same script that writes the
 * credential, so concurrent callers can never see an index entry without its credential.
 */
const getOrCreateCredential = luaScript(
  `local existing = redis.call('GET', KEYS[1])
if existing then
  local found = redis.call('HGETALL', ARGV[1] .. existing)
  if #found > 0 then return found end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'type', ARGV[3], 'pid', ARGV[4], 'subject', ARGV[5], 'data', ARGV[6], 'user', '', 'created', ARGV[7], 'idx', KEYS[1])
return redis.call('HGETALL', KEYS[2])`,
  2,
);

/**
 * KEYS: credential. ARGV: credentialId, user-credentials key prefix. Deletes the credential, the index entry it names (when it
 * still points here) and its id from its user's set. Returns 1, or 0 for an unknown credential. The user's set shares the
 * directory hash tag, so deriving its key here stays in this slot.
 */
const removeCredential = luaScript(
  `local found = redis.call('HMGET', KEYS[1], 'idx', 'user')
if not found[1] then return 0 end
if redis.call('GET', found[1]) == ARGV[1] then redis.call('DEL', found[1]) end
if found[2] and found[2] ~= '' then redis.call('SREM', ARGV[2] .. found[2], ARGV[1]) end
redis.call('DEL', KEYS[1])
return 1`,
  1,
);

/**
 * KEYS: credential, new credentialIndex. ARGV: credentialId, new subject. Claims the new index entry (SET NX), then frees the
 * old one and rewrites the subject. Returns 'ok', 'taken' (another credential holds the subject) or 'not_found'.
 */
const changeCredentialSubject = luaScript(
  `local index = redis.call('HGET', KEYS[1], 'idx')
if not index then return 'not_found' end
if index == KEYS[2] then return 'ok' end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX') then return 'taken' end
if redis.call('GET', index) == ARGV[1] then redis.call('DEL', index) end
redis.call('HSET', KEYS[1], 'subject', ARGV[2], 'idx', KEYS[2])
return 'ok'`,
  2,
);

/** KEYS: credential, user, userCredentials. ARGV: credentialId, userId. Returns 1 when bound (or already bound to this user). */
const linkCredential = luaScript(
  `local current = redis.call('HGET', KEYS[1], 'user')
if not current then return 0 end
if current ~= '' and current ~= ARGV[2] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'user', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
return 1`,
  3,
);

/**
 * KEYS: credential, owner, user, userIndex, userCredentials. ARGV: credentialId, userId, createdAt, name, groups (JSON),
 * isActive, user key prefix, localOnly. Returns {'none'} for an unknown credential (or one whose user is gone),
 * {'linked', user hash...} when it already has a user, {'created', user hash...} after creating the user (the owner when
 * first) and binding it.
 */
const createUserForCredential = luaScript(
  `local current = redis.call('HGET', KEYS[1], 'user')
if not current then return {'none'} end
if current ~= '' then
  local found = redis.call('HGETALL', ARGV[7] .. current)
  if #found == 0 then return {'none'} end
  return {'linked', unpack(found)}
end
if redis.call('EXISTS', KEYS[3]) == 1 then return redis.error_reply('user id already exists') end
local owner = 0
if redis.call('SET', KEYS[2], ARGV[2], 'NX') then owner = 1 end
redis.call('HSET', KEYS[3], 'id', ARGV[2], 'name', ARGV[4], 'groups', ARGV[5], 'active', ARGV[6], 'local', ARGV[8], 'owner', owner, 'created', ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[1], 'user', ARGV[2])
redis.call('SADD', KEYS[5], ARGV[1])
return {'created', unpack(redis.call('HGETALL', KEYS[3]))}`,
  5,
);

/**
 * KEYS: credential. ARGV: data[, expected data]. Returns 1, or 0 (writing nothing) when the credential is unknown or its data
 * is not the expected JSON (compared as the string stored: Flowgate writes it with JSON.stringify, which round-trips).
 */
const updateCredentialData = luaScript(
  `local current = redis.call('HGET', KEYS[1], 'data')
if not current then return 0 end
if ARGV[2] and current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1])
return 1`,
  1,
);

/**
 * KEYS: token, tokenIndex, userRefreshTokens. ARGV: token key prefix, now, id, type, clientName (JSON), expireAt ('' = never),
 * maxPerUser, keepId ('' = none), then the other fields as field, value pairs. Returns {1, evicted ids...} when stored, {0} when the user already
 * has a live long-lived token of that client name, {2} when the limit could only be kept by deleting long-lived tokens, {-1}
 * when the id or the hash is taken. Ids in the user's set whose hash Redis expired are pruned on the way. The user's set is
 * bounded by maxPerUser, so the scan is too.
 */
const createRefreshToken = luaScript(
  `if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
local now = tonumber(ARGV[2])
local live, normals = 0, {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local other = redis.call('HMGET', ARGV[1] .. id, 'type', 'cname', 'exp', 'used', 'created')
  if not other[1] then
    redis.call('SREM', KEYS[3], id)
  elseif other[3] == '' or tonumber(other[3]) > now then
    if ARGV[4] == 'long_lived_access_token' and other[1] == ARGV[4] and other[2] == ARGV[5] then return {0} end
    live = live + 1
    if other[1] == 'normal' and id ~= ARGV[8] then
      local created = tonumber(other[5])
      normals[#normals + 1] = {other[4] ~= '' and tonumber(other[4]) or created, created, id}
    end
  end
end
local excess = live + 1 - tonumber(ARGV[7])
if excess > #normals then return {2} end
local reply = {1}
if excess > 0 then
  -- Least recently used first (never used counts as used when created), then oldest, then by id.
  table.sort(normals, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[3] < b[3]
  end)
  for i = 1, excess do
    local id = normals[i][3]
    local index = redis.call('HGET', ARGV[1] .. id, 'idx')
    if index then redis.call('DEL', index) end
    redis.call('DEL', ARGV[1] .. id)
    redis.call('SREM', KEYS[3], id)
    reply[#reply + 1] = id
  end
end
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'type', ARGV[4], 'cname', ARGV[5], 'exp', ARGV[6], 'idx', KEYS[2], unpack(ARGV, 9))
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
if ARGV[6] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[6])
  redis.call('PEXPIREAT', KEYS[2], ARGV[6])
end
return reply`,
  3,
);

/**
 * KEYS: token. ARGV: now, lastUsedAt, lastUsedIp (JSON), expireAt ('' = never). Returns 0 when the token is gone or expired.
 * The hash index follows the token's new expiry, so both disappear together.
 */
const touchRefreshToken = luaScript(
  `local current = redis.call('HMGET', KEYS[1], 'idx', 'exp')
if not current[1] then return 0 end
if current[2] ~= '' and tonumber(current[2]) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'used', ARGV[2], 'uip', ARGV[3], 'exp', ARGV[4])
if ARGV[4] == '' then
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', current[1])
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
  redis.call('PEXPIREAT', current[1], ARGV[4])
end
return 1`,
  1,
);

/**
 * KEYS: token. ARGV: now, id, userRefreshTokens key prefix. Removes the token, its hash index and its set entry; returns 0 when
 * it was unknown or already expired (an expired one is cleaned up all the same).
 */
const deleteRefreshToken = luaScript(
  `local current = redis.call('HMGET', KEYS[1], 'idx', 'user', 'exp')
if not current[1] then return 0 end
redis.call('DEL', KEYS[1], current[1])
redis.call('SREM', ARGV[3] .. current[2], ARGV[2])
if current[3] ~= '' and tonumber(current[3]) <= tonumber(ARGV[1]) then return 0 end
return 1`,
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
  acquireLease,
  createFlow,
  replaceFlow,
  deleteFlow,
  putCode,
  takeCode,
  createUser,
  updateUser,
  removeUser,
  getOrCreateCredential,
  linkCredential,
  removeCredential,
  changeCredentialSubject,
  createUserForCredential,
  updateCredentialData,
  createRefreshToken,
  touchRefreshToken,
  deleteRefreshToken,
  putMfaSetting,
};
