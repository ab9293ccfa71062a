/** A client id's page fetched for `<link rel="redirect_uri">` from real local HTTP servers: private addresses, timeout, size cap, redirects. */
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  MAX_CONCURRENT_PAGE_FETCHES,
  MAX_PAGE_BYTES,
  MAX_PAGE_REDIRECTS,
  PAGE_FETCH_TIMEOUT_MS,
  fetchRedirectUris,
} from '../../server/src/auth/client-page.js';
import { verifyRedirectUri } from '../../server/src/auth/indieauth.js';
import { eventually } from '../helpers/instances.js';
import { RawClient } from '../helpers/raw-client.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** A real HTTP server on `host` whose pages are `routes` by path; it records every request it sees. */
interface PageServer {
  readonly origin: string;
  readonly requests: string[];
  /** Connections that were closed from the other side (the fetcher hung up). */
  readonly hangUps: () => number;
  close(): Promise<void>;
}

const servers: PageServer[] = [];

async function pageServer(routes: Record<string, Handler>, host = '127.0.0.1'): Promise<PageServer> {
  const requests: string[] = [];
  let hangUps = 0;
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? '');
    request.socket.once('close', () => (hangUps += 1));
    const route = routes[request.url ?? ''];
    if (route === undefined) response.writeHead(404).end('<link rel="redirect_uri" href="/from-a-404">');
    else route(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const page: PageServer = {
    origin: `http://${host}:${port}`,
    requests,
    hangUps: () => hangUps,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(page);
  return page;
}

const html =
  (body: string): Handler =>
  (_request, response) =>
    response.writeHead(200, { 'content-type': 'text/html' }).end(body);
const redirectTo =
  (location: string, status = 302): Handler =>
  (_request, response) =>
    response.writeHead(status, { location }).end();

const ELSEWHERE = 'https://elsewhere.example/callback';
const DECLARING = html(`<!doctype html><html><head><link rel="redirect_uri" href="${ELSEWHERE}"><link rel="redirect_uri" href="/local"></head></html>`);
/** Treats 127.0.0.1 as a public address, so that redirects to other loopback addresses can be seen refused. */
const ONLY_127_0_0_1_IS_PUBLIC = { isPublic: (address: string) => address === '127.0.0.1' };

describe('IndieAuth client id pages', function () {
  afterEach(async function () {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  describe('#fetchRedirectUris', function () {
    it('lists the declared redirect URIs when private addresses are allowed', async function () {
      const page = await pageServer({ '/app': DECLARING });
      const links = await fetchRedirectUris(`${page.origin}/app`, { allowPrivateAddresses: true });
      expect(links).to.deep.equal({ ok: true, redirectUris: [ELSEWHERE, `${page.origin}/local`] });
    });

    it('resolves a host name and fetches from its address', async function () {
      const page = await pageServer({ '/': DECLARING });
      const clientId = page.origin.replace('127.0.0.1', 'localhost');
      const links = await fetchRedirectUris(`${clientId}/`, { allowPrivateAddresses: true });
      expect(links).to.deep.equal({ ok: true, redirectUris: [ELSEWHERE, `${clientId}/local`] });
    });

    it('never connects to a loopback address unless private addresses are allowed', async function () {
      const page = await pageServer({ '/': DECLARING });
      for (const clientId of [`${page.origin}/`, `${page.origin.replace('127.0.0.1', 'localhost')}/`]) {
        const links = await fetchRedirectUris(clientId);
        expect(links.ok, clientId).to.equal(false);
        expect(links, clientId).to.have.property('reason').that.matches(/^(127\.0\.0\.1|localhost resolves to (127\.0\.0\.1|::1), which) is a private or special address/);
      }
      expect(page.requests, 'the page server saw no request').to.deep.equal([]);
    });

    it('gives up after the timeout on a server that never answers (5 s by default)', async function () {
      expect(PAGE_FETCH_TIMEOUT_MS).to.equal(5_000);
      const page = await pageServer({ '/': () => undefined });
      const started = Date.now();
      const links = await fetchRedirectUris(`${page.origin}/`, { allowPrivateAddresses: true, timeoutMs: 100 });
      expect(Date.now() - started).to.be.within(90, 1_000);
      expect(links).to.deep.equal({ ok: false, reason: 'the page did not arrive within 100 ms' });
    });

    it('refuses fetches past its limit of 32 at once with rate_limited, and fetches again once they end', async function () {
      expect(MAX_CONCURRENT_PAGE_FETCHES).to.equal(32);
      const page = await pageServer({ '/': () => undefined, '/declaring': DECLARING });
      const hanging = Array.from({ length: MAX_CONCURRENT_PAGE_FETCHES }, () =>
        fetchRedirectUris(`${page.origin}/`, { allowPrivateAddresses: true, timeoutMs: 300 }),
      );
      const refused = await fetchRedirectUris(`${page.origin}/declaring`, { allowPrivateAddresses: true }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused).to.deep.include({ code: 'rate_limited', retryAfterSeconds: 5 });
      await Promise.all(hanging);
      expect(await fetchRedirectUris(`${page.origin}/declaring`, { allowPrivateAddresses: true })).to.deep.include({ ok: true });
    });

    it('gives up after the timeout on a page that trickles in', async function () {
      const page = await pageServer({
        '/': (request, response) => {
          response.writeHead(200, { 'content-type': 'text/html' });
          const timer = setInterval(() => response.write(' '), 10);
          request.socket.once('close', () => clearInterval(timer));
        },
      });
      const started = Date.now();
      const links = await fetchRedirectUris(`${page.origin}/`, { allowPrivateAddresses: true, timeoutMs: 150 });
      expect(Date.now() - started).to.be.within(140, 1_000);
      expect(links.ok).to.equal(false);
    });

    it('reads only the first 10 kB (HA’s example: a link past them is not seen)', async function () {
      expect(MAX_PAGE_BYTES).to.equal(10_240);
      const body = `<link rel="redirect_uri" href="/wine">${'0'.repeat(MAX_PAGE_BYTES)}<link rel="redirect_uri" href="/beer">`;
      const page = await pageServer({ '/': html(body) });
      expect(await fetchRedirectUris(`${page.origin}/`, { allowPrivateAddresses: true })).to.deep.equal({ ok: true, redirectUris: [`${page.origin}/wine`] });
    });

    it('hangs up on a page that never ends once 10 kB have arrived', async function () {
      const page = await pageServer({
        '/': (request, response) => {
          response.writeHead(200, { 'content-type': 'text/html' });
          response.write('<link rel="redirect_uri" href="/first">');
          const chunk = 'x'.repeat(1024);
          const timer = setInterval(() => response.write(chunk), 1);
          request.socket.once('close', () => clearInterval(timer));
        },
      });
      const links = await fetchRedirectUris(`${page.origin}/`, { allowPrivateAddresses: true, timeoutMs: 3_000 });
      expect(links).to.deep.equal({ ok: true, redirectUris: [`${page.origin}/first`] });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(page.hangUps(), 'the fetcher closed the connection').to.equal(1);
    });

    it('uses no page that answers with an error status', async function () {
      const page = await pageServer({});
      expect(await fetchRedirectUris(`${page.origin}/missing`, { allowPrivateAddresses: true })).to.deep.equal({ ok: false, reason: 'the page answered HTTP 404' });
    });

    it(`follows up to ${MAX_PAGE_REDIRECTS} redirects, resolving links against the client id`, async function () {
      const target = await pageServer({ '/page': DECLARING });
      const page = await pageServer({ '/': redirectTo('/second', 301), '/second': redirectTo(`${target.origin}/page`, 307) });
      const links = await fetchRedirectUris(`${page.origin}/`, ONLY_127_0_0_1_IS_PUBLIC);
      expect(links).to.deep.equal({ ok: true, redirectUris: [ELSEWHERE, `${page.origin}/local`] });
    });

    it('refuses a redirect loop', async function () {
      const page = await pageServer({ '/': redirectTo('/') });
      const links = await fetchRedirectUris(`${page.origin}/`, ONLY_127_0_0_1_IS_PUBLIC);
      expect(links).to.deep.equal({ ok: false, reason: `more than ${MAX_PAGE_REDIRECTS} redirects` });
      expect(page.requests).to.have.length(MAX_PAGE_REDIRECTS + 1);
    });

    it('checks the address of every redirect: one to a private address is never followed', async function () {
      const inside = await pageServer({ '/': DECLARING }, '127.0.0.2');
      const page = await pageServer({ '/': redirectTo(`${inside.origin}/`) });
      const links = await fetchRedirectUris(`${page.origin}/`, ONLY_127_0_0_1_IS_PUBLIC);
      expect(links).to.deep.equal({
        ok: false,
        reason: '127.0.0.2 is a private or special address (set indieauth.allow_private_addresses to fetch from it)',
      });
      expect(page.requests).to.deep.equal(['/']);
      expect(inside.requests, 'the private server saw no request').to.deep.equal([]);
    });

    it('refuses a redirect to a scheme other than http and https', async function () {
      const page = await pageServer({ '/': redirectTo('file:///etc/passwd') });
      expect(await fetchRedirectUris(`${page.origin}/`, ONLY_127_0_0_1_IS_PUBLIC)).to.deep.equal({ ok: false, reason: 'a redirect led to file:, not http or https' });
    });
  });

  describe('#verifyRedirectUri', function () {
    it('accepts a redirect URI the page declares, and tells why another one is refused', async function () {
      const page = await pageServer({ '/': DECLARING });
      const problems: string[] = [];
      const options = { allowPrivateAddresses: true, onPageProblem: (_clientId: string, reason: string) => problems.push(reason) };
      expect(await verifyRedirectUri(`${page.origin}/`, ELSEWHERE, options)).to.equal(true);
      expect(await verifyRedirectUri(`${page.origin}/`, `${ELSEWHERE}/other`, options)).to.equal(false);
      expect(problems).to.deep.equal([`the page declares only ${ELSEWHERE}, ${page.origin}/local, not ${ELSEWHERE}/other`]);
    });

    it('does not fetch the page when the client’s own host or the config already accepts', async function () {
      const page = await pageServer({ '/': DECLARING });
      const clients = new Map([[`${page.origin}/`, ['myapp://callback']]]);
      expect(await verifyRedirectUri(`${page.origin}/`, `${page.origin}/callback`, { allowPrivateAddresses: true, clients })).to.equal(true);
      expect(await verifyRedirectUri(`${page.origin}/`, 'myapp://callback', { allowPrivateAddresses: true, clients })).to.equal(true);
      expect(page.requests).to.deep.equal([]);
    });
  });

  describe('login_flow/init on a server process', function () {
    let server: ServerProcess;
    let page: PageServer;
    const LISTED_CLIENT = 'https://app.example/';
    const LISTED_REDIRECT = 'https://callback.example/done';

    before(async function () {
      page = await pageServer({ '/': DECLARING });
      servers.splice(servers.indexOf(page), 1);
      server = await startServerProcess({
        config: { ...EXAMPLE_CONFIG, clients: [{ client_id: LISTED_CLIENT, redirect_uris: [LISTED_REDIRECT] }], indieauth: { allow_private_addresses: true } },
      });
    });

    after(async function () {
      await server.stop();
      await page.close();
    });

    const init = async (clientId: string, redirectUri?: string): Promise<any> => {
      const { client } = await RawClient.open(server.url);
      try {
        const command = { type: 'login_flow/init', handler: ['insecure_example', null], client_id: clientId };
        return await client.command(redirectUri === undefined ? command : { ...command, redirect_uri: redirectUri });
      } finally {
        client.close();
      }
    };

    it('answers invalid_request "Invalid client id" for a client id that is not a valid URL', async function () {
      for (const clientId of ['ftp://app.example/', 'https://app.example/#x', 'https://8.8.8.8/', 'app']) {
        const reply = await init(clientId);
        expect(reply.success, clientId).to.equal(false);
        expect(reply.error, clientId).to.deep.equal({ code: 'invalid_request', message: 'Invalid client id' });
      }
    });

    it('answers invalid_request "Invalid redirect URI" for one the client page does not declare', async function () {
      const reply = await init(`${page.origin}/`, 'https://evil.example/steal');
      expect(reply.error).to.deep.equal({ code: 'invalid_request', message: 'Invalid redirect URI' });
      // Log lines are written right after the turn's replies, so the line may land a moment after the answer.
      await eventually(async () => server.logs.some((line) => line['msg'] === 'client id page gave no matching redirect URI'), 2_000, 'the log line');
    });

    it('starts the flow for a redirect URI of the client’s host, listed in `clients:`, or declared by its page', async function () {
      for (const [clientId, redirectUri] of [
        ['https://dashboard.example/', 'https://dashboard.example/callback'],
        [LISTED_CLIENT, LISTED_REDIRECT],
        [`${page.origin}/`, ELSEWHERE],
      ] as const) {
        const reply = await init(clientId, redirectUri);
        expect(reply.success, redirectUri).to.equal(true);
        expect(reply.result.type, redirectUri).to.equal('form');
      }
    });
  });
});
