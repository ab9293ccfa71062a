import { expect } from 'chai';
import { reconnectDelayMs } from '../../clients/ts/src/client.js';

const BACKOFF = { initialDelayMs: 200, maxDelayMs: 5_000, maxAttempts: Number.POSITIVE_INFINITY, restartSpreadMs: 5_000 };
/** The extremes of Math.random(): 0 and just below 1. */
const LOWEST = (): number => 0;
const HIGHEST = (): number => 0.999_999;

describe('FlowgateClient', function () {
  describe('reconnectDelayMs', function () {
    it('spreads the first reconnect over restartSpreadMs when the server closed with 1012 (service restart) or 1013', function () {
      for (const code of [1012, 1013]) {
        expect(reconnectDelayMs(BACKOFF, 0, code, LOWEST)).to.equal(0);
        expect(reconnectDelayMs(BACKOFF, 0, code, HIGHEST)).to.be.closeTo(5_000, 1);
        expect(reconnectDelayMs(BACKOFF, 0, code, () => 0.5)).to.equal(2_500);
      }
    });

    it('waits initialDelayMs with 25% jitter after any other close, as before', function () {
      for (const code of [1000, 1006, 4000, undefined]) {
        expect(reconnectDelayMs(BACKOFF, 0, code, LOWEST)).to.equal(150);
        expect(reconnectDelayMs(BACKOFF, 0, code, HIGHEST)).to.be.closeTo(250, 0.01);
      }
    });

    it('backs off exponentially once attempts fail, whatever the last close said, up to maxDelayMs', function () {
      const half = (): number => 0.5;
      expect(reconnectDelayMs(BACKOFF, 1, 1012, half)).to.equal(200);
      expect(reconnectDelayMs(BACKOFF, 3, 1012, half)).to.equal(800);
      expect(reconnectDelayMs(BACKOFF, 20, undefined, half)).to.equal(5_000);
    });

    it('keeps a spread of 0 for clients that want to come back at once', function () {
      expect(reconnectDelayMs({ ...BACKOFF, restartSpreadMs: 0 }, 0, 1012, HIGHEST)).to.equal(0);
    });
  });
});
