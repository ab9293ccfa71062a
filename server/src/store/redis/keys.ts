/** Every Redis key and channel name Flowgate uses, built by one function so the layout can be read (and changed) in one place. */
import { routingTag, tagOfId } from '../ids.js';

/** Prefixes end up inside key names and hash tags, so braces or colons in them would silently change which slot a key lands in. */
const PREFIX_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export const DEFAULT_KEY_PREFIX = 'default';

/**
 * The key layout this code reads and writes, recorded in the layout key. 1 (never written: its absence) is the layout of
 * earlier builds of Flowgate, with the whole directory under `{directory}` and all login defense under `{login-defense}`.
 * 3 has the keys of 2, but refresh tokens keep a key salt (`salt`) where 2 kept the signing key itself (`jwt`), and
 * command_line credentials are keyed by the folded username (store/subject-fold.ts) where 2 kept it as typed.
 */
export const KEY_LAYOUT_VERSION = 3;

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
  return `flowgate:${prefix}:${segments.join(':')}`;
}

/**
 * Hash tags (docs/operations.md, "Redis keys", has the table). Each atomic operation stays in one slot, and the hot path
 * (`auth`, refresh, the check before every command, login steps) spreads over all slots:
 * - `{u:<tag of user id>}`: a user's record, credential id set, refresh tokens, refresh token id set and MFA settings;
 * - `{c:<tag of the index entry>}`: a credential index entry and the credentials made for it (their ids carry the tag);
 * - `{h:<tag of the hash>}`: the secret hash -> refresh token id index entry;
 * - `{a:<tag of the id>}`: where a refresh token whose id carries no tag lives (ids of the previous layout);
 * - `{d:<tag of the counter>}`: one brute-force counter, with the ban of its address;
 * - `{owner}`, `{users}`, `{bans}`, `{layout}`: the owner marker, the user list, the ban list, the layout version and its lock.
 */
const userSlot = (userId: string): string => `{u:${routingTag(userId)}}`;

export interface RedisKeys {
  flow(id: string): string;
  code(code: string): string;
  /** The owner marker: `pending:<user id>:<ms>` while its user is being created, then the user id. */
  owner(): string;
  user(id: string): string;
  /** Sorted set of user ids scored by createdAt (listUsers order); off the hot path, so one key. */
  userIndex(): string;
  /** Set of credential ids bound to a user (a superset: readers keep those whose own user field names the user). */
  userCredentials(userId: string): string;
  /** A credential: in its index entry's slot when its id carries a tag (every id this layout makes does). */
  credential(id: string): string;
  /** (providerType, providerId, subject) -> credential id; SET NX on it is what keeps one credential per subject. */
  credentialIndex(providerType: string, providerId: string | null, subject: string): string;
  /** The tag credentials made for this index entry carry in their ids. */
  credentialTag(providerType: string, providerId: string | null, subject: string): string;
  /** The routing tag of a user's slot (its keys' hash tag is `{u:<tag>}`). */
  userTag(userId: string): string;
  /** A credential in the slot of `tag` (the tag its id carries). */
  credentialAt(tag: string, id: string): string;
  /** Hash of one refresh token, in the slot of its user's tag. */
  refreshTokenAt(userTag: string, id: string): string;
  /** Refresh token id -> its user id, for tokens whose id carries no tag (kept by the migration, and for callers' own ids). */
  refreshTokenAlias(id: string): string;
  /** tokenHash -> refresh token id: how a presented secret finds its token. Expires with the token. */
  refreshTokenIndex(tokenHash: string): string;
  /** Set of refresh token ids of a user (may hold ids of tokens Redis already expired; readers skip them). */
  userRefreshTokensAt(userTag: string, userId: string): string;
  /** Hash of a user's MFA settings, one field per module id. */
  mfaSettings(userId: string): string;
  channel(name: string): string;
  /** Sorted set of one lease set's members scored by expiry, under its own hash tag (one key per script call). */
  lease(set: string): string;
  /** One brute-force counter (`address`, `account`, `device`) of one key. */
  failures(counter: string, key: string): string;
  /** The ban marker and the failure count towards a ban of one address: in the slot of that address's counter. */
  ban(address: string): string;
  banCount(address: string): string;
  /** Hash address -> bannedAt: the ban list `flowgate ban list` shows (the markers above are what attempts check). */
  banList(): string;
  /** A deployment-wide shared secret (device token signing key...). */
  secret(name: string): string;
  /** A key that exists nowhere: what the readiness probe reads. */
  readinessProbe(): string;
  layoutVersion(): string;
  layoutLock(): string;
  /** The keys of layout 1, which the migration reads. */
  readonly legacy: LegacyKeys;
}

export function redisKeys(prefix: string): RedisKeys {
  assertKeyPrefix(prefix);
  const addressSlot = (address: string): string => `{d:${routingTag(`address:${address}`)}}`;
  const credentialIndexName = (providerType: string, providerId: string | null, subject: string): string =>
    // JSON keeps a null provider id apart from an empty one, and colons inside a subject from the separators.
    JSON.stringify([providerType, providerId, subject]);
  return {
    // A single id inside the tag: all keys of one flow (today just one) stay together, while flows spread over the cluster.
    flow: (id) => buildKey(prefix, 'flow', `{${id}}`),
    code: (code) => buildKey(prefix, 'code', `{${code}}`),
    owner: () => buildKey(prefix, '{owner}', 'owner'),
    user: (id) => buildKey(prefix, userSlot(id), 'user', id),
    userIndex: () => buildKey(prefix, '{users}', 'users'),
    userCredentials: (userId) => buildKey(prefix, userSlot(userId), 'user-credentials', userId),
    credential: (id) => buildKey(prefix, `{c:${tagOfId(id) ?? routingTag(id)}}`, 'credential', id),
    credentialIndex: (providerType, providerId, subject) => {
      const name = credentialIndexName(providerType, providerId, subject);
      return buildKey(prefix, `{c:${routingTag(name)}}`, 'credential-index', name);
    },
    credentialTag: (providerType, providerId, subject) => routingTag(credentialIndexName(providerType, providerId, subject)),
    userTag: (userId) => routingTag(userId),
    credentialAt: (tag, id) => buildKey(prefix, `{c:${tag}}`, 'credential', id),
    refreshTokenAt: (tag, id) => buildKey(prefix, `{u:${tag}}`, 'refresh-token', id),
    refreshTokenAlias: (id) => buildKey(prefix, `{a:${routingTag(id)}}`, 'refresh-token-alias', id),
    refreshTokenIndex: (tokenHash) => buildKey(prefix, `{h:${routingTag(tokenHash)}}`, 'refresh-token-index', tokenHash),
    userRefreshTokensAt: (tag, userId) => buildKey(prefix, `{u:${tag}}`, 'user-refresh-tokens', userId),
    mfaSettings: (userId) => buildKey(prefix, userSlot(userId), 'mfa', userId),
    channel: (name) => buildKey(prefix, 'events', name),
    lease: (set) => buildKey(prefix, 'lease', `{${set}}`),
    failures: (counter, key) =>
      buildKey(prefix, counter === 'address' ? addressSlot(key) : `{d:${routingTag(`${counter}:${key}`)}}`, 'failures', counter, key),
    ban: (address) => buildKey(prefix, addressSlot(address), 'ban', address),
    banCount: (address) => buildKey(prefix, addressSlot(address), 'ban-count', address),
    banList: () => buildKey(prefix, '{bans}', 'bans'),
    secret: (name) => buildKey(prefix, '{secrets}', 'secret', name),
    readinessProbe: () => buildKey(prefix, '{readiness}', 'probe'),
    layoutVersion: () => buildKey(prefix, '{layout}', 'version'),
    layoutLock: () => buildKey(prefix, '{layout}', 'lock'),
    legacy: legacyKeys(prefix),
  };
}

/** The keys of layout 1 (earlier builds of Flowgate), which `flowgate store migrate` reads: everything under two hash tags. */
export function legacyKeys(prefix: string) {
  assertKeyPrefix(prefix);
  const directoryBase = buildKey(prefix, '{directory}');
  const loginDefenseBase = buildKey(prefix, '{login-defense}');
  const directory = (...segments: string[]): string => [directoryBase, ...segments].join(':');
  return {
    directoryBase,
    loginDefenseBase,
    /** SCAN MATCH patterns of every key of each tag (the prefix holds no glob characters: PREFIX_PATTERN). */
    directoryPattern: `${directoryBase.replace(/[{}]/g, '\\$&')}:*`,
    loginDefensePattern: `${loginDefenseBase.replace(/[{}]/g, '\\$&')}:*`,
    owner: directory('owner'),
    user: (id: string) => directory('user', id),
    userIndex: directory('users'),
    userCredentials: (userId: string) => directory('user-credentials', userId),
    credential: (id: string) => directory('credential', id),
    credentialIndex: (providerType: string, providerId: string | null, subject: string) =>
      directory('credential-index', JSON.stringify([providerType, providerId, subject])),
    refreshToken: (id: string) => directory('refresh-token', id),
    refreshTokenIndex: (tokenHash: string) => directory('refresh-token-index', tokenHash),
    userRefreshTokens: (userId: string) => directory('user-refresh-tokens', userId),
    mfaSettings: (userId: string) => directory('mfa', userId),
    loginDefense: (...segments: string[]) => [loginDefenseBase, ...segments].join(':'),
  };
}

export type LegacyKeys = ReturnType<typeof legacyKeys>;
