/** The dashboard in real headless Chromium against a real server: log in, survive a reload mid-flow, revoke sessions. */
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, launchBrowser } from '../helpers/browser.js';
import { loginTokens } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { buildDashboard } from '../helpers/web-build.js';

describe('The dashboard in a browser', function () {
  // Chromium's first start and page loads take seconds on a small machine; only these tests need that much.
  this.timeout(90_000);
  let server: ServerProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async function () {
    buildDashboard();
    server = await startServerProcess({ config: EXAMPLE_CONFIG });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });
  beforeEach(async function () {
    context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    page = await context.newPage();
    await page.goto(`${server.httpUrl}/`);
  });
  afterEach(async () => context?.close());

  async function startExampleLogin(): Promise<void> {
    await page.getByRole('button', { name: /Example accounts/ }).click();
    await page.locator('input[name=username]').waitFor();
  }

  async function submit(username: string, password: string): Promise<void> {
    await page.locator('input[name=username]').fill(username);
    await page.locator('input[name=password]').fill(password);
    await page.locator('button[type=submit]').click();
  }

  it('logs in after a wrong password, showing the error in words, then the name and sessions', async function () {
    await startExampleLogin();
    await submit('alice', 'nope');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect((await alert.textContent())?.trim()).to.equal('Wrong username or password.');
    await page.screenshot({ path: artifactPath('dashboard-wrong-password.png'), fullPage: true });
    await submit('alice', 'wonderland');
    await page.getByRole('heading', { name: 'Welcome, Alice Liddell' }).waitFor();
    expect(await page.locator('table.sessions tbody tr').count()).to.be.at.least(1);
    await page.screenshot({ path: artifactPath('dashboard-signed-in.png'), fullPage: true });
  });

  it('resumes the flow after a reload in the middle of it', async function () {
    await startExampleLogin();
    const flowBefore = await page.evaluate("sessionStorage.getItem('flowgate.flow')");
    await page.reload();
    await page.locator('input[name=password]').waitFor();
    expect(await page.evaluate("sessionStorage.getItem('flowgate.flow')")).to.equal(flowBefore);
    await page.screenshot({ path: artifactPath('dashboard-resumed.png'), fullPage: true });
    await submit('alice', 'wonderland');
    await page.getByRole('heading', { name: 'Welcome, Alice Liddell' }).waitFor();
  });

  it('revokes another session from the list, and returns to the login form when its own session is revoked', async function () {
    const { client } = await RawClient.open(server.url);
    await loginTokens(client, 'https://other-device.example/');
    client.close();
    await startExampleLogin();
    await submit('alice', 'wonderland');
    const other = page.locator('tr', { hasText: 'https://other-device.example/' });
    await other.first().waitFor();
    const before = await page.locator('table.sessions tbody tr').count();
    await other.first().getByRole('button', { name: /Revoke/ }).click();
    // Wait with a locator, not page.waitForFunction: its polling evaluates strings in the page, which the
    // dashboard's Content-Security-Policy (no 'unsafe-eval') rightly refuses.
    await other.first().waitFor({ state: 'detached' });
    expect(await page.locator('table.sessions tbody tr').count()).to.equal(before - 1);
    await page.screenshot({ path: artifactPath('dashboard-sessions.png'), fullPage: true });
    await page.getByRole('button', { name: /this session/ }).click();
    await page.getByText('Your session was revoked. Sign in again.').waitFor();
    expect(await page.getByRole('heading', { name: 'Sign in' }).isVisible()).to.equal(true);
    await page.screenshot({ path: artifactPath('dashboard-revoked.png'), fullPage: true });
  });
});
