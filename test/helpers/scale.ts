/** Shared pieces of the scale-out tests: the config they run, a private Redis per suite, and login steps over raw sockets. */
import { startInstances, type Instances } from './instances.js';
import { startRedisServer, type RunningRedis } from './redis-server.js';
import { TEST_CLIENT_ID } from './login.js';
import type { RawClient } from './raw-client.js';
import { EXAMPLE_CONFIG } from './server-process.js';

/** insecure_example for fast, deterministic flows; password (OWASP argon2 defaults) for slow, CPU-bound steps and the CLI. */
export const SCALE_CONFIG = {
  auth_providers: [...EXAMPLE_CONFIG.auth_providers, { type: 'password' }],
  // These tests drive many flows per socket as load generators do; the per-socket start limit is tested in framing.test.ts.
  // Load generators hold a hundred sockets from one address: the per-address socket cap is tested in connection-limits.test.ts.
  websocket: { max_flow_starts_per_minute: 0, max_unauthenticated_sockets_per_address: 0 },
  // Load generators fail logins by the thousand from one address on purpose (races of wrong passwords); the limits that would
  // stop them are tested as limits, in login-limits.test.ts.
  login_limits: { address_failures: 0, account_failures: 0, open_flows_per_address: 0 },
};

export const EXAMPLE_HANDLER = ['insecure_example', null];
export const PASSWORD_HANDLER = ['password', null];
export const RIGHT = { username: 'alice', password: 'wonderland' };
export const WRONG = { username: 'alice', password: 'nope' };

/** A Redis of the suite's own, so the default key prefix the servers use is not shared with other suites. */
export function usePrivateRedis(): () => RunningRedis {
  let redis: RunningRedis | undefined;
  before(async function () {
    redis = await startRedisServer();
  });
  after(async function () {
    await redis?.stop();
  });
  return () => {
    if (redis === undefined) throw new Error('the suite Redis is not started');
    return redis;
  };
}

/** A suite's own Redis and `count` instances on it with SCALE_CONFIG, started before its tests and stopped after them. */
export function useScaledOut(count: number): { redis: () => RunningRedis; instances: () => Instances } {
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  before(async function () {
    instances = await startInstances(count, redis().url, { config: SCALE_CONFIG });
  });
  after(async function () {
    await instances?.stop();
  });
  return {
    redis,
    instances: () => {
      if (instances === undefined) throw new Error('the suite instances are not started');
      return instances;
    },
  };
}

export const init = (client: RawClient, handler = EXAMPLE_HANDLER) =>
  client.result({ type: 'login_flow/init', handler, client_id: TEST_CLIENT_ID });

export const step = (client: RawClient, flowId: unknown, userInput: Record<string, unknown>) =>
  client.command({ type: 'login_flow/step', flow_id: flowId, client_id: TEST_CLIENT_ID, user_input: userInput });

export const get = (client: RawClient, flowId: unknown) =>
  client.command({ type: 'login_flow/get', flow_id: flowId, client_id: TEST_CLIENT_ID });

export const redeem = (client: RawClient, code: unknown) =>
  client.command({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID });

/** Finishes an insecure_example login on `client` and returns the tokens. */
export async function tokensOn(client: RawClient): Promise<Record<string, unknown>> {
  const form = await init(client);
  const done = await client.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: RIGHT });
  return client.result({ type: 'auth/token', grant_type: 'authorization_code', code: done['result'], client_id: TEST_CLIENT_ID });
}
