/** Log lines share their write(2): batched for a few milliseconds, in order, with no line left behind. */
import { expect } from 'chai';
import { BatchedDestination } from '../../server/src/observability/log-destination.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function recording(intervalMs: number): { destination: BatchedDestination; writes: string[] } {
  const writes: string[] = [];
  return { destination: new BatchedDestination({ write: (text: string) => writes.push(text) }, intervalMs), writes };
}

describe('BatchedDestination', function () {
  it('writes the lines of several turns together once the interval has passed, in order', async function () {
    const { destination, writes } = recording(30);
    destination.write('one\n');
    await new Promise((resolve) => setImmediate(resolve));
    destination.write('two\n');
    await sleep(5);
    destination.write('three\n');
    expect(writes).to.deep.equal([]);
    await sleep(60);
    expect(writes).to.deep.equal(['one\ntwo\nthree\n']);
    destination.write('four\n');
    await sleep(60);
    expect(writes).to.deep.equal(['one\ntwo\nthree\n', 'four\n']);
  });

  it('writes at once when a burst piles up 64 KiB, so waiting lines never hold much memory', function () {
    const { destination, writes } = recording(60_000);
    const line = `${'x'.repeat(1023)}\n`;
    for (let i = 0; i < 63; i++) destination.write(line);
    expect(writes).to.have.length(0);
    destination.write(line);
    expect(writes).to.have.length(1);
    expect(writes[0]).to.have.length(64 * 1024);
    destination.flush();
    expect(writes).to.have.length(1);
  });

  it('writes what is pending on flush, then calls the callback (as pino.flush expects)', function () {
    const { destination, writes } = recording(60_000);
    destination.write('pending\n');
    let called = false;
    destination.flush(() => (called = true));
    expect(writes).to.deep.equal(['pending\n']);
    expect(called).to.equal(true);
  });
});
