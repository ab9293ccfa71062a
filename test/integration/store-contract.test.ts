/** Runs the Store contract on Redis and SQLite, plus what only one backend can show: outages, reconnects, shared files. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomId } from '../../server/src/crypto.js';
import { openStore } from '../../server/src/store/open.js';
import { StoreUnavailableError, type Store, type StoreLogger } from '../../server/src/store/types.js';
import { findFreePort, startRedisServer, type RunningRedis } from '../helpers/redis-server.js';
import { describeStoreContract, firstMessage, rejectionOf, sleep } from '../helpers/store-contract.js';
import { describeLoginDefenseContract } from '../helpers/store-contract-defense.js';
import { describeLeaseContract } from '../helpers/store-contract-leases.js';
import { describeMfaContract } from '../helpers/store-contract-mfa.js';

const SQLITE_PEER = fileURLToPath(new URL('../helpers/sqlite-peer.ts', import.meta.url));

interface LogLine {
  level: 'info' | 'warn';
  obj: object;
  msg: string;
}

function recordingLogger(): StoreLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
  };
}

function redisTestUrl(): string {
  const url = process.env['FLOWGATE_TEST_REDIS_URL'];
  if (url === undefined || url === '') throw new Error('FLOWGATE_TEST_REDIS_URL is not set: the mocha global fixture starts redis');
  return url;
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-store-test-'));
  tempDirs.push(dir);
  return dir;
}
after(function () {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const openRedis = (url: string, logger: StoreLogger = recordingLogger()): Promise<Store> =>
  openStore(url, { dataDir: tempDir(), logger, keyPrefix: `test-${randomId(6)}` });
/** `file` is absolute, so this is the `sqlite:///abs/path` form. */
const openSqlite = (file: string): Promise<Store> =>
  openStore(`sqlite://${file}`, { dataDir: tempDir(), logger: recordingLogger() });

/** Polls `probe` until it answers true; the outage tests wait on real reconnect timers. */
async function eventually(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await probe()) return Date.now() - started;
    await sleep(50);
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

const isUnavailable = async (store: Store): Promise<boolean> =>
  (await rejectionOf(store.getFlow('probe')).catch(() => undefined)) instanceof StoreUnavailableError;

describeStoreContract('redis', () => openRedis(redisTestUrl()));
describeStoreContract('sqlite', () => openSqlite(join(tempDir(), 'flowgate.db')));
/** `count` stores on the same data, as that many server instances would have. */
const openRedisGroup = (count: number): Promise<Store[]> => {
  const keyPrefix = `test-${randomId(6)}`;
  return Promise.all(Array.from({ length: count }, () => openStore(redisTestUrl(), { dataDir: tempDir(), logger: recordingLogger(), keyPrefix })));
};
const openSqliteGroup = (count: number): Promise<Store[]> => {
  const file = join(tempDir(), 'flowgate.db');
  return Promise.all(Array.from({ length: count }, () => openSqlite(file)));
};
describeLeaseContract('redis', openRedisGroup);
describeLeaseContract('sqlite', openSqliteGroup);
describeLoginDefenseContract('redis', openRedisGroup);
describeLoginDefenseContract('sqlite', openSqliteGroup);
describeMfaContract('redis', openRedisGroup);
describeMfaContract('sqlite', openSqliteGroup);

describe('RedisStore', function () {
  it('keeps stores with different key prefixes apart', async function () {
    const [a, b] = await Promise.all([openRedis(redisTestUrl()), openRedis(redisTestUrl())]);
    try {
      await a.createFlow('flow-1', { from: 'a' }, Date.now() + 60_000);
      expect(await b.getFlow('flow-1')).to.equal(null);
      const first = { id: 'u1', name: 'b', isActive: true, groupIds: ['system-users'], localOnly: false, createdAt: 1 };
      expect((await b.createUser(first, { claimOwner: true })).isOwner).to.equal(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('opens while nothing listens and answers StoreUnavailableError at once, without unhandled errors', async function () {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const logger = recordingLogger();
    const port = await findFreePort();
    const store = await openRedis(`redis://127.0.0.1:${port}`, logger);
    try {
      expect(store.isAvailable()).to.equal(false);
      const started = Date.now();
      const error = await rejectionOf(store.getFlow('flow-1'));
      expect(Date.now() - started).to.be.below(1_000);
      expect(error).to.be.instanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).code).to.equal('unavailable');
      expect(await rejectionOf(store.replaceFlow('flow-1', 1, {}, Date.now() + 1_000))).to.be.instanceOf(StoreUnavailableError);
      expect(await rejectionOf(store.publish('events', 'x'))).to.be.instanceOf(StoreUnavailableError);
      // Subscribing is kept as an intent and sent on reconnect, so a server can start during an outage.
      const unsubscribe = await store.subscribe('events', () => {});
      await unsubscribe();
      await sleep(400); // a few reconnect attempts, each of which emits 'error'
      expect(unhandled).to.deep.equal([]);
      // One warning per client for the whole outage, however many attempts failed.
      const warnings = logger.lines.filter((line) => line.level === 'warn');
      expect(warnings.length).to.be.within(1, 2);
      expect(JSON.stringify(warnings)).to.not.match(/password/i);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await store.close();
    }
  });

  it('heals by itself when Redis comes back on the same port', async function () {
    this.timeout(20_000);
    let redis: RunningRedis = await startRedisServer();
    const logger = recordingLogger();
    const store = await openRedis(redis.url, logger);
    try {
      await store.createFlow('before', { n: 1 }, Date.now() + 60_000);
      const received: string[] = [];
      await store.subscribe('revocations', (message) => received.push(message));

      await redis.stop();
      await eventually(() => isUnavailable(store), 2_000, 'StoreUnavailableError after Redis stopped');
      expect(store.isAvailable()).to.equal(false);
      const receivedLate: string[] = [];
      await store.subscribe('made-during-outage', (message) => receivedLate.push(message));

      redis = await startRedisServer({ port: redis.port });
      const healedAfterMs = await eventually(async () => !(await isUnavailable(store)), 6_000, 'recovery');
      expect(healedAfterMs).to.be.below(6_000);
      expect(store.isAvailable()).to.equal(true);
      // The new server is empty and has no scripts cached: EVALSHA must fall back to EVAL by itself.
      await store.createFlow('after', { n: 2 }, Date.now() + 60_000);
      expect(await store.replaceFlow('after', 1, { n: 3 }, Date.now() + 60_000)).to.equal('ok');
      // The subscriber reconnects on its own schedule; once it has, the old subscription must be live again.
      await eventually(
        async () => {
          await store.publish('revocations', 'after-restart');
          await sleep(50);
          return received.includes('after-restart');
        },
        6_000,
        'delivery to a subscription made before the outage',
      );
      await store.publish('made-during-outage', 'late');
      await eventually(async () => receivedLate.includes('late'), 1_000, 'delivery to a subscription made during the outage');
      expect(logger.lines.some((line) => line.level === 'info' && /ready again/.test(line.msg))).to.equal(true);
    } finally {
      await store.close();
      await redis.stop();
    }
  });
});

describe('SqliteStore', function () {
  it('creates the parent directory of a database file given relative to the working directory', async function () {
    const file = join(tempDir(), 'nested', 'deeper', 'flowgate.db');
    const store = await openStore(`sqlite:${relative(process.cwd(), file)}`, { dataDir: tempDir(), logger: recordingLogger() });
    await store.close();
    expect(store.description).to.equal(`sqlite:${file}`);
    expect(existsSync(file)).to.equal(true);
  });

  it('shares the file with another process: writes, events and counters', async function () {
    const file = join(tempDir(), 'flowgate.db');
    const store = await openSqlite(file);
    try {
      await store.createFlow('from-parent', { step: 'init' }, Date.now() + 60_000);
      const { message } = await firstMessage(store, 'revocations', 10_000);
      const peer = spawn(process.execPath, ['--import', 'tsx', SQLITE_PEER, file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      peer.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      peer.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => peer.once('exit', resolve));
      // Write while the peer does: both processes write the same table under WAL's single-writer lock.
      await eventually(async () => (await store.listUsers()).length > 0, 10_000, 'the peer starting to write');
      for (let i = 0; i < 200; i++) await store.createUser({ id: `parent-${i}`, name: 'parent', isActive: true, groupIds: ['system-users'], localOnly: false, createdAt: Date.now() });
      expect(await exited, stderr).to.equal(0);
      expect(JSON.parse(stdout)).to.deep.equal({ flowVersion: 1 });
      expect(await message).to.equal('from-peer');
      expect((await store.getUser('from-peer'))?.name).to.equal('peer');
      expect(await store.listUsers()).to.have.length(401);
    } finally {
      await store.close();
    }
  });

  describe('two stores on one file (a CLI and a server)', function () {
    let cli: Store;
    let server: Store;
    beforeEach(async function () {
      const file = join(tempDir(), 'flowgate.db');
      [cli, server] = await Promise.all([openSqlite(file), openSqlite(file)]);
    });
    afterEach(async function () {
      await Promise.all([cli.close(), server.close()]);
    });

    it("sees each other's writes", async function () {
      await cli.createUser({ id: 'u1', name: 'Alice', isActive: true, groupIds: ['system-admin'], localOnly: false, createdAt: 1 });
      expect((await server.getUser('u1'))?.name).to.equal('Alice');
      await server.createFlow('flow-1', { step: 'init' }, Date.now() + 60_000);
      expect(await cli.replaceFlow('flow-1', 1, { step: 'cli' }, Date.now() + 60_000)).to.equal('ok');
      expect(await server.replaceFlow('flow-1', 1, { step: 'server' }, Date.now() + 60_000)).to.equal('conflict');
    });

    it('elect one owner between them', async function () {
      const created = await Promise.all([
        cli.createUser({ id: 'u1', name: 'a', isActive: true, groupIds: ['system-users'], localOnly: false, createdAt: 1 }, { claimOwner: true }),
        server.createUser({ id: 'u2', name: 'b', isActive: true, groupIds: ['system-users'], localOnly: false, createdAt: 2 }, { claimOwner: true }),
      ]);
      expect(created.filter((user) => user.isOwner)).to.have.length(1);
    });

    it("receive each other's events, and their own exactly once", async function () {
      const { message: atServer } = await firstMessage(server, 'revocations');
      const atCli: string[] = [];
      await cli.subscribe('revocations', (message) => atCli.push(message));
      await cli.publish('revocations', 'from-cli');
      expect(await atServer).to.equal('from-cli');
      await server.publish('revocations', 'from-server');
      await eventually(async () => atCli.includes('from-server'), 2_000, 'delivery to the other store');
      await sleep(400); // a couple more poll ticks: nothing may arrive twice
      expect(atCli).to.deep.equal(['from-cli', 'from-server']);
    });
  });
});

describe('openStore', function () {
  it('refuses an unsupported scheme in one line, without the password', async function () {
    const error = await rejectionOf(openStore('mysql://root:hunter2@db/flowgate', { dataDir: tempDir(), logger: recordingLogger() }));
    expect((error as Error).message).to.equal(
      'Unsupported store URL "mysql://root:***@db/flowgate": use redis://, rediss://, redis+cluster://, redis+sentinel:// or sqlite:PATH',
    );
  });

  it('never puts a Redis password in the description', async function () {
    const port = await findFreePort();
    const store = await openStore(`redis://flowgate:hunter2@127.0.0.1:${port}/2`, { dataDir: tempDir(), logger: recordingLogger() });
    await store.close();
    expect(store.description).to.equal(`redis://flowgate:***@127.0.0.1:${port}/2`);
  });

  it('defaults to flowgate.db in the data directory', async function () {
    const dataDir = join(tempDir(), 'data');
    const store = await openStore(undefined, { dataDir, logger: recordingLogger() });
    await store.close();
    expect(store.description).to.equal(`sqlite:${join(dataDir, 'flowgate.db')}`);
    expect(existsSync(join(dataDir, 'flowgate.db'))).to.equal(true);
  });
});
