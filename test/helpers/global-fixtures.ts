/** Mocha global fixtures: the real services installed up front, and one redis-server for the whole run (FLOWGATE_TEST_REDIS_URL). */
import { ensureChromiumInstalled } from './browser.js';
import { ensureHaproxyInstalled } from './haproxy.js';
import { ensureRedisInstalled, startRedisServer, type RunningRedis } from './redis-server.js';

let redis: RunningRedis | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  // Installed even when a URL is given: some tests start (and stop) redis-servers of their own.
  // Installed here, outside any timed hook: a first apt-get install of chromium takes about a minute.
  ensureRedisInstalled();
  ensureHaproxyInstalled();
  ensureChromiumInstalled();
  if ((process.env['FLOWGATE_TEST_REDIS_URL'] ?? '') !== '') return;
  redis = await startRedisServer();
  process.env['FLOWGATE_TEST_REDIS_URL'] = redis.url;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await redis?.stop();
  redis = undefined;
}
