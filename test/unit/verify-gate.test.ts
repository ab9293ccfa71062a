import { expect } from 'chai';
import { ServiceError } from '../../server/src/errors.js';
import { VerifyGate } from '../../server/src/providers/verify-gate.js';

/** A task that finishes only when the test says so, recording when it started. */
function controllable(started: number[], id: number): { task: () => Promise<number>; finish: () => void } {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    finish: () => finish(),
    task: async () => {
      started.push(id);
      await done;
      return id;
    },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('VerifyGate', function () {
  it('runs at most `concurrency` tasks at once and starts the waiting ones in arrival order', async function () {
    const gate = new VerifyGate(2, 10);
    const started: number[] = [];
    const tasks = [1, 2, 3, 4].map((id) => controllable(started, id));
    const results = tasks.map((t) => gate.run(t.task));
    await tick();
    expect(started).to.deep.equal([1, 2]);
    tasks[1]?.finish();
    await tick();
    expect(started).to.deep.equal([1, 2, 3]);
    tasks[0]?.finish();
    await tick();
    expect(started).to.deep.equal([1, 2, 3, 4]);
    tasks.forEach((t) => t.finish());
    expect(await Promise.all(results)).to.deep.equal([1, 2, 3, 4]);
  });

  it('refuses with unavailable once its queue is full, and accepts again when it drains', async function () {
    const gate = new VerifyGate(1, 1);
    const started: number[] = [];
    const first = controllable(started, 1);
    const queued = controllable(started, 2);
    const running = gate.run(first.task);
    const waiting = gate.run(queued.task);
    let refused: unknown;
    try {
      await gate.run(async () => 3);
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(ServiceError);
    expect((refused as ServiceError).code).to.equal('unavailable');
    first.finish();
    queued.finish();
    expect([await running, await waiting]).to.deep.equal([1, 2]);
    expect(await gate.run(async () => 4)).to.equal(4);
  });

  it('frees its slot when a task fails', async function () {
    const gate = new VerifyGate(1, 0);
    await gate.run(async () => Promise.reject(new Error('boom'))).catch(() => undefined);
    expect(await gate.run(async () => 'ok')).to.equal('ok');
  });

  describe('#configure', function () {
    it('starts waiting tasks at once when the concurrency is raised, and stops handing slots over when it is lowered', async function () {
      const gate = new VerifyGate(1, 10);
      const started: number[] = [];
      const tasks = [1, 2, 3, 4].map((id) => controllable(started, id));
      const results = tasks.map((t) => gate.run(t.task));
      await tick();
      expect(started).to.deep.equal([1]);
      gate.configure({ concurrency: 3 });
      await tick();
      expect(started).to.deep.equal([1, 2, 3]);
      gate.configure({ concurrency: 1 });
      tasks[0]?.finish();
      tasks[1]?.finish();
      await tick();
      // Two of three slots were given back: task 4 waits for the last one.
      expect(started).to.deep.equal([1, 2, 3]);
      tasks[2]?.finish();
      await tick();
      expect(started).to.deep.equal([1, 2, 3, 4]);
      tasks[3]?.finish();
      expect(await Promise.all(results)).to.deep.equal([1, 2, 3, 4]);
    });

    it('refuses past the configured queue (64 per slot when only the concurrency is set)', async function () {
      const gate = new VerifyGate(4, 100);
      gate.configure({ concurrency: 1, maxQueued: 0 });
      const first = controllable([], 1);
      const running = gate.run(first.task);
      const refused = await gate.run(async () => 2).catch((error: unknown) => error);
      expect((refused as ServiceError).code).to.equal('unavailable');
      first.finish();
      expect(await running).to.equal(1);
    });
  });
});
