/** Server secrets (`secret_key`) for tests: a fresh one for in-process managers, and one per deployment for server processes. */
import { createHash, randomBytes } from 'node:crypto';
import { ServerSecret } from '../../server/src/secrets/server-secret.js';

/** A random server secret, for an AuthManager, TokenService or MFA module built in the test's own process. */
export const testServerSecret = (): ServerSecret => ServerSecret.fromKey(randomBytes(32));

/** A fresh `secret_key` value as an operator writes it (`openssl rand -base64 32`). */
export const newSecretKey = (): string => randomBytes(32).toString('base64');

/**
 * The `secret_key` of the deployment on `storeUrl`: the same for every instance a test starts on one Redis (as the instances
 * of one deployment share theirs), another for each store, so suites never accept each other's tokens.
 */
export const deploymentSecretKey = (storeUrl: string): string =>
  createHash('sha256').update(`flowgate test deployment ${storeUrl}`).digest('base64');
