/** @flowgate/client's words for rate limits, and its web-storage device token store (no server needed). */
import { expect } from 'chai';
import { describeRateLimit, describeWait, RateLimitedError, webStorageDeviceTokenStore, type StorageLike } from '@flowgate/client';

describe('describeWait', function () {
  it('says seconds under a minute, minutes under an hour, then hours and minutes, always rounding up', function () {
    const cases: Array<[number, string]> = [
      [1, '1 second'],
      [30, '30 seconds'],
      [59.2, '1 minute'],
      [60, '1 minute'],
      [221, '4 minutes'],
      [3600, '1 hour'],
      [3900, '1 hour and 5 minutes'],
      [7201, '2 hours and 1 minute'],
    ];
    expect(cases.map(([seconds]) => describeWait(seconds))).to.deep.equal(cases.map(([, words]) => words));
  });
});

describe('describeRateLimit', function () {
  it('names failed attempts for a login command and other requests for anything else', function () {
    expect(describeRateLimit(new RateLimitedError('login_flow/step', 'x', 600))).to.equal('Too many failed attempts. Try again in 10 minutes.');
    expect(describeRateLimit(new RateLimitedError('auth/token', 'x', 5))).to.equal('Too many requests. Try again in 5 seconds.');
  });

  it("uses the server's words without a wait, and a generic sentence when there are none", function () {
    expect(describeRateLimit(new RateLimitedError('login_flow/init', 'Wait a minute.', undefined))).to.equal('Wait a minute.');
    expect(describeRateLimit(new RateLimitedError('login_flow/init', '', undefined))).to.equal('Too many failed attempts. Try again later.');
    expect(describeRateLimit(new RateLimitedError('login_flow/init', '', 0))).to.equal('Too many failed attempts. Try again now.');
  });
});

describe('webStorageDeviceTokenStore', function () {
  it('keeps one token per server under a prefixed key', function () {
    const items = new Map<string, string>();
    const storage: StorageLike = { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v) };
    const store = webStorageDeviceTokenStore(storage);
    void store.set('ws://a.example/api/websocket', 't');
    expect([...items]).to.deep.equal([['flowgate.device_token:ws://a.example/api/websocket', 't']]);
    expect(store.get('ws://a.example/api/websocket')).to.equal('t');
    expect(store.get('ws://b.example/api/websocket')).to.equal(undefined);
  });

  it('acts as an empty store when the storage throws (disabled, or full)', function () {
    const refuse = (): never => {
      throw new Error('SecurityError');
    };
    const store = webStorageDeviceTokenStore({ getItem: refuse, setItem: refuse });
    expect(() => void store.set('ws://a.example/', 't')).not.to.throw();
    expect(store.get('ws://a.example/')).to.equal(undefined);
  });
});
