/** Store deadlines on a real redis-server frozen with SIGSTOP: calls answer unavailable in time, listeners survive, close() ends. */
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomId } from '../../server/src/crypto.js';
import { openStore } from '../../server/src/store/open.js';
import { StoreUnavailableError, type Store } from '../../server/src/store/types.js';
import { eventually } from '../helpers/instances.js';
import { timed, usePausableRedis } from '../helpers/paused-redis.js';
import { silentLogger } from '../helpers/stores.js';

/** Short, so the tests are quick; the margins below are generous because these run on a loaded 2-core machine. */
const TIMEOUT_MS = 300;
const MARGIN_MS = 1_500;

describe('withDeadlines', function () {
  this.timeout(20_000);
  const redis = usePausableRedis();
  const opened: Store[] = [];
  let failures: string[] = [];

  async function open(options: { timeoutMs?: number; keyPrefix?: string } = {}): Promise<Store> {
    const store = await openStore(redis().url, {
      dataDir: tmpdir(),
      logger: silentLogger,
      keyPrefix: options.keyPrefix ?? `test-${randomId(6)}`,
      timeoutMs: options.timeoutMs ?? TIMEOUT_MS,
      onFailure: (method) => failures.push(method),
    });
    opened.push(store);
    return store;
  }

  beforeEach(function () {
    failures = [];
  });
  afterEach(async function () {
    redis().resume();
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  describe('a store call', function () {
    it('rejects with StoreUnavailableError within the deadline while Redis does not answer', async function () {
      const store = await open();
      redis().pause();
      const outcome = await timed(store.getFlow('f'.repeat(32)));
      expect(outcome.error).to.be.instanceOf(StoreUnavailableError);
      expect(outcome.ms).to.be.at.least(TIMEOUT_MS - 50).and.below(TIMEOUT_MS + MARGIN_MS);
    });

    it('counts every failed call, timeouts included', async function () {
      const store = await open();
      redis().pause();
      await Promise.allSettled([store.getFlow('a'), store.takeCode('b', 'c'), store.listUsers()]);
      expect([...failures].sort()).to.deep.equal(['getFlow', 'listUsers', 'takeCode']);
    });

    it('answers normally again once Redis continues', async function () {
      const store = await open();
      redis().pause();
      await timed(store.getFlow('f'));
      redis().resume();
      await eventually(async () => (await timed(store.listUsers())).error === undefined, 10_000, 'a call to succeed');
      const flow = await store.createFlow('e'.repeat(32), { step: 'after' }, Date.now() + 60_000);
      expect((await store.getFlow(flow.id))?.data).to.deep.equal({ step: 'after' });
    });

    it('adds nothing to a healthy call: results and errors of the backend come through unchanged', async function () {
      const store = await open();
      const flow = await store.createFlow('1'.repeat(32), { step: 'x' }, Date.now() + 60_000);
      expect(await store.getFlow(flow.id)).to.deep.include({ version: 1, data: { step: 'x' } });
      const duplicate = await timed(store.createFlow(flow.id, {}, Date.now() + 60_000));
      expect(duplicate.error).to.be.instanceOf(Error);
      expect(store.description).to.match(/^redis:\/\//);
      expect(failures).to.deep.equal(['createFlow']);
    });
  });

  describe('#ping', function () {
    it('resolves while Redis answers and rejects within the deadline while it does not', async function () {
      const store = await open();
      await store.ping();
      redis().pause();
      const outcome = await timed(store.ping());
      expect(outcome.error).to.be.instanceOf(StoreUnavailableError);
      expect(outcome.ms).to.be.below(TIMEOUT_MS + MARGIN_MS);
    });
  });

  describe('#subscribe', function () {
    it('delivers events to listeners through the wrapper', async function () {
      const keyPrefix = `test-${randomId(6)}`;
      const [listener, publisher] = [await open({ keyPrefix }), await open({ keyPrefix })];
      const heard: string[] = [];
      const unsubscribe = await listener.subscribe('revoked', (message) => heard.push(message));
      expect(listener.isSubscriberUp()).to.equal(true);
      await publisher.publish('revoked', 'one');
      await eventually(async () => heard.length === 1, 5_000, 'the event');
      await unsubscribe();
      await publisher.publish('revoked', 'two');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(heard).to.deep.equal(['one']);
    });

    it('resolves past the deadline while Redis is frozen, and the listener hears events once it continues', async function () {
      const keyPrefix = `test-${randomId(6)}`;
      const [listener, publisher] = [await open({ keyPrefix }), await open({ keyPrefix })];
      const heard: string[] = [];
      redis().pause();
      const subscribed = await timed(listener.subscribe('revoked', (message) => heard.push(message)));
      expect(subscribed.error).to.equal(undefined);
      expect(subscribed.ms).to.be.below(TIMEOUT_MS + MARGIN_MS);
      expect(listener.isSubscriberUp()).to.equal(false);
      redis().resume();
      await eventually(async () => listener.isSubscriberUp(), 10_000, 'the subscription to be confirmed');
      await publisher.publish('revoked', 'late');
      await eventually(async () => heard.includes('late'), 5_000, 'the event');
      await subscribed.value?.();
    });
  });

  describe('#close', function () {
    it('ends within the deadline and a margin while a call hangs on a frozen Redis', async function () {
      const store = await open();
      redis().pause();
      const hanging = timed(store.getFlow('f'));
      const closed = await timed(store.close());
      expect(closed.error).to.equal(undefined);
      expect(closed.ms).to.be.below(TIMEOUT_MS + MARGIN_MS);
      expect((await hanging).error).to.be.instanceOf(StoreUnavailableError);
    });
  });

  describe('on SQLite', function () {
    it('passes calls through and reports the subscriber up', async function () {
      const dir = mkdtempSync(join(tmpdir(), 'flowgate-deadline-'));
      const store = await openStore(`sqlite:${join(dir, 'flowgate.db')}`, { dataDir: dir, logger: silentLogger, timeoutMs: TIMEOUT_MS });
      opened.push(store);
      await store.ping();
      expect(await store.getFlow('f')).to.equal(null);
      expect(store.isSubscriberUp()).to.equal(true);
    });
  });
});
