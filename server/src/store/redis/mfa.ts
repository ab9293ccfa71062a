/** MFA settings on Redis: one hash per user (field = module id, value = `<revision>:<JSON>`), written by the putMfaSetting script. */
import { randomId } from '../../crypto.js';
import type { MfaSetting } from '../mfa.js';
import type { JsonObject } from '../types.js';
import { redisCall, type FlowgateRedis } from './client.js';
import { decodeInteger, decodeJsonObject } from './codec.js';
import type { RedisKeys } from './keys.js';

/**
 * The revision and the data in one field, so that one HGET or HGETALL reads both as one write left them. A revision is random
 * rather than a counter: a counter would start again at 1 when settings are deposed and set up again, and a compare-and-set
 * holding the revision of the old settings would then pass against the new ones.
 */
function encode(revision: string, data: JsonObject): string {
  return `${revision}:${JSON.stringify(data)}`;
}

function decode(value: string, userId: string, moduleId: string): MfaSetting {
  const separator = value.indexOf(':');
  if (separator <= 0) throw new Error(`The MFA settings of user ${userId} for module ${moduleId} in Redis were not written by Flowgate`);
  return { revision: value.slice(0, separator), data: decodeJsonObject(value.slice(separator + 1)) };
}

/** Revisions are hex: one with a ':' was not handed out by this store and could otherwise match a prefix of the data. */
const isRevision = (revision: string): boolean => revision !== '' && !revision.includes(':');

export async function listRedisMfaSettings(client: FlowgateRedis, keys: RedisKeys, userId: string): Promise<Record<string, MfaSetting>> {
  const hash = await redisCall(() => client.hGetAll(keys.mfaSettings(userId)), client);
  const settings: Record<string, MfaSetting> = {};
  for (const [moduleId, value] of Object.entries(hash)) settings[moduleId] = decode(String(value), userId, moduleId);
  return settings;
}

export async function getRedisMfaSetting(client: FlowgateRedis, keys: RedisKeys, userId: string, moduleId: string): Promise<MfaSetting | null> {
  const value = await redisCall(() => client.hGet(keys.mfaSettings(userId), moduleId), client);
  return value === null || value === undefined ? null : decode(String(value), userId, moduleId);
}

export async function putRedisMfaSetting(
  client: FlowgateRedis,
  keys: RedisKeys,
  userId: string,
  moduleId: string,
  data: JsonObject,
  expectedRevision?: string | null,
): Promise<boolean> {
  if (typeof expectedRevision === 'string' && !isRevision(expectedRevision)) return false;
  const condition = expectedRevision === undefined ? 'any' : expectedRevision === null ? 'absent' : 'match';
  const args = [moduleId, encode(randomId(), data), condition, expectedRevision ?? ''];
  return decodeInteger(await redisCall(() => client.putMfaSetting([keys.mfaSettings(userId)], args), client)) === 1;
}

export async function deleteRedisMfaSetting(client: FlowgateRedis, keys: RedisKeys, userId: string, moduleId: string): Promise<boolean> {
  return (await redisCall(() => client.hDel(keys.mfaSettings(userId), moduleId), client)) === 1;
}
