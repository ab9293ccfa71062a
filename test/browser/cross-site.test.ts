/**
 * Cross-site logins tried as an attacker would, from a real page of another origin in headless Chromium: the page opens the
 * visitor's socket and posts "simple" requests to the HTTP login API. Neither runs a login; a token still works there, and
 * the server's own page still logs in.
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { loginTokens } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { buildDashboard } from '../helpers/web-build.js';

const CLIENT_ID = 'https://dashboard.example/';
const HANDLER = ['insecure_example', null];
/** The visitor's address may hold this many open flows: the page tries to fill them. */
const OPEN_FLOWS = 3;

/** What the attacker's page script reports: every frame its sockets received, in order. */
interface PageReport {
  readonly frames: Array<Record<string, any>>;
}

describe('Cross-site logins from a page of another origin (headless Chromium)', function () {
  this.timeout(90_000);
  let server: ServerProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let attacker: Server;
  let attackerOrigin: string;

  before(async function () {
    buildDashboard();
    // Another origin than the server's: the same host, another port.
    attacker = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<!doctype html><html><head><meta charset="utf-8"><title>A page about cats</title></head><body>cats</body></html>');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerOrigin = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
    [browser, server] = await Promise.all([
      launchBrowser(),
      startServerProcess({ config: { ...EXAMPLE_CONFIG, login_limits: { open_flows_per_address: OPEN_FLOWS } } }),
    ]);
  });
  after(async () => {
    await Promise.all([browser?.close(), server?.stop(), new Promise((resolve) => (attacker === undefined ? resolve(null) : attacker.close(resolve)))]);
  });
  beforeEach(async function () {
    context = await browser.newContext();
    page = await context.newPage();
  });
  afterEach(async () => context?.close());

  /** On the attacker's page: opens the server's socket, sends `commands` one by one and reports every frame received. */
  async function fromAttackerPage(commands: Array<Record<string, unknown>>): Promise<PageReport> {
    await page.goto(`${attackerOrigin}/`);
    // A string, as the page would run it: a function handed to evaluate() would carry the test runner's transpiler helpers.
    return page.evaluate(`(async () => {
      const frames = [];
      const socket = new WebSocket(${JSON.stringify(server.url)});
      function next() {
        return new Promise((resolve, reject) => {
          socket.addEventListener('message', (event) => resolve(JSON.parse(String(event.data))), { once: true });
          socket.addEventListener('close', () => reject(new Error('the socket closed')), { once: true });
        });
      }
      frames.push(await next());
      for (const command of ${JSON.stringify(commands)}) {
        socket.send(JSON.stringify(command));
        frames.push(await next());
      }
      socket.close();
      return { frames };
    })()`);
  }

  it("gets origin_not_allowed for auth/providers and login_flow/init on the visitor's socket, where a token still works", async function () {
    const { client } = await RawClient.open(server.url);
    const tokens = await loginTokens(client);
    client.close();
    const { frames } = await fromAttackerPage([
      { id: 1, type: 'auth/providers' },
      { id: 2, type: 'login_flow/init', handler: HANDLER, client_id: CLIENT_ID },
      { type: 'auth', access_token: tokens.access_token },
      { id: 3, type: 'auth/current_user' },
    ]);
    expect(frames[0]).to.include({ type: 'auth_required' });
    for (const [index, type] of [[1, 'auth/providers'], [2, 'login_flow/init']] as const) {
      expect(frames[index]).to.deep.equal({
        id: index,
        type: 'result',
        success: false,
        error: { code: 'origin_not_allowed', message: `${type} is refused to pages of ${attackerOrigin}: list that origin in http.cors_allowed_origins to let it log in` },
      });
    }
    // A page that already holds a token is no threat (Home Assistant's socket allows it too).
    expect(frames[3]).to.include({ type: 'auth_ok' });
    expect(frames[4]).to.deep.include({ id: 3, success: true });
    expect(frames[4]!['result']).to.include({ name: 'Alice Liddell' });
  });

  it("gets 403 for simple text/plain POSTs to /auth/login_flow, which fill none of the visitor's open flows", async function () {
    const statuses: number[] = [];
    page.on('response', (response) => {
      if (new URL(response.url()).pathname === '/auth/login_flow') statuses.push(response.status());
    });
    await page.goto(`${attackerOrigin}/`);
    const attempts = OPEN_FLOWS * 3;
    const url = `${server.httpUrl}/auth/login_flow`;
    const body = JSON.stringify({ client_id: CLIENT_ID, handler: HANDLER, redirect_uri: `${CLIENT_ID}cb` });
    // No Content-Type of its own and no custom header: "simple" requests, sent without a CORS preflight.
    await page.evaluate(`(async () => {
      for (let n = 0; n < ${attempts}; n++) {
        await fetch(${JSON.stringify(url)}, { method: 'POST', mode: 'no-cors', body: ${JSON.stringify(body)} }).catch(() => undefined);
      }
    })()`);
    expect(statuses).to.deep.equal(new Array<number>(attempts).fill(403));
    // The visitor (the same address: Chromium and this process are both 127.0.0.1) still has every place.
    const started: string[] = [];
    for (let n = 0; n < OPEN_FLOWS; n++) {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(response.status, `flow ${n + 1}`).to.equal(200);
      started.push(((await response.json()) as Record<string, string>)['flow_id']!);
    }
    for (const flowId of started) await fetch(`${url}/${flowId}`, { method: 'DELETE' });
  });

  it("logs in on the server's own page, whose CSP lets it connect to its own origin only", async function () {
    const response = await page.goto(`${server.httpUrl}/`);
    expect(response?.headers()['content-security-policy']).to.match(/(^|; )connect-src 'self';/);
    await page.getByRole('button', { name: /Example accounts/ }).click();
    await page.locator('input[name=username]').fill('alice');
    await page.locator('input[name=password]').fill('wonderland');
    await page.locator('button[type=submit]').click();
    await page.getByRole('heading', { name: 'Welcome, Alice Liddell' }).waitFor();
  });
});
