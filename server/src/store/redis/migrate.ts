/**
 * Moves a store written with key layout 1 (everything under `{directory}` and `{login-defense}`) to the current layout
 * (keys.ts), keeping every user, credential, refresh token (ids, secrets, expiries), MFA setting, ban and shared secret; then
 * revokes the refresh tokens that hold their signing key in clear (layouts 1 and 2: migrate-token-keys.ts), and folds the
 * command_line usernames (migrate-subjects.ts).
 * Idempotent: each old record is rewritten from its own keys, never over a newer one, and removed once copied.
 */
import { createHash } from 'node:crypto';
import { tagOfId } from '../ids.js';
import { redisCall, type FlowgateRedis } from './client.js';
import type { RedisKeys } from './keys.js';
import { revokeClearKeyTokens } from './migrate-token-keys.js';
import { foldCredentialSubjects } from './migrate-subjects.js';

/** Keys asked for per SCAN call: big enough to list a large directory in few round trips, small enough not to stall Redis. */
const SCAN_COUNT = 1_000;
/** Keys deleted per DEL: every old key is in one slot, so one DEL may name many. */
const DELETE_BATCH = 500;

/** What one migration moved (all zero when there was nothing of the old layout left). */
export interface MigrationReport {
  users: number;
  credentials: number;
  refreshTokens: number;
  mfaSettings: number;
  loginDefense: number;
  /** Refresh tokens revoked because their signing key was stored in clear (before keys were derived from secret_key). */
  revokedRefreshTokens: number;
  /** Old keys removed: the above, their indexes and sets, and what was expired or dangling. */
  removedKeys: number;
  /** command_line credentials moved to their folded username (migrate-subjects.ts). */
  foldedCredentials: number;
  /** One line per command_line credential removed because its username folds like an older one's: each is logged. */
  droppedCredentials: string[];
}

export const describeMigration = (report: MigrationReport): string =>
  `moved ${report.users} users, ${report.credentials} credentials, ${report.refreshTokens} refresh tokens, ` +
  `${report.mfaSettings} users' MFA settings and ${report.loginDefense} login defense records; removed ${report.removedKeys} old keys; ` +
  `revoked ${report.revokedRefreshTokens} refresh tokens stored with their signing key in clear (their users log in again); ` +
  `folded ${report.foldedCredentials} command_line usernames` +
  (report.droppedCredentials.length === 0 ? '' : `; ${report.droppedCredentials.join('; ')}`);

interface ScanClient {
  scanIterator(options: { MATCH: string; COUNT: number }): AsyncIterable<string[]>;
}

/** Every key matching `pattern`; all of them share `sampleKey`'s slot, so in a cluster only the master holding it is scanned. */
async function scan(client: FlowgateRedis, pattern: string, sampleKey: string): Promise<string[]> {
  const node = ('getNodeClientForKey' in client ? await client.getNodeClientForKey(sampleKey) : client) as unknown as ScanClient;
  const keys = new Set<string>();
  for await (const batch of node.scanIterator({ MATCH: pattern, COUNT: SCAN_COUNT })) for (const key of batch) keys.add(key);
  return [...keys];
}

/** The part of an old key after `<base>:<kind>:`, or null when it is of another kind. */
function rest(key: string, base: string, kind: string): string | null {
  const start = `${base}:${kind}:`;
  return key.startsWith(start) ? key.slice(start.length) : null;
}

/** A credential's new id: its index entry's tag and its old id (hashed when it is not hex), the same on every run. */
function newCredentialId(tag: string, oldId: string): string {
  return `${tag}.${/^[0-9a-f]{1,64}$/.test(oldId) ? oldId : createHash('sha256').update(oldId).digest('hex').slice(0, 32)}`;
}

export async function migrateLayout(client: FlowgateRedis, keys: RedisKeys): Promise<MigrationReport> {
  const call = <T>(run: () => Promise<T>): Promise<T> => redisCall(run, client);
  const old = keys.legacy;
  const report: MigrationReport = {
    users: 0, credentials: 0, refreshTokens: 0, mfaSettings: 0, loginDefense: 0, revokedRefreshTokens: 0, removedKeys: 0,
    foldedCredentials: 0, droppedCredentials: [],
  };
  const directory = await call(() => scan(client, old.directoryPattern, old.owner));
  const defense = await call(() => scan(client, old.loginDefensePattern, old.loginDefense('bans')));
  const of = (kind: string): Array<[string, string]> =>
    directory.flatMap((key) => {
      const id = rest(key, old.directoryBase, kind);
      return id === null ? [] : [[key, id] as [string, string]];
    });
  /** HSET of `fields` unless the new key already exists (written by this layout since: it is newer). */
  const copyHash = async (key: string, fields: Record<string, string>): Promise<boolean> => {
    if ((await call(() => client.exists(key))) === 1 || Object.keys(fields).length === 0) return false;
    await call(() => client.hSet(key, fields));
    return true;
  };

  // Credentials first: refresh tokens name them, and their ids change (to carry their index entry's tag).
  const credentialIds = new Map<string, string>();
  for (const [key, oldId] of of('credential')) {
    const hash = await call(() => client.hGetAll(key));
    if (hash['type'] === undefined || hash['subject'] === undefined || hash['pid'] === undefined) continue;
    const providerId = JSON.parse(hash['pid']) as string | null;
    const tag = keys.credentialTag(hash['type'], providerId, hash['subject']);
    const id = newCredentialId(tag, oldId);
    credentialIds.set(oldId, id);
    const index = keys.credentialIndex(hash['type'], providerId, hash['subject']);
    if (await copyHash(keys.credentialAt(tag, id), { ...hash, id, idx: index })) report.credentials += 1;
    await call(() => client.set(index, id, { NX: true }));
    const userId = hash['user'];
    if (userId !== undefined && userId !== '') await call(() => client.sAdd(keys.userCredentials(userId), id));
  }

  for (const [key, id] of of('user')) {
    if (await copyHash(keys.user(id), await call(() => client.hGetAll(key)))) report.users += 1;
  }
  const listed = await call(() => client.zRangeWithScores(old.userIndex, 0, -1));
  if (listed.length > 0) await call(() => client.zAdd(keys.userIndex(), listed, { NX: true }));
  const owner = await call(() => client.get(old.owner));
  if (owner !== null) await call(() => client.set(keys.owner(), owner, { NX: true }));

  const now = Date.now();
  for (const [key, id] of of('refresh-token')) {
    const hash = await call(() => client.hGetAll(key));
    const userId = hash['user'];
    const exp = hash['exp'];
    if (userId === undefined || hash['hash'] === undefined || exp === undefined || (exp !== '' && Number(exp) <= now)) continue;
    const tag = keys.userTag(userId);
    const index = keys.refreshTokenIndex(hash['hash']);
    const credential = hash['cred'] === undefined ? null : (JSON.parse(hash['cred']) as string | null);
    const cred = JSON.stringify(credential === null ? null : (credentialIds.get(credential) ?? credential));
    const tokenKey = keys.refreshTokenAt(tag, id);
    if (await copyHash(tokenKey, { ...hash, idx: index, cred })) {
      report.refreshTokens += 1;
      if (exp !== '') await call(() => client.pExpireAt(tokenKey, Number(exp)));
    }
    await call(() => client.sAdd(keys.userRefreshTokensAt(tag, userId), id));
    await call(() => client.set(index, id, { NX: true, ...(exp === '' ? {} : { PXAT: Number(exp) }) }));
    // Ids of layout 1 carry no tag: `auth` (which knows only the id) finds the token's user through this alias.
    if (tagOfId(id) !== tag) await call(() => client.set(keys.refreshTokenAlias(id), userId));
  }

  for (const [key, userId] of of('mfa')) {
    if (await copyHash(keys.mfaSettings(userId), await call(() => client.hGetAll(key)))) report.mfaSettings += 1;
  }

  report.loginDefense = await migrateLoginDefense(client, keys, defense);

  // Credentials go last, so a run cut short still finds them to map the ids of the tokens it has not moved yet.
  const isCredential = (key: string): boolean => rest(key, old.directoryBase, 'credential') !== null;
  const ordered = [...directory.filter((key) => !isCredential(key)), ...directory.filter(isCredential), ...defense];
  for (let i = 0; i < ordered.length; i += DELETE_BATCH) {
    const batch = ordered.slice(i, i + DELETE_BATCH);
    // Per slot: the directory's and login defense's keys are in two slots, which one DEL may not mix in a cluster.
    for (const group of [batch.filter((key) => key.startsWith(old.directoryBase)), batch.filter((key) => !key.startsWith(old.directoryBase))]) {
      if (group.length > 0) report.removedKeys += await call(() => client.del(group));
    }
  }
  report.revokedRefreshTokens = await revokeClearKeyTokens(client, keys);
  const fold = await foldCredentialSubjects(client, keys);
  report.foldedCredentials = fold.folded;
  report.droppedCredentials = [...fold.dropped];
  return report;
}

/** Bans, failure counters (with their remaining window), ban counts and shared secrets, each to its new key. */
async function migrateLoginDefense(client: FlowgateRedis, keys: RedisKeys, found: readonly string[]): Promise<number> {
  const call = <T>(run: () => Promise<T>): Promise<T> => redisCall(run, client);
  const base = keys.legacy.loginDefenseBase;
  let moved = 0;
  for (const key of found) {
    if (key === `${base}:bans`) {
      for (const [address, at] of Object.entries(await call(() => client.hGetAll(key)))) {
        await call(() => client.set(keys.ban(address), at, { NX: true }));
        await call(() => client.hSetNX(keys.banList(), address, at));
        moved += 1;
      }
      continue;
    }
    const value = await call(() => client.get(key));
    if (value === null) continue;
    const failures = rest(key, base, 'failures');
    const banCount = rest(key, base, 'ban-count');
    const secret = rest(key, base, 'secret');
    if (failures !== null) {
      const separator = failures.indexOf(':');
      const ttl = await call(() => client.pTTL(key));
      if (separator < 0 || ttl <= 0) continue;
      await call(() => client.set(keys.failures(failures.slice(0, separator), failures.slice(separator + 1)), value, { NX: true, PX: ttl }));
    } else if (banCount !== null) {
      await call(() => client.set(keys.banCount(banCount), value, { NX: true }));
    } else if (secret !== null) {
      await call(() => client.set(keys.secret(secret), value, { NX: true }));
    } else {
      continue;
    }
    moved += 1;
  }
  return moved;
}
