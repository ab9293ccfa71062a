/**
 * X-Forwarded-For from a peer it cannot be believed from (docs/operations.md, "Running behind a proxy"): HTTP 400 on the
 * socket upgrade and on every HTTP route, and one warning naming the peer and the key to set, as Home Assistant does.
 */
import { expect } from 'chai';
import { request as httpRequest } from 'node:http';
import { eventually } from '../helpers/instances.js';
import { EXAMPLE_CONFIG, type ServerProcess } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One raw request from `localAddress`; `upgrade` asks for a WebSocket, as a browser or `ws` would. */
function send(server: ServerProcess, path: string, localAddress: string, headers: Record<string, string>, options: { method?: string; upgrade?: boolean } = {}): Promise<Answer> {
  const upgrade = options.upgrade === true ? { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } : {};
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${server.httpUrl}${path}`, { method: options.method ?? 'GET', localAddress, headers: { ...upgrade, ...headers } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The routes a stranger's X-Forwarded-For is refused on: the socket, the login API, health, the dashboard. */
const ROUTES: ReadonlyArray<{ readonly path: string; readonly method?: string; readonly upgrade?: boolean }> = [
  { path: '/api/websocket', upgrade: true },
  { path: '/auth/providers' },
  { path: '/auth/login_flow', method: 'POST' },
  { path: '/healthz' },
  { path: '/' },
];

const warningsAbout = (server: ServerProcess, peer: string): Array<Record<string, unknown>> =>
  server.logs.filter((line) => line['level'] === 40 && String(line['msg']).includes('X-Forwarded-For') && line['remote'] === peer);

describe('X-Forwarded-For without use_x_forwarded_for', function () {
  const fixture = useServer(() => ({ config: EXAMPLE_CONFIG }));

  it('answers 400 on the upgrade and every route, and warns once, naming the peer and the keys to set; without it, serves the peer', async function () {
    const peer = '127.0.0.31';
    for (const route of ROUTES) {
      const answer = await send(fixture.server(), route.path, peer, { 'x-forwarded-for': '203.0.113.9' }, route);
      expect(answer.status, route.path).to.equal(400);
      expect(answer.body, route.path).to.match(/http\.trusted_proxies/);
    }
    await eventually(async () => warningsAbout(fixture.server(), peer).length > 0, 2_000, 'the warning');
    const warnings = warningsAbout(fixture.server(), peer);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include({ key: 'http.use_x_forwarded_for' });
    expect(warnings[0]!['msg']).to.equal(
      `refused a request with X-Forwarded-For from ${peer}, while http.use_x_forwarded_for is off: if it is your proxy, set http.use_x_forwarded_for: true and list the proxy in http.trusted_proxies`,
    );
    // Without the header the same peer is served.
    expect((await send(fixture.server(), '/api/websocket', peer, {}, { upgrade: true })).status).to.equal(101);
    expect((await send(fixture.server(), '/healthz', peer, {})).status).to.equal(200);
  });
});

describe('X-Forwarded-For with use_x_forwarded_for and a trusted proxy at 127.0.0.1', function () {
  const fixture = useServer(() => ({ config: { ...EXAMPLE_CONFIG, http: { use_x_forwarded_for: true, trusted_proxies: ['127.0.0.1'] } } }));

  it('answers 400 to a peer that is not a trusted proxy, and warns once naming it and http.trusted_proxies, but believes the proxy', async function () {
    const peer = '127.0.0.33';
    for (const route of ROUTES) {
      expect((await send(fixture.server(), route.path, peer, { 'x-forwarded-for': '203.0.113.9' }, route)).status, route.path).to.equal(400);
    }
    await eventually(async () => warningsAbout(fixture.server(), peer).length > 0, 2_000, 'the warning');
    const warnings = warningsAbout(fixture.server(), peer);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include({ key: 'http.trusted_proxies' });
    expect(warnings[0]!['msg']).to.equal(
      `refused a request with X-Forwarded-For from ${peer}, which is not in http.trusted_proxies: if it is your proxy, list the proxy in http.trusted_proxies`,
    );
    // The trusted proxy's header is believed, with no warning.
    const headers = { 'x-forwarded-for': '203.0.113.9' };
    expect((await send(fixture.server(), '/api/websocket', '127.0.0.1', headers, { upgrade: true })).status).to.equal(101);
    expect((await send(fixture.server(), '/auth/providers', '127.0.0.1', headers)).status).to.equal(200);
    expect(warningsAbout(fixture.server(), '127.0.0.1')).to.deep.equal([]);
  });
});
