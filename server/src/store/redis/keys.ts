/** Every Redis key and channel name Flowgate uses, built by one function so the layout can be read (and changed) in one place. */

/** Prefixes end up inside key names and hash tags, so braces or colons in them would silently change which slot a key lands in. */
const PREFIX_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export const DEFAULT_KEY_PREFIX = 'default';

export function assertKeyPrefix(prefix: string): void {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(`Invalid store key prefix "${prefix}": use 1-64 letters, digits, "_", "." or "-"`);
  }
}

/**
 * The one key builder: `flowgate:<prefix>:<segments...>`. Callers put the Redis Cluster hash tag (`{...}`) in a segment so
 * that every key one atomic operation touches hashes to the same slot.
 */
function buildKey(prefix: string, ...segments: string[]): string {
  return ['flowgate', prefix, ...segments].join(':');
}

/**
 * The directory (users, credentials, refresh tokens, their indexes, the owner marker) lives under one hash tag: creating the
 * first user, removing a user with its credentials and refresh tokens, get-or-create of a credential and the long-lived token
 * name check each touch several of these keys in one Lua script,
 * which Redis Cluster only allows within one slot. A deployment has few users, so one slot holds them easily.
 */
const DIRECTORY_TAG = '{directory}';

export interface RedisKeys {
  flow(id: string): string;
  code(code: string): string;
  owner(): string;
  user(id: string): string;
  /** Sorted set of user ids scored by createdAt (listUsers order). */
  userIndex(): string;
  /** Set of credential ids bound to a user. */
  userCredentials(userId: string): string;
  credential(id: string): string;
  /** (providerType, providerId, subject) -> credential id; SET NX on it is what keeps one credential per subject. */
  credentialIndex(providerType: string, providerId: string | null, subject: string): string;
  /** Hash of one refresh token; under the directory tag so removeUser can drop a user's tokens in its script. */
  refreshToken(id: string): string;
  /** tokenHash -> refresh token id: how a presented secret finds its token. Expires with the token. */
  refreshTokenIndex(tokenHash: string): string;
  /** Set of refresh token ids of a user (may hold ids of tokens Redis already expired; readers skip them). */
  userRefreshTokens(userId: string): string;
  /** Hash of a user's MFA settings, one field per module id; under the directory tag so removeUser drops it in its script. */
  mfaSettings(userId: string): string;
  channel(name: string): string;
  /** Sorted set of one lease set's members scored by expiry, under its own hash tag (one key per script call). */
  lease(set: string): string;
  /**
   * Login defense (brute-force counters, bans, shared secrets): one hash tag, because one attempt's script touches the counters
   * of its address and of its account or device together, which Redis Cluster allows only within a slot.
   */
  loginDefense(...segments: string[]): string;
}

export function redisKeys(prefix: string): RedisKeys {
  assertKeyPrefix(prefix);
  return {
    // A single id inside the tag: all keys of one flow (today just one) stay together, while flows spread over the cluster.
    flow: (id) => buildKey(prefix, 'flow', `{${id}}`),
    code: (code) => buildKey(prefix, 'code', `{${code}}`),
    owner: () => buildKey(prefix, DIRECTORY_TAG, 'owner'),
    user: (id) => buildKey(prefix, DIRECTORY_TAG, 'user', id),
    userIndex: () => buildKey(prefix, DIRECTORY_TAG, 'users'),
    userCredentials: (userId) => buildKey(prefix, DIRECTORY_TAG, 'user-credentials', userId),
    credential: (id) => buildKey(prefix, DIRECTORY_TAG, 'credential', id),
    // JSON keeps a null provider id apart from an empty one, and colons inside a subject from the separators.
    credentialIndex: (providerType, providerId, subject) =>
      buildKey(prefix, DIRECTORY_TAG, 'credential-index', JSON.stringify([providerType, providerId, subject])),
    refreshToken: (id) => buildKey(prefix, DIRECTORY_TAG, 'refresh-token', id),
    refreshTokenIndex: (tokenHash) => buildKey(prefix, DIRECTORY_TAG, 'refresh-token-index', tokenHash),
    userRefreshTokens: (userId) => buildKey(prefix, DIRECTORY_TAG, 'user-refresh-tokens', userId),
    mfaSettings: (userId) => buildKey(prefix, DIRECTORY_TAG, 'mfa', userId),
    channel: (name) => buildKey(prefix, 'events', name),
    loginDefense: (...segments) => buildKey(prefix, '{login-defense}', ...segments),
    lease: (set) => buildKey(prefix, 'lease', `{${set}}`),
  };
}
