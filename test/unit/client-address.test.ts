/** Whom to believe about the client address: trusted proxies, X-Forwarded-For selection, normalisation and limit keys. */
import { expect } from 'chai';
import { ConfigError } from '../../server/src/config/config.js';
import { clientAddressPolicy, limitKey, normaliseAddress } from '../../server/src/defense/client-address.js';

const behind = (trustedProxies: string[], useXForwardedFor = true) =>
  clientAddressPolicy({ useXForwardedFor, trustedProxies, proxyProtocol: false });

describe('client address', function () {
  describe('#normaliseAddress', function () {
    it('turns IPv4-mapped IPv6 into IPv4, in either spelling', function () {
      expect(normaliseAddress('::ffff:192.0.2.1')).to.equal('192.0.2.1');
      expect(normaliseAddress('::FFFF:c000:201')).to.equal('192.0.2.1');
    });

    it('writes IPv6 one way (RFC 5952) and drops zones, brackets and ports', function () {
      expect(normaliseAddress('2001:0DB8:0000:0000:0000:0000:0000:0001')).to.equal('2001:db8::1');
      expect(normaliseAddress('fe80::1%eth0')).to.equal('fe80::1');
      expect(normaliseAddress('[2001:db8::1]:443')).to.equal('2001:db8::1');
      expect(normaliseAddress('198.51.100.7:8080')).to.equal('198.51.100.7');
      expect(normaliseAddress('2001:db8:0:0:1:0:0:1')).to.equal('2001:db8::1:0:0:1');
    });

    it('answers null for what is not an address', function () {
      for (const text of ['', 'unknown', 'localhost', '999.1.1.1', '1.2.3', '2001:db8::1::2', '_hidden']) {
        expect(normaliseAddress(text), text).to.equal(null);
      }
    });
  });

  describe('#limitKey', function () {
    it('keeps an IPv4 address as it is', function () {
      expect(limitKey('203.0.113.9')).to.equal('203.0.113.9');
      expect(limitKey('::ffff:203.0.113.9')).to.equal('203.0.113.9');
    });

    it('reduces IPv6 to its /64, so addresses of one subscriber share one key', function () {
      expect(limitKey('2001:db8:1:2::1')).to.equal('2001:db8:1:2::/64');
      expect(limitKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).to.equal('2001:db8:1:2::/64');
      expect(limitKey('2001:db8:1:3::1')).to.equal('2001:db8:1:3::/64');
      expect(limitKey('::1')).to.equal('::/64');
      expect(limitKey('2001:0:0:0:ffff::')).to.equal('2001::/64');
    });

    it('gives the same key when asked again, also after more distinct addresses than it remembers', function () {
      const first = limitKey('2001:db8:7:7::42');
      for (let i = 0; i < 10_050; i++) limitKey(`2001:db8:${(i >> 8).toString(16)}:${(i & 0xff).toString(16)}::1`);
      expect(limitKey('2001:db8:7:7::42')).to.equal(first).and.to.equal('2001:db8:7:7::/64');
      expect(limitKey('2001:db8:27:42::1')).to.equal('2001:db8:27:42::/64');
    });
  });

  describe('#resolve', function () {
    it('is the peer when X-Forwarded-For is off, whatever the header says', function () {
      expect(behind(['10.0.0.1'], false).resolve('10.0.0.1', '198.51.100.7')).to.equal('10.0.0.1');
    });

    it('ignores a forged header from a peer that is not a trusted proxy', function () {
      expect(behind(['10.0.0.1']).resolve('203.0.113.66', '198.51.100.7')).to.equal('203.0.113.66');
    });

    it('takes the entry a trusted proxy appended', function () {
      expect(behind(['10.0.0.1']).resolve('10.0.0.1', '198.51.100.7')).to.equal('198.51.100.7');
    });

    it('takes the right-most untrusted entry, so a client cannot pick its address by prepending one', function () {
      expect(behind(['10.0.0.0/8']).resolve('10.0.0.1', '1.1.1.1, 2.2.2.2, 198.51.100.7, 10.0.0.2')).to.equal('198.51.100.7');
    });

    it('walks a chain of trusted proxies, given as addresses and CIDRs of both families', function () {
      const policy = behind(['10.0.0.1', '172.16.0.0/12', 'fd00::/8']);
      expect(policy.resolve('10.0.0.1', '198.51.100.7, fd00::5, 172.20.1.1')).to.equal('198.51.100.7');
      expect(policy.resolve('::ffff:10.0.0.1', '2001:db8::7, 172.20.1.1')).to.equal('2001:db8::7');
    });

    it('joins repeated headers in order', function () {
      expect(behind(['10.0.0.1']).resolve('10.0.0.1', ['1.1.1.1', '198.51.100.7'])).to.equal('198.51.100.7');
    });

    it('normalises what it takes from the header', function () {
      expect(behind(['10.0.0.1']).resolve('10.0.0.1', '::ffff:198.51.100.7')).to.equal('198.51.100.7');
      expect(behind(['10.0.0.1']).resolve('10.0.0.1', '[2001:DB8::7]:1234')).to.equal('2001:db8::7');
    });

    it('stops at the nearest hop it can vouch for when an entry is not an address', function () {
      expect(behind(['10.0.0.0/8']).resolve('10.0.0.1', '198.51.100.7, garbage, 10.0.0.2')).to.equal('10.0.0.2');
      expect(behind(['10.0.0.1']).resolve('10.0.0.1', 'garbage')).to.equal('10.0.0.1');
    });

    it('takes the left-most entry when every entry is a trusted proxy, and the peer for an empty header', function () {
      expect(behind(['10.0.0.0/8']).resolve('10.0.0.1', '10.0.0.3, 10.0.0.2')).to.equal('10.0.0.3');
      expect(behind(['10.0.0.1']).resolve('10.0.0.1', ' , ')).to.equal('10.0.0.1');
    });

    it('normalises a mapped peer, and answers null only for an unknown peer', function () {
      expect(behind(['10.0.0.1']).resolve('::ffff:203.0.113.66', undefined)).to.equal('203.0.113.66');
      expect(behind(['10.0.0.1']).resolve(undefined, '198.51.100.7')).to.equal(null);
    });
  });

  describe('#isTrustedProxy', function () {
    it('matches addresses and ranges in any spelling, and nothing else', function () {
      const policy = behind(['127.0.0.1', '2001:db8::/32']);
      expect(policy.isTrustedProxy('::ffff:127.0.0.1')).to.equal(true);
      expect(policy.isTrustedProxy('2001:DB8:ffff::1')).to.equal(true);
      expect(policy.isTrustedProxy('127.0.0.2')).to.equal(false);
      expect(policy.isTrustedProxy('2001:db9::1')).to.equal(false);
      expect(policy.isTrustedProxy(undefined)).to.equal(false);
    });
  });

  describe('#clientAddressPolicy', function () {
    it('names the bad trusted_proxies entry in a ConfigError', function () {
      for (const entry of ['10.0.0.0/33', '10.0.0.300', 'proxy.local', '10.0.0.0/8/1', 'fd00::/129', '10.0.0.1:80', '10.0.0.0/x']) {
        expect(() => behind(['127.0.0.1', entry]), entry)
          .to.throw(ConfigError)
          .with.property('message')
          .that.matches(/^http\.trusted_proxies\[1\]: /);
      }
    });

    it('refuses use_x_forwarded_for or proxy_protocol without trusted proxies', function () {
      expect(() => behind([])).to.throw(ConfigError, /http\.use_x_forwarded_for needs http\.trusted_proxies/);
      expect(() => clientAddressPolicy({ useXForwardedFor: false, trustedProxies: [], proxyProtocol: true })).to.throw(
        ConfigError,
        /http\.proxy_protocol needs http\.trusted_proxies/,
      );
    });
  });
});
