/**
 * The authorize page sends a flow's code only to the request the flow was started for, attacked in real headless Chromium:
 * a page of another origin opens the authorize window for a real application, waits until the victim is at the password
 * form, then navigates that window to the same link with its own `redirect_uri`. The page must not resume the victim's flow
 * for the new link (it ends it and starts over, so the server checks the new redirect URI), and no code reaches the attacker.
 */
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, launchBrowser } from '../helpers/browser.js';
import { RawClient } from '../helpers/raw-client.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { buildDashboard } from '../helpers/web-build.js';

/** The application's own state parameter, which its callback checks. */
const APP_STATE = 'app-state-1';
/** What the victim reads once the window's link changed under the form (clients/web/src/main.ts). */
const LINK_CHANGED = 'The sign-in link changed while you were signing in';
const REFUSED_REDIRECT = 'its return address is not one this server accepts';

/** A plain HTTP server that answers every request with `html` and remembers each request's URL. */
async function recordingServer(html: (url: URL) => string): Promise<{ server: Server; origin: string; hits: URL[] }> {
  const hits: URL[] = [];
  let origin = '';
  const server = createServer((request: IncomingMessage, response) => {
    const url = new URL(request.url ?? '/', origin);
    hits.push(url);
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html(url));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, origin, hits };
}

describe('The authorize page against a window navigated mid-login (headless Chromium)', function () {
  this.timeout(90_000);
  let browser: Browser;
  let flowgate: ServerProcess;
  let app: Awaited<ReturnType<typeof recordingServer>>;
  let attacker: Awaited<ReturnType<typeof recordingServer>>;
  let context: BrowserContext;

  const clientId = (): string => `${app.origin}/`;
  const authorizeUrl = (redirectUri: string): string =>
    `${flowgate.httpUrl}/auth/authorize?response_type=code&client_id=${encodeURIComponent(clientId())}&redirect_uri=${encodeURIComponent(redirectUri)}&state=${APP_STATE}`;
  const codesAt = (server: { hits: URL[] }): URL[] => server.hits.filter((hit) => hit.searchParams.has('code'));

  /** The attacker's page opens the authorize window for the real application (a click: a user gesture, as a real page needs). */
  async function openVictimWindow(): Promise<{ attackerPage: Page; popup: Page }> {
    const attackerPage = await context.newPage();
    await attackerPage.goto(`${attacker.origin}/`);
    const opened = context.waitForEvent('page');
    await attackerPage.locator('#open').click();
    const popup = await opened;
    // The victim picks the method and is at the password form: the flow is saved in the window's sessionStorage.
    await popup.getByRole('button', { name: /Example accounts/ }).click();
    await popup.locator('input[name=password]').waitFor();
    return { attackerPage, popup };
  }

  /** The attacker navigates the window it opened (allowed across origins) to the same link with another redirect URI. */
  async function navigateVictim(attackerPage: Page, popup: Page, redirectUri: string): Promise<void> {
    await attackerPage.evaluate(`window.victim.location.href = ${JSON.stringify(authorizeUrl(redirectUri))}`);
    await popup.waitForURL((url) => url.searchParams.get('redirect_uri') === redirectUri);
  }

  /** The victim signs in with whatever the window shows: the password form if it is there, else the method first. */
  async function victimSignsIn(popup: Page): Promise<void> {
    const password = popup.locator('input[name=password]');
    const method = popup.getByRole('button', { name: /Example accounts/ });
    await password.or(method).first().waitFor();
    if (!(await password.isVisible())) {
      await method.click();
      await password.or(popup.getByText(REFUSED_REDIRECT, { exact: false })).first().waitFor();
      if (!(await password.isVisible())) return;
    }
    await popup.locator('input[name=username]').fill('alice');
    await password.fill('wonderland');
    await popup.locator('button[type=submit]').click();
  }

  before(async function () {
    buildDashboard();
    app = await recordingServer((url) => `<!doctype html><title>App</title><p id="at">${url.pathname}</p>`);
    attacker = await recordingServer(
      () => `<!doctype html><title>Attacker</title><button id="open">Open</button>
<script>document.getElementById('open').onclick = () => { window.victim = window.open(${JSON.stringify(authorizeUrl(`${app.origin}/callback`))}, 'signin'); };</script>`,
    );
    [browser, flowgate] = await Promise.all([launchBrowser(), startServerProcess({ config: EXAMPLE_CONFIG })]);
  });
  after(async () => {
    await Promise.all([browser?.close(), flowgate?.stop(), ...[app, attacker].map((s) => new Promise((resolve) => (s === undefined ? resolve(null) : s.server.close(resolve))))]);
  });
  beforeEach(async function () {
    context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    app.hits.length = 0;
    attacker.hits.length = 0;
  });
  afterEach(async () => context?.close());

  it('sends no code to a redirect_uri of the attacker\u2019s own site that a navigation put in the window mid-login', async function () {
    const { attackerPage, popup } = await openVictimWindow();
    const stolen = `${attacker.origin}/steal`;
    await navigateVictim(attackerPage, popup, stolen);
    await victimSignsIn(popup);
    // Either the browser lands on the attacker's page (the attack worked) or the page refuses the new return address.
    const landed = popup.waitForURL((url) => url.origin === attacker.origin, { timeout: 15_000 }).then(() => 'landed');
    const refused = popup.getByText(REFUSED_REDIRECT, { exact: false }).waitFor({ timeout: 15_000 }).then(() => 'refused');
    const outcome = await Promise.any([landed, refused]).catch(() => 'neither');
    await popup.screenshot({ path: artifactPath('authorize-resume-attacker-site.png') });
    expect(codesAt(attacker).map((hit) => hit.href)).to.deep.equal([]);
    expect(outcome).to.equal('refused');
    expect(new URL(popup.url()).origin).to.equal(new URL(flowgate.httpUrl).origin);
  });

  it('does not resume the flow for another redirect_uri the client may use: it ends that flow and starts over, saying why', async function () {
    const { attackerPage, popup } = await openVictimWindow();
    const saved = JSON.parse(String(await popup.evaluate("sessionStorage.getItem('flowgate.flow')"))) as { flowId: string };
    // A path on the application's own host (which the server accepts at init): still not the flow's redirect URI.
    await navigateVictim(attackerPage, popup, `${app.origin}/elsewhere`);
    await popup.getByText(LINK_CHANGED, { exact: false }).waitFor({ timeout: 10_000 });
    expect(await popup.locator('input[name=password]').count()).to.equal(0);
    expect(await popup.getByRole('button', { name: /Example accounts/ }).count()).to.equal(1);
    // The victim's flow is gone on the server too: nobody can finish it into a code.
    const { client } = await RawClient.open(flowgate.url);
    try {
      for (let tries = 0; ; tries += 1) {
        const reply = (await client.command({ type: 'login_flow/get', flow_id: saved.flowId, client_id: clientId() })) as { error?: { code: string } };
        if (reply.error?.code === 'not_found' || tries >= 20) {
          expect(reply.error?.code).to.equal('not_found');
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      client.close();
    }
    expect(codesAt(app)).to.deep.equal([]);
  });

  it('still resumes the flow after a reload of the same link, and returns the code to the flow\u2019s redirect_uri with its state', async function () {
    const { popup } = await openVictimWindow();
    await popup.reload();
    await popup.locator('input[name=password]').waitFor();
    await victimSignsIn(popup);
    await popup.waitForURL((url) => url.origin === app.origin, { timeout: 15_000 });
    const [callback] = codesAt(app);
    expect(callback?.pathname).to.equal('/callback');
    expect(callback?.searchParams.get('state')).to.equal(APP_STATE);
  });
});
