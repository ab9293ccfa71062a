/** Mocha global fixtures: one real redis-server for the whole run, its URL in FLOWGATE_TEST_REDIS_URL. */
import { ensureRedisInstalled, startRedisServer, type RunningRedis } from './redis-server.js';

let redis: RunningRedis | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  // Installed even when a URL is given: some tests start (and stop) redis-servers of their own.
  ensureRedisInstalled();
  if ((process.env['FLOWGATE_TEST_REDIS_URL'] ?? '') !== '') return;
  redis = await startRedisServer();
  process.env['FLOWGATE_TEST_REDIS_URL'] = redis.url;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await redis?.stop();
  redis = undefined;
}
