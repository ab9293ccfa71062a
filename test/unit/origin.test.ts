/** The origin rule's one spelling per origin, and how config entries are read (server/src/transport/origin.ts). */
import { expect } from 'chai';
import { normaliseOrigin, originRule } from '../../server/src/transport/origin.js';
import { clientAddressPolicy } from '../../server/src/defense/client-address.js';

const NO_PROXY = clientAddressPolicy({ useXForwardedFor: false, trustedProxies: [], proxyProtocol: false });

describe('origin rule', function () {
  describe('#normaliseOrigin', function () {
    it('lower-cases scheme and host and leaves out the default port', function () {
      expect(normaliseOrigin('HTTPS://App.Example:443')).to.equal('https://app.example');
      expect(normaliseOrigin('http://app.example:80/')).to.equal('http://app.example');
      expect(normaliseOrigin('http://app.example:8080')).to.equal('http://app.example:8080');
      expect(normaliseOrigin('https://app.example:80')).to.equal('https://app.example:80');
    });

    it('writes international names and IPv6 hosts one way', function () {
      expect(normaliseOrigin('https://BÜCHER.example')).to.equal('https://xn--bcher-kva.example');
      expect(normaliseOrigin('http://[0:0:0:0:0:0:0:1]:8123')).to.equal('http://[::1]:8123');
    });

    it('keeps other schemes as written, in lower case', function () {
      expect(normaliseOrigin('Capacitor://LocalHost')).to.equal('capacitor://localhost');
    });

    it('answers null for what is no origin: null, a path, user info, a list, garbage', function () {
      for (const text of ['null', '', 'https://a.example/path', 'https://user@a.example', 'https://a.example, https://b.example', 'a.example', '*', `https://${'a'.repeat(400)}.example`]) {
        expect(normaliseOrigin(text), text).to.equal(null);
      }
    });
  });

  describe('#originRule', function () {
    it('names the first entry of http.cors_allowed_origins that is no origin', function () {
      expect(() => originRule({ allowedOrigins: ['https://ok.example', 'https://a.example/app'], clientAddress: NO_PROXY })).to.throw(
        'http.cors_allowed_origins[1]: "https://a.example/app" is not an origin',
      );
    });

    it('lists origins in any spelling, and nothing for a missing Origin', function () {
      const rule = originRule({ allowedOrigins: ['https://App.Example/'], clientAddress: NO_PROXY });
      expect(rule.isListed('https://app.example:443')).to.equal(true);
      expect(rule.isListed('http://app.example')).to.equal(false);
      expect(rule.isListed(undefined)).to.equal(false);
    });
  });
});
