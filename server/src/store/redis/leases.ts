/** Lease sets on Redis: one sorted set per set name, scored by expiry, changed by the acquireLease script (scripts.ts). */
import { redisCall, type FlowgateRedis } from './client.js';
import { decodeInteger } from './codec.js';
import type { RedisKeys } from './keys.js';

export async function acquireRedisLease(
  client: FlowgateRedis,
  keys: RedisKeys,
  set: string,
  member: string,
  limit: number,
  expiresAt: number,
): Promise<boolean> {
  if (limit <= 0) return false;
  const args = [member, String(limit), String(expiresAt), String(Date.now())];
  return decodeInteger(await redisCall(() => client.acquireLease([keys.lease(set)], args), client)) === 1;
}

export async function releaseRedisLease(client: FlowgateRedis, keys: RedisKeys, set: string, member: string): Promise<void> {
  await redisCall(() => client.zRem(keys.lease(set), member), client);
}

export async function nextRedisLeaseExpiry(client: FlowgateRedis, keys: RedisKeys, set: string): Promise<number | null> {
  // Members past their expiry stay until the next acquire drops them: only those still live count.
  const [first] = await redisCall(
    () => client.zRangeByScoreWithScores(keys.lease(set), `(${Date.now()}`, '+inf', { LIMIT: { offset: 0, count: 1 } }),
    client,
  );
  return first === undefined ? null : Number(first.score);
}
