/** Decoders from raw Redis replies to store records: the one place that trusts nothing Redis hands back. */
import type { CasOutcome, Credential, JsonObject, RefreshToken, StoredFlow, User } from '../types.js';
import { readFlow } from '../stored-flow.js';
import { parseGroupIds, userRecord } from '../user-record.js';

/** Thrown when Redis holds something Flowgate did not write (another program using the prefix, or a manual edit). */
class CorruptRecordError extends Error {
  override readonly name = 'CorruptRecordError';
}

export function flag(value: boolean): string {
  return value ? '1' : '0';
}

export function decodeInteger(reply: unknown): number {
  const value = typeof reply === 'string' ? Number(reply) : reply;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new CorruptRecordError(`Expected an integer from Redis, got ${JSON.stringify(reply)}`);
  }
  return value;
}

export function decodeCasOutcome(reply: unknown): CasOutcome {
  if (reply === 'ok' || reply === 'conflict' || reply === 'not_found') return reply;
  throw new CorruptRecordError(`Unexpected compare-and-set reply ${JSON.stringify(reply)}`);
}

export function decodeJsonObject(reply: unknown): JsonObject {
  if (typeof reply !== 'string') throw new CorruptRecordError('Expected a JSON string from Redis');
  const value: unknown = JSON.parse(reply);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CorruptRecordError('Expected a JSON object from Redis');
  }
  return value as JsonObject;
}

/** HGETALL answers a map (an object) to a RESP3 command, but a flat [field, value, ...] array when it comes out of a Lua script. */
export function toHash(reply: unknown): Record<string, string> {
  const hash: Record<string, string> = {};
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) hash[String(reply[i])] = String(reply[i + 1]);
  } else if (typeof reply === 'object' && reply !== null) {
    for (const [field, value] of Object.entries(reply)) hash[field] = String(value);
  }
  return hash;
}

function field(hash: Record<string, string>, name: string): string {
  const value = hash[name];
  if (value === undefined) throw new CorruptRecordError(`Redis hash lacks the field ${name}`);
  return value;
}

export function decodeFlow(
  id: string,
  version: string | null | undefined,
  data: string | null | undefined,
  expiresAt: string | null | undefined,
): StoredFlow | null {
  // A missing version is the normal "unknown or expired" case; Redis drops the whole hash at PEXPIREAT.
  if (version === null || version === undefined) return null;
  if (typeof data !== 'string') throw new CorruptRecordError(`Redis holds flow ${id} without its data`);
  return readFlow(id, decodeInteger(version), data, decodeInteger(expiresAt), decodeJsonObject);
}

/** An empty hash is how HGETALL says "no such key". */
export function decodeUser(hash: Record<string, string>): User | null {
  if (Object.keys(hash).length === 0) return null;
  // `groups` and `local` came with groups; a user written before has an `admin` flag instead (userRecord maps it).
  const groups = hash['groups'];
  return userRecord({
    id: field(hash, 'id'),
    name: field(hash, 'name'),
    isOwner: field(hash, 'owner') === '1',
    isActive: field(hash, 'active') === '1',
    groupIds: groups === undefined ? null : parseGroupIds(groups),
    legacyAdmin: hash['admin'] === '1',
    localOnly: hash['local'] === '1',
    createdAt: decodeInteger(field(hash, 'created')),
  });
}

export function decodeCredential(hash: Record<string, string>): Credential | null {
  if (Object.keys(hash).length === 0) return null;
  const providerId: unknown = JSON.parse(field(hash, 'pid'));
  if (providerId !== null && typeof providerId !== 'string') throw new CorruptRecordError('Bad credential provider id');
  const userId = field(hash, 'user');
  return {
    id: field(hash, 'id'),
    providerType: field(hash, 'type'),
    providerId,
    subject: field(hash, 'subject'),
    data: decodeJsonObject(field(hash, 'data')),
    // The script stores '' for "not bound yet" because a hash field cannot hold nil.
    userId: userId === '' ? null : userId,
    createdAt: decodeInteger(field(hash, 'created')),
  };
}

/** Nullable numbers are kept as '' for null (a hash field cannot hold nil); nullable strings as JSON, so "null" stays a string. */
export function encodeOptionalInteger(value: number | null): string {
  return value === null ? '' : String(value);
}

function decodeOptionalInteger(value: string): number | null {
  return value === '' ? null : decodeInteger(value);
}

function decodeOptionalString(value: string, name: string): string | null {
  const decoded: unknown = JSON.parse(value);
  if (decoded !== null && typeof decoded !== 'string') throw new CorruptRecordError(`Bad refresh token ${name}`);
  return decoded;
}

/**
 * The hash fields of a refresh token other than those the create script writes itself (id, type, cname, exp, idx), as the
 * field, value pairs it appends.
 */
export function encodeRefreshTokenFields(token: RefreshToken): string[] {
  return [
    'user', token.userId,
    'cid', JSON.stringify(token.clientId),
    'hash', token.tokenHash,
    'salt', token.keySalt,
    'ttl', String(token.accessTokenTtlMs),
    'cred', JSON.stringify(token.credentialId),
    'created', String(token.createdAt),
    'login', encodeOptionalInteger(token.loggedInAt),
    'used', encodeOptionalInteger(token.lastUsedAt),
    'uip', JSON.stringify(token.lastUsedIp),
  ];
}

/**
 * Null for an empty hash, for a token whose expireAt has passed (Redis drops it at PEXPIREAT; this covers clock skew), and for a
 * token stored with its signing key in clear (`jwt`, before keys were derived from secret_key): revoked, as the key-layout
 * migration removes them (migrate-token-keys.ts), in case an instance of the previous version wrote one since.
 */
export function decodeRefreshToken(hash: Record<string, string>, now: number): RefreshToken | null {
  if (Object.keys(hash).length === 0 || hash['salt'] === undefined) return null;
  const type = field(hash, 'type');
  if (type !== 'normal' && type !== 'long_lived_access_token') throw new CorruptRecordError(`Bad refresh token type ${type}`);
  const expireAt = decodeOptionalInteger(field(hash, 'exp'));
  if (expireAt !== null && expireAt <= now) return null;
  return {
    id: field(hash, 'id'),
    userId: field(hash, 'user'),
    clientId: decodeOptionalString(field(hash, 'cid'), 'client id'),
    clientName: decodeOptionalString(field(hash, 'cname'), 'client name'),
    type,
    tokenHash: field(hash, 'hash'),
    keySalt: field(hash, 'salt'),
    accessTokenTtlMs: decodeInteger(field(hash, 'ttl')),
    credentialId: decodeOptionalString(field(hash, 'cred'), 'credential id'),
    createdAt: decodeInteger(field(hash, 'created')),
    // Absent from tokens stored before Flowgate kept the login time: unknown, so never recent.
    loggedInAt: decodeOptionalInteger(hash['login'] ?? ''),
    lastUsedAt: decodeOptionalInteger(field(hash, 'used')),
    lastUsedIp: decodeOptionalString(field(hash, 'uip'), 'last used ip'),
    expireAt,
  };
}
