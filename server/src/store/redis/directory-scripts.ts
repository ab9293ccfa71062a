/**
 * The Lua scripts of the directory (users, credentials, refresh tokens, the owner marker). Each touches one slot: a user's
 * keys, a credential with its index entry, or one small key; the steps across slots are in users.ts and refresh-tokens.ts.
 */
import { luaScript } from './lua.js';

/**
 * KEYS: owner. ARGV: userId, now. The owner marker is `pending:<id>:<ms>` from the claim until the user is written, then the
 * id. Returns {'won', marker} when this user may be written as the owner (also when it already holds the pending claim),
 * {'pending', marker} when another user's claim is pending (the caller decides: confirm or take over), else {'taken'}.
 */
const claimOwner = luaScript(
  `local v = redis.call('GET', KEYS[1])
if not v then
  v = 'pending:' .. ARGV[1] .. ':' .. ARGV[2]
  redis.call('SET', KEYS[1], v)
  return {'won', v}
end
if string.sub(v, 1, #ARGV[1] + 9) == 'pending:' .. ARGV[1] .. ':' then return {'won', v} end
if string.sub(v, 1, 8) == 'pending:' then return {'pending', v} end
return {'taken'}`,
  1,
);

/** KEYS: any. ARGV: expected, new ('' deletes). Sets (or deletes) the key only while it still holds `expected`; 1 when it did. */
const compareAndSet = luaScript(
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1`,
  1,
);

/**
 * KEYS: user, userCredentials. ARGV: id, createdAt, name, groups (JSON), isActive, localOnly, owner (0/1), credentialId
 * ('' = none). Returns -1 when the id exists, else 1. The credential id goes into the user's set with the user, in its slot.
 * (The owner is an admin whatever its groups say: the decoder adds `system-admin`, so no JSON is edited here.)
 */
const createUser = luaScript(
  `if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[3], 'groups', ARGV[4], 'active', ARGV[5], 'local', ARGV[6], 'owner', ARGV[7], 'created', ARGV[2])
if ARGV[8] ~= '' then redis.call('SADD', KEYS[2], ARGV[8]) end
return 1`,
  2,
);

/** KEYS: user. ARGV: field, value, ... Returns the updated hash (flat array), or nil for an unknown user. */
const updateUser = luaScript(
  `if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return redis.call('HGETALL', KEYS[1])`,
  1,
);

/**
 * KEYS: user, userRefreshTokens, mfaSettings, userCredentials. ARGV: refresh token key prefix (the user's slot). Deletes the
 * user's tokens, their set, its MFA settings, its credential set and its record. Returns {removed (0/1), then the index key
 * of every token deleted} for the caller to drop (those live in other slots). Tokens and MFA settings go even when the user is
 * unknown: none may outlive a user that a racing removal already took.
 */
const removeUser = luaScript(
  `local reply = {0}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local record = ARGV[1] .. id
  local index = redis.call('HGET', record, 'idx')
  if index then reply[#reply + 1] = index; reply[#reply + 1] = id end
  redis.call('DEL', record)
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
if redis.call('DEL', KEYS[1]) == 1 then reply[1] = 1 end
return reply`,
  4,
);

/** KEYS: user, userCredentials. ARGV: credentialId. Adds the id to the user's set; 0 when the user does not exist. */
const addUserCredential = luaScript(
  `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
return 1`,
  2,
);

/**
 * KEYS: credentialIndex, new credential (both in the index entry's slot). ARGV: this slot's credential key prefix, id,
 * providerType, providerId (JSON), subject, data, createdAt, stale id ('' = none). Returns {'found', hash...} for the live
 * credential the entry names, {'elsewhere', id} when it names a credential in another slot (renamed to this subject: the
 * caller checks it, and names it as stale when it is not live), else claims the entry for a new credential: {'created', hash...}.
 * An entry is live when its credential exists and names it back (`idx`): an entry left by a crash between two steps is not.
 */
const getOrCreateCredential = luaScript(
  `local existing = redis.call('GET', KEYS[1])
if existing and existing ~= ARGV[8] then
  if string.sub(existing, 1, 12) ~= string.sub(ARGV[2], 1, 12) then return {'elsewhere', existing} end
  local found = redis.call('HGETALL', ARGV[1] .. existing)
  if #found > 0 and redis.call('HGET', ARGV[1] .. existing, 'idx') == KEYS[1] then return {'found', unpack(found)} end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'type', ARGV[3], 'pid', ARGV[4], 'subject', ARGV[5], 'data', ARGV[6], 'user', '', 'created', ARGV[7], 'idx', KEYS[1])
return {'created', unpack(redis.call('HGETALL', KEYS[2]))}`,
  2,
);

/**
 * KEYS: credential. ARGV: expected user id ('' = any). Deletes the credential; returns {1, its index key, its user id}, or
 * {0} when it is unknown or bound to another user than expected. The caller frees the index entry (compareAndSet) and the
 * user's set entry: they may be in other slots.
 */
const removeCredential = luaScript(
  `local found = redis.call('HMGET', KEYS[1], 'idx', 'user')
if not found[1] then return {0} end
if ARGV[1] ~= '' and found[2] ~= ARGV[1] then return {0} end
redis.call('DEL', KEYS[1])
return {1, found[1], found[2] or ''}`,
  1,
);

/**
 * KEYS: credential index entry. ARGV: credentialId, stale id ('' = none). Claims the entry for the credential when it is free,
 * already the credential's, or held by `stale`; returns 'ok', or the id holding it.
 */
const claimCredentialIndex = luaScript(
  `local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] and v ~= ARGV[2] then return v end
redis.call('SET', KEYS[1], ARGV[1])
return 'ok'`,
  1,
);

/**
 * KEYS: credential. ARGV: new index key, now. Marks the credential as moving to that index entry (so a racing rename or
 * get-or-create that finds the entry claimed knows the claim is in progress, not left by a crash); 0 for an unknown credential.
 */
const startMove = luaScript(
  `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'moving', ARGV[1], 'moving-at', ARGV[2])
return 1`,
  1,
);

/**
 * KEYS: credential. ARGV: new subject, new index key ('' = give the move up). Finishes (or gives up) a move started by
 * startMove. Returns the old index key, or nil for an unknown credential (or a give-up).
 */
const moveCredential = luaScript(
  `local index = redis.call('HGET', KEYS[1], 'idx')
if not index then return false end
if redis.call('HGET', KEYS[1], 'moving') == ARGV[2] or ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'moving', 'moving-at') end
if ARGV[2] == '' then return false end
redis.call('HSET', KEYS[1], 'subject', ARGV[1], 'idx', ARGV[2])
return index`,
  1,
);

/**
 * KEYS: credential. ARGV: userId, now, stale user id ('' = none), mark ('1': a claim by createUserForCredential, which a later
 * login may take over once `claimed` is old and the user was never written). Binds the credential to the user when it has
 * none (or has `stale`). Returns {'ok'}, {'none'} for an unknown credential, or {'bound', user id, claimed ms ('' = a link)}.
 */
const bindCredential = luaScript(
  `local current = redis.call('HMGET', KEYS[1], 'user', 'claimed')
if not current[1] then return {'none'} end
if current[1] ~= '' and current[1] ~= ARGV[1] and current[1] ~= ARGV[3] then return {'bound', current[1], current[2] or ''} end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'user', ARGV[1], 'claimed', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'user', ARGV[1])
  redis.call('HDEL', KEYS[1], 'claimed')
end
return {'ok'}`,
  1,
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
 * KEYS: token, userRefreshTokens (the user's slot). ARGV: this slot's token key prefix, now, id, type, clientName (JSON),
 * expireAt ('' = never), maxPerUser, keepId ('' = none), index key, then the other fields as field, value pairs. Returns
 * {1, then index key and id of each evicted token}, {0} when the user already has a live long-lived token of that client
 * name, {2} when the limit could only be kept by deleting long-lived tokens, {-1} when the id is taken. Ids in the user's set
 * whose hash Redis expired are pruned on the way. The user's set is bounded by maxPerUser, so the scan is too.
 */
const createRefreshToken = luaScript(
  `if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
local now = tonumber(ARGV[2])
local live, normals = 0, {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local other = redis.call('HMGET', ARGV[1] .. id, 'type', 'cname', 'exp', 'used', 'created')
  if not other[1] then
    redis.call('SREM', KEYS[2], id)
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
    reply[#reply + 1] = redis.call('HGET', ARGV[1] .. id, 'idx') or ''
    reply[#reply + 1] = id
    redis.call('DEL', ARGV[1] .. id)
    redis.call('SREM', KEYS[2], id)
  end
end
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'type', ARGV[4], 'cname', ARGV[5], 'exp', ARGV[6], 'idx', ARGV[9], unpack(ARGV, 10))
redis.call('SADD', KEYS[2], ARGV[3])
if ARGV[6] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[6]) end
return reply`,
  2,
);

/**
 * KEYS: token. ARGV: now, lastUsedAt, lastUsedIp (JSON), expireAt ('' = never). Returns the token's index key (for the caller
 * to give it the same expiry: it is in another slot), or nil when the token is gone or expired.
 */
const touchRefreshToken = luaScript(
  `local current = redis.call('HMGET', KEYS[1], 'idx', 'exp')
if not current[1] then return false end
if current[2] ~= '' and tonumber(current[2]) <= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'used', ARGV[2], 'uip', ARGV[3], 'exp', ARGV[4])
if ARGV[4] == '' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIREAT', KEYS[1], ARGV[4]) end
return current[1]`,
  1,
);

/**
 * KEYS: token. ARGV: now, loggedInAt. Moves the token's login time forward (never back) and nothing else; 1, or 0 when the
 * token is gone or expired.
 */
const recordRefreshTokenLogin = luaScript(
  `local current = redis.call('HMGET', KEYS[1], 'idx', 'exp', 'login')
if not current[1] then return 0 end
if current[2] ~= '' and tonumber(current[2]) <= tonumber(ARGV[1]) then return 0 end
if not current[3] or current[3] == '' or tonumber(current[3]) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], 'login', ARGV[2]) end
return 1`,
  1,
);

/**
 * KEYS: token. ARGV: now, id, this slot's userRefreshTokens key prefix. Removes the token and its set entry; returns
 * {live (0/1), index key}, or {0} when it was unknown (an expired one is cleaned up all the same, and answers 0).
 */
const deleteRefreshToken = luaScript(
  `local current = redis.call('HMGET', KEYS[1], 'idx', 'user', 'exp')
if not current[1] then return {0} end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[3] .. current[2], ARGV[2])
if current[3] ~= '' and tonumber(current[3]) <= tonumber(ARGV[1]) then return {0, current[1]} end
return {1, current[1]}`,
  1,
);

/** KEYS: token, user (one slot: the token's id carries its user's tag). Both hashes, read as one write left them. */
const sessionState = luaScript(`return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}`, 2);

export const DIRECTORY_SCRIPTS = {
  claimOwner,
  compareAndSet,
  createUser,
  updateUser,
  removeUser,
  addUserCredential,
  getOrCreateCredential,
  removeCredential,
  claimCredentialIndex,
  startMove,
  moveCredential,
  bindCredential,
  updateCredentialData,
  createRefreshToken,
  touchRefreshToken,
  recordRefreshTokenLogin,
  deleteRefreshToken,
  sessionState,
};
