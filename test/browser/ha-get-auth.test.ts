/**
 * Home Assistant's OAuth login from a page of another origin, in real headless Chromium: home-assistant-js-websocket's
 * getAuth() sends the browser through Flowgate's /auth/authorize, comes back with a code, exchanges it with POST /auth/token
 * (CORS) and opens an authenticated connection with createConnection.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, launchBrowser } from '../helpers/browser.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { buildDashboard } from '../helpers/web-build.js';

/** HA's client library as one browser script (its UMD build defines `window.HAWS`). */
const HAWS_BUNDLE = readFileSync(createRequire(import.meta.url).resolve('home-assistant-js-websocket/dist/haws.umd.js'), 'utf8');

/** The application page: getAuth, then createConnection and getUser; what it finds is written into the page for the test. */
const APP_PAGE = (flowgateUrl: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>Some HA app</title><script src="/haws.umd.js"></script></head>
<body><p id="state">starting</p>
<script>
  const state = document.getElementById('state');
  (async () => {
    try {
      const auth = await HAWS.getAuth({ hassUrl: ${JSON.stringify(flowgateUrl)} });
      const connection = await HAWS.createConnection({ auth });
      const user = await HAWS.getUser(connection);
      state.dataset.user = user.name;
      state.dataset.refresh = auth.data.refresh_token ? 'yes' : 'no';
      state.textContent = 'connected as ' + user.name;
    } catch (error) {
      state.textContent = 'failed: ' + String(error && error.message || error);
    }
  })();
</script></body></html>`;

describe("Home Assistant's getAuth() through /auth/authorize (headless Chromium)", function () {
  this.timeout(90_000);
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let server: ServerProcess;
  let app: Server;
  let appOrigin: string;

  before(async function () {
    buildDashboard();
    app = createServer((request, response) => {
      if (request.url === '/haws.umd.js') {
        response.writeHead(200, { 'content-type': 'text/javascript' });
        response.end(HAWS_BUNDLE);
        return;
      }
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(APP_PAGE(server.httpUrl));
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    // Another origin than Flowgate's: the same host, another port.
    appOrigin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    [browser, server] = await Promise.all([
      launchBrowser(),
      startServerProcess({ config: { ...EXAMPLE_CONFIG, http: { cors_allowed_origins: [appOrigin] } } }),
    ]);
  });
  after(async () => {
    await Promise.all([browser?.close(), server?.stop(), new Promise((resolve) => (app === undefined ? resolve(null) : app.close(resolve)))]);
  });
  beforeEach(async function () {
    context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    page = await context.newPage();
  });
  afterEach(async () => context?.close());

  it('logs in on the authorize page, returns to the app with a code, and connects with the exchanged tokens', async function () {
    await page.goto(`${appOrigin}/`);
    // getAuth sent the browser to Flowgate's authorize page, for the app's client id.
    await page.waitForURL((url) => url.pathname === '/auth/authorize', { timeout: 15_000 });
    const authorize = new URL(page.url());
    expect(authorize.origin).to.equal(new URL(server.httpUrl).origin);
    expect(authorize.searchParams.get('client_id')).to.equal(`${appOrigin}/`);
    await page.getByText(`Sign in to continue to ${new URL(appOrigin).host}`, { exact: false }).waitFor();
    await page.getByRole('button', { name: /Example accounts/ }).click();
    await page.locator('input[name=username]').fill('alice');
    await page.locator('input[name=password]').fill('wonderland');
    await page.screenshot({ path: artifactPath('ha-get-auth-authorize.png') });
    await page.locator('button[type=submit]').click();
    // Back at the app with ?auth_callback=1&code=...&state=..., which getAuth exchanges and connects with.
    const state = page.locator('#state[data-user]');
    await state.waitFor({ timeout: 20_000 });
    expect(new URL(page.url()).origin).to.equal(appOrigin);
    expect(await state.getAttribute('data-user')).to.equal('Alice Liddell');
    expect(await state.getAttribute('data-refresh')).to.equal('yes');
    await page.screenshot({ path: artifactPath('ha-get-auth-connected.png') });
  });

  it('refuses to send the browser to a redirect_uri the client id does not vouch for', async function () {
    const evil = 'https://evil.example/steal';
    await page.goto(`${server.httpUrl}/auth/authorize?response_type=code&client_id=${encodeURIComponent(`${appOrigin}/`)}&redirect_uri=${encodeURIComponent(evil)}&state=x`);
    await page.getByRole('button', { name: /Example accounts/ }).click();
    await page.getByText('its return address is not one this server accepts', { exact: false }).waitFor({ timeout: 10_000 });
    expect(new URL(page.url()).origin).to.equal(new URL(server.httpUrl).origin);
  });

  it('says what is missing from an incomplete authorize link, and starts no login', async function () {
    await page.goto(`${server.httpUrl}/auth/authorize?response_type=code&client_id=${encodeURIComponent(`${appOrigin}/`)}`);
    await page.getByText('it does not say where to return (redirect_uri)', { exact: false }).waitFor({ timeout: 10_000 });
    expect(await page.getByRole('button', { name: /Example accounts/ }).count()).to.equal(0);
  });
});
