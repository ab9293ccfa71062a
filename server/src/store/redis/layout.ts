/**
 * The key layout a Redis store is in (the layout version key), and bringing it to this code's layout once, under a lock, so
 * that several instances starting together on an old store migrate it exactly once and serve nothing before it is done.
 */
import { randomId } from '../../crypto.js';
import type { StoreLogger } from '../types.js';
import { redisCall, type FlowgateRedis } from './client.js';
import { KEY_LAYOUT_VERSION, type RedisKeys } from './keys.js';
import { describeMigration, migrateLayout, type MigrationReport } from './migrate.js';

/**
 * How long the migration lock lasts unless renewed: an instance that dies migrating holds back the others this long at most.
 * It is renewed every third of that while the migration runs, however large the store.
 */
const LOCK_MS = 30_000;
/** How often an instance waiting for another's migration looks at the layout version again. */
const WAIT_POLL_MS = 100;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function layoutVersion(client: FlowgateRedis, keys: RedisKeys): Promise<number> {
  const stored = await redisCall(() => client.get(keys.layoutVersion()), client);
  return stored === null ? 1 : Number(stored);
}

/**
 * Runs the migration holding the lock (waiting while another process holds it), then records the layout version. Returns
 * what it moved, or null when another process migrated meanwhile (`onlyWhenOld`: when the version is already current).
 */
export async function migrateUnderLock(client: FlowgateRedis, keys: RedisKeys, onlyWhenOld: boolean): Promise<MigrationReport | null> {
  const call = <T>(run: () => Promise<T>): Promise<T> => redisCall(run, client);
  const me = randomId();
  for (;;) {
    if (onlyWhenOld && (await layoutVersion(client, keys)) >= KEY_LAYOUT_VERSION) return null;
    if ((await call(() => client.set(keys.layoutLock(), me, { NX: true, PX: LOCK_MS }))) !== null) break;
    await sleep(WAIT_POLL_MS);
    onlyWhenOld = true;
  }
  const renew = setInterval(() => {
    void call(() => client.pExpire(keys.layoutLock(), LOCK_MS)).catch(() => undefined);
  }, LOCK_MS / 3);
  try {
    const report = await migrateLayout(client, keys);
    await call(() => client.set(keys.layoutVersion(), String(KEY_LAYOUT_VERSION)));
    return report;
  } finally {
    clearInterval(renew);
    await call(() => client.compareAndSet([keys.layoutLock()], [me, ''])).catch(() => undefined);
  }
}

/**
 * Resolves once the store is in this code's layout, migrating it first when it is older. A store in a newer layout (written
 * by a later Flowgate) is refused rather than misread.
 */
export async function ensureLayout(client: FlowgateRedis, keys: RedisKeys, logger: StoreLogger): Promise<void> {
  const version = await layoutVersion(client, keys);
  if (version === KEY_LAYOUT_VERSION) return;
  if (version > KEY_LAYOUT_VERSION) {
    throw new Error(`The Redis store is in key layout ${version}, written by a newer Flowgate than this one (layout ${KEY_LAYOUT_VERSION}): upgrade this instance`);
  }
  const report = await migrateUnderLock(client, keys, true);
  if (report === null) return;
  // A warning when sessions were revoked: their users are signed out, which an operator should hear about.
  const log = report.revokedRefreshTokens > 0 ? logger.warn.bind(logger) : logger.info.bind(logger);
  log({ report, layout: KEY_LAYOUT_VERSION }, `store migrated to key layout ${KEY_LAYOUT_VERSION}: ${describeMigration(report)}`);
  // Each login lost to the username fold on a line of its own: the operator may have to tell that user.
  for (const dropped of report.droppedCredentials) logger.warn({ layout: KEY_LAYOUT_VERSION }, `store migrated: ${dropped}`);
}
