/** IndieAuth as Home Assistant reads it: valid client ids, the redirect URIs that need no fetch, and the `<link>` scanner. */
import { expect } from 'chai';
import { isPublicAddress } from '../../server/src/auth/client-page.js';
import { parseClientId, verifyClientId, verifyRedirectUri } from '../../server/src/auth/indieauth.js';
import { findRedirectUriLinks } from '../../server/src/auth/link-tags.js';
import { ServiceError } from '../../server/src/errors.js';

const valid = (clientId: string): boolean => parseClientId(clientId) !== null;
/** Only rules that need no fetch: a page fetch from these test hosts would be refused anyway, but must not be tried. */
const NO_FETCH = { timeoutMs: 1 };

describe('IndieAuth', function () {
  describe('#verifyClientId', function () {
    it('accepts http and https only', function () {
      expect(valid('http://ex.com/')).to.equal(true);
      expect(valid('https://ex.com/')).to.equal(true);
      for (const clientId of ['ftp://ex.com', 'ws://ex.com/', 'ex.com', '//ex.com/', 'mailto:a@ex.com']) expect(valid(clientId), clientId).to.equal(false);
    });

    it('treats an empty path as / and keeps dots inside segments', function () {
      expect(verifyClientId('http://ex.com').pathname).to.equal('/');
      expect(verifyClientId('http://ex.com/hello').pathname).to.equal('/hello');
      expect(verifyClientId('http://ex.com/hello/.world').pathname).to.equal('/hello/.world');
      expect(verifyClientId('http://ex.com/hello./.world').pathname).to.equal('/hello./.world');
    });

    it('refuses . and .. path segments, also percent-encoded', function () {
      for (const clientId of ['http://ex.com/.', 'http://ex.com/hello/./yo', 'http://ex.com/hello/../yo', 'http://ex.com/a/%2e%2E/b', 'http://ex.com/a/.%2e', 'http://ex.com/%2e']) {
        expect(valid(clientId), clientId).to.equal(false);
      }
    });

    it('refuses a fragment, even an empty one', function () {
      expect(valid('http://ex.com/#yoo')).to.equal(false);
      expect(valid('http://ex.com/#')).to.equal(false);
    });

    it('refuses a user name or password', function () {
      expect(valid('http://user@ex.com/')).to.equal(false);
      expect(valid('http://user:pass@ex.com/')).to.equal(false);
      expect(valid('http://:pass@ex.com/')).to.equal(false);
    });

    it('accepts a valid port and refuses one that is not', function () {
      expect(verifyClientId('http://ex.com:8123/').port).to.equal('8123');
      for (const clientId of ['http://ex.com:65536/', 'http://ex.com:port/', 'http://ex.com:-1/']) expect(valid(clientId), clientId).to.equal(false);
    });

    it('accepts domain names and local addresses, and refuses public addresses', function () {
      for (const clientId of ['http://www.home-assistant.io/', 'http://[::1]', 'http://127.0.0.1', 'http://10.0.0.0', 'http://10.255.255.255', 'http://172.16.0.0', 'http://172.31.255.255', 'http://192.168.0.0', 'http://192.168.255.255', 'http://169.254.1.1:8123/', 'http://[fd00::1]/', 'https://app', 'http://localhost:8123/']) {
        expect(valid(clientId), clientId).to.equal(true);
      }
      for (const clientId of ['http://11.0.0.0/', 'http://172.32.0.0/', 'http://192.167.0.0/', 'http://[2001:db8::1]/', 'http://8.8.8.8:80/']) {
        expect(valid(clientId), clientId).to.equal(false);
      }
    });

    it('reads other spellings of an IPv4 address as that address', function () {
      // The URL parser makes 0x7f.1 127.0.0.1 and 134744072 8.8.8.8: the rule sees what a connection would reach.
      expect(valid('http://0x7f.1/')).to.equal(true);
      expect(valid('http://134744072/')).to.equal(false);
    });

    it('refuses an empty host, white space and backslashes', function () {
      for (const clientId of ['http:///x', 'http://', 'http:// ex.com/', ' http://ex.com/', 'http://ex.com/a b', 'http://ex.com\\@evil.example/', 'http://ex.com/\t']) {
        expect(valid(clientId), JSON.stringify(clientId)).to.equal(false);
      }
    });

    it('lowercases the host for comparisons, keeping the path as written', function () {
      const url = verifyClientId('http://EX.COM:123/HELLO');
      expect(url.host).to.equal('ex.com:123');
      expect(url.pathname).to.equal('/HELLO');
    });

    it('throws invalid_request "Invalid client id"', function () {
      expect(() => verifyClientId('ftp://ex.com/'))
        .to.throw(ServiceError, 'Invalid client id')
        .with.property('code', 'invalid_request');
    });

    it("accepts the client ids this project's own tests and clients use", function () {
      for (const clientId of ['https://dashboard.example/', 'https://app', 'https://a/', 'https://flowgate.invalid/cli', 'http://127.0.0.1:8123/', 'http://localhost:5173/']) {
        expect(valid(clientId), clientId).to.equal(true);
      }
    });
  });

  describe('#verifyRedirectUri', function () {
    it('accepts the client id’s own scheme and host (and port)', async function () {
      expect(await verifyRedirectUri('http://ex.com', 'http://ex.com/callback', NO_FETCH)).to.equal(true);
      expect(await verifyRedirectUri('http://EX.com:80/', 'http://ex.com/cb?x=1', NO_FETCH)).to.equal(true);
      expect(await verifyRedirectUri('http://127.0.0.1:8123/', 'http://127.0.0.1:8123/auth/callback', NO_FETCH)).to.equal(true);
    });

    it('refuses another host, scheme, subdomain or port when nothing else lists it', async function () {
      const options = { ...NO_FETCH, allowPrivateAddresses: false };
      // Each client id is a loopback address: the page is never fetched, so only the rules without a fetch answer.
      expect(await verifyRedirectUri('http://127.0.0.1/', 'http://different.com/callback', options)).to.equal(false);
      expect(await verifyRedirectUri('http://127.0.0.1/', 'https://127.0.0.1/callback', options)).to.equal(false);
      expect(await verifyRedirectUri('http://127.0.0.1:8123/', 'http://127.0.0.1:8124/callback', options)).to.equal(false);
      expect(await verifyRedirectUri('http://localhost/', 'http://sub.localhost/callback', options)).to.equal(false);
    });

    it('accepts the mobile apps’ callbacks only for their own client ids', async function () {
      const callback = 'homeassistant://auth-callback';
      const wear = ['https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android', 'https://wear.googleapis-cn.com/3p_auth/io.homeassistant.companion.android'];
      expect(await verifyRedirectUri('https://home-assistant.io/iOS', callback, NO_FETCH)).to.equal(true);
      expect(await verifyRedirectUri('https://home-assistant.io/android', callback, NO_FETCH)).to.equal(true);
      for (const uri of wear) expect(await verifyRedirectUri('https://home-assistant.io/android', uri, NO_FETCH), uri).to.equal(true);
      const refused = { ...NO_FETCH, onPageProblem: () => undefined };
      // The iOS app has no watch callback; another client id gets no app callback (their pages are not reachable in 1 ms).
      for (const uri of wear) expect(await verifyRedirectUri('http://127.0.0.1/iOS', uri, refused), uri).to.equal(false);
      expect(await verifyRedirectUri('http://127.0.0.1/', callback, refused)).to.equal(false);
      expect(await verifyRedirectUri('http://127.0.0.1/iOS', 'homeassistant://something-else', refused)).to.equal(false);
    });

    it('accepts what `clients:` lists for that client id, compared as URLs', async function () {
      const clients = new Map([['http://127.0.0.1/app', ['https://callback.example/done', 'myapp://login']]]);
      const options = { ...NO_FETCH, clients };
      expect(await verifyRedirectUri('http://127.0.0.1/app', 'https://callback.example/done', options)).to.equal(true);
      expect(await verifyRedirectUri('http://127.0.0.1/app', 'https://CALLBACK.example:443/done', options)).to.equal(true);
      expect(await verifyRedirectUri('http://127.0.0.1/app', 'myapp://login', options)).to.equal(true);
      expect(await verifyRedirectUri('http://127.0.0.1/app', 'https://callback.example/other', options)).to.equal(false);
      expect(await verifyRedirectUri('http://127.0.0.1/other', 'https://callback.example/done', options)).to.equal(false);
    });

    it('never accepts a script URL, an invalid client id or a redirect URI that is not a URL', async function () {
      const clients = new Map([['https://ex.com/', ['javascript:alert(1)', 'data:text/html,hi']]]);
      expect(await verifyRedirectUri('https://ex.com/', 'javascript:alert(1)', { clients })).to.equal(false);
      expect(await verifyRedirectUri('https://ex.com/', 'data:text/html,hi', { clients })).to.equal(false);
      expect(await verifyRedirectUri('ftp://ex.com/', 'ftp://ex.com/callback')).to.equal(false);
      expect(await verifyRedirectUri('https://ex.com/', 'not a url')).to.equal(false);
    });
  });

  describe('#findRedirectUriLinks', function () {
    const BASE = 'http://127.0.0.1:8000';

    it('finds every redirect_uri link in order, resolving relative ones against the client id (HA’s example)', function () {
      const html = `<!doctype html><html><head>
        <link rel="redirect_uri" href="hass://oauth2_redirect">
        <link rel="other_value" href="hass://oauth2_redirect">
        <link rel="redirect_uri" href="/beer">
      </head></html>`;
      expect(findRedirectUriLinks(html, BASE)).to.deep.equal(['hass://oauth2_redirect', 'http://127.0.0.1:8000/beer']);
    });

    it('reads attributes in any order, any case, with any quotes or none', function () {
      const html = [
        `<LINK HREF="/a" REL="REDIRECT_URI">`,
        `<link href='/b' rel='redirect_uri'/>`,
        `<link rel=redirect_uri href=/c>`,
        `<link\n  rel = "redirect_uri"\n  href = "/d"\n>`,
        `<link data-x="a > b" rel="redirect_uri" href="/e">`,
      ].join('');
      expect(findRedirectUriLinks(html, BASE)).to.deep.equal(['/a', '/b', '/c', '/d', '/e'].map((path) => `${BASE}${path}`));
    });

    it('takes redirect_uri among several rel keywords, and not as part of another', function () {
      const html = `<link rel="redirect_uri other" href="/one"><link rel="me\tredirect_uri" href="/two"><link rel="redirect_uris" href="/no"><link rel="x-redirect_uri" href="/no">`;
      expect(findRedirectUriLinks(html, BASE)).to.deep.equal([`${BASE}/one`, `${BASE}/two`]);
    });

    it('decodes character references in the href', function () {
      expect(findRedirectUriLinks(`<link rel="redirect_uri" href="/cb?a=1&amp;b=2&#38;c=&#x33;">`, BASE)).to.deep.equal([`${BASE}/cb?a=1&b=2&c=3`]);
    });

    it('skips links without an href or with an empty one, and tags of other names', function () {
      const html = `<link rel="redirect_uri"><link rel="redirect_uri" href=""><link rel="redirect_uri" href="  "><linkx rel="redirect_uri" href="/x"><a rel="redirect_uri" href="/a">`;
      expect(findRedirectUriLinks(html, BASE)).to.deep.equal([]);
    });

    it('takes the first of a repeated attribute, as a browser does', function () {
      expect(findRedirectUriLinks(`<link rel="redirect_uri" href="/first" href="/second">`, BASE)).to.deep.equal([`${BASE}/first`]);
    });

    it('ignores links in comments, scripts, styles and titles', function () {
      const html = [
        `<!-- <link rel="redirect_uri" href="/comment"> -->`,
        `<script>document.write('<link rel="redirect_uri" href="/script">')</script>`,
        `<style>/* <link rel="redirect_uri" href="/style"> */</style>`,
        `<title><link rel="redirect_uri" href="/title"></title>`,
        `<link rel="redirect_uri" href="/real">`,
      ].join('');
      expect(findRedirectUriLinks(html, BASE)).to.deep.equal([`${BASE}/real`]);
    });

    it('ignores a tag cut off by the end of the text', function () {
      expect(findRedirectUriLinks(`<link rel="redirect_uri" href="/ok"><link rel="redirect_uri" href="/cut`, BASE)).to.deep.equal([`${BASE}/ok`]);
      expect(findRedirectUriLinks(`<link rel="redirect_uri" href="/cut"`, BASE)).to.deep.equal([]);
    });
  });

  describe('#isPublicAddress', function () {
    it('refuses loopback, private, link-local and special addresses in every spelling', function () {
      for (const address of ['127.0.0.1', '::1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', 'fe80::1', 'fd12::1', '0.0.0.0', '100.64.0.1', '224.0.0.1', '255.255.255.255', '::', '::ffff:127.0.0.1', '::ffff:a9fe:a9fe', '64:ff9b::7f00:1']) {
        expect(isPublicAddress(address), address).to.equal(false);
      }
      for (const address of ['93.184.216.34', '2606:4700::1111', '8.8.8.8']) expect(isPublicAddress(address), address).to.equal(true);
    });
  });
});
