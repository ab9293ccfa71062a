/** Real stores for tests: where the test Redis is (started by the global fixture), and fresh stores on both backends. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { randomId } from '../../server/src/crypto.js';
import { openStore } from '../../server/src/store/open.js';
import type { Store } from '../../server/src/store/types.js';

export function redisTestUrl(): string {
  const url = process.env['FLOWGATE_TEST_REDIS_URL'];
  if (url === undefined) throw new Error('FLOWGATE_TEST_REDIS_URL is not set: run the tests with npm test (it starts redis-server)');
  return url;
}

export const silentLogger = pino({ level: 'silent' });

export type Backend = 'sqlite' | 'redis';
export const BACKENDS: readonly Backend[] = ['sqlite', 'redis'];

/** A store of its own: a fresh SQLite file, or a fresh key prefix on the test Redis. */
export async function freshStore(backend: Backend): Promise<Store> {
  if (backend === 'redis') {
    return openStore(redisTestUrl(), { dataDir: tmpdir(), logger: silentLogger, keyPrefix: `test-${randomId(6)}` });
  }
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-store-'));
  return openStore(`sqlite:${join(dir, 'flowgate.db')}`, { dataDir: dir, logger: silentLogger });
}

/** The store a `flowgate serve` test process uses (its embedded file, or the test Redis with the default prefix). */
export async function openServerStore(backend: 'embedded' | 'redis', serverDir: string): Promise<Store> {
  return backend === 'redis'
    ? openStore(redisTestUrl(), { dataDir: tmpdir(), logger: silentLogger })
    : openStore(undefined, { dataDir: join(serverDir, 'flowgate-data'), logger: silentLogger });
}
