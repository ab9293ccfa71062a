/**
 * The dashboard's side of OWASP's device cookie and of login limits, in real headless Chromium: it keeps the device token
 * in localStorage, presents it with login_flow/init, and says `rate_limited` in words with the wait.
 */
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { DataSchema } from '@flowgate/shared';
import { artifactPath, launchBrowser } from '../helpers/browser.js';
import { form, ScriptedError, ScriptedPeer, type PeerScript } from '../helpers/scripted-peer.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { buildDashboard } from '../helpers/web-build.js';

const STORAGE_PREFIX = 'flowgate.device_token:';
const FIELDS: DataSchema = [
  { name: 'username', type: 'string', required: true },
  { name: 'password', type: 'string', required: true },
];

/** What the peer does with the next init and steps; each test sets it. */
let refuse: { on: 'init' | 'step'; retryAfter: number } | undefined;

const SCRIPT: PeerScript = {
  providers: [{ type: 'password', id: null, name: 'Password' }],
  init(flow) {
    if (refuse?.on === 'init') throw rateLimited(refuse.retryAfter);
    return form(flow, FIELDS);
  },
  step(flow) {
    if (refuse?.on === 'step') throw rateLimited(refuse.retryAfter);
    return form(flow, FIELDS, { base: 'invalid_auth' });
  },
};

function rateLimited(retryAfter: number): ScriptedError {
  return new ScriptedError({ code: 'rate_limited', message: 'Too many failed logins from your address; try again later', retry_after: retryAfter });
}

/** Both the peer and the real server serve the dashboard at the root of their HTTP URL, and the socket at /api/websocket. */
const socketUrlOf = (httpUrl: string): string => `${httpUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/api/websocket`;

describe('The dashboard and device tokens', function () {
  // Chromium's first start and page loads take seconds on a small machine.
  this.timeout(90_000);
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async function () {
    buildDashboard();
    browser = await launchBrowser();
  });
  after(async () => browser?.close());
  beforeEach(async function () {
    context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    page = await context.newPage();
  });
  afterEach(async () => context?.close());

  const storedToken = (httpUrl: string): Promise<unknown> => page.evaluate(`localStorage.getItem(${JSON.stringify(STORAGE_PREFIX + socketUrlOf(httpUrl))})`);

  describe('against a scripted peer', function () {
    let peer: ScriptedPeer;
    before(async () => (peer = await ScriptedPeer.start(SCRIPT)));
    after(async () => peer?.close());
    beforeEach(async function () {
      refuse = undefined;
      peer.reset();
      await page.goto(peer.url);
    });

    /** Puts `token` in localStorage as an earlier login would have, and reloads so the page starts with it. */
    async function keepToken(token: string): Promise<void> {
      await page.evaluate(`localStorage.setItem(${JSON.stringify(STORAGE_PREFIX + socketUrlOf(peer.url))}, ${JSON.stringify(token)})`);
      await page.reload();
    }

    async function openForm(): Promise<void> {
      await peer.guard(page.getByRole('button', { name: /Password/ }).click());
      await peer.guard(page.locator('input[name=username]').waitFor());
    }

    const initCommands = () => peer.received.filter((c) => c.type === 'login_flow/init');

    it('presents the device token kept in localStorage for this server with login_flow/init', async function () {
      const token = 'd'.repeat(64);
      await keepToken(token);
      await openForm();
      expect(initCommands().map((c) => c['device_token'])).to.deep.equal([token]);
      peer.assertNoProblems();
    });

    it('sends no device_token when none is kept, or when the kept value is not one a server could read', async function () {
      await openForm();
      // Back to the methods (which ends the flow, so the reload below does not resume it), then a damaged token.
      await page.getByRole('button', { name: 'Use another method' }).click();
      await keepToken('x'.repeat(600));
      await openForm();
      expect(initCommands()).to.have.length(2);
      for (const init of initCommands()) expect(init, 'no device_token key at all').not.to.have.property('device_token');
      peer.assertNoProblems();
    });

    it('says a refused login step is rate limited, with the wait in minutes, and ends the flow', async function () {
      await openForm();
      refuse = { on: 'step', retryAfter: 221 };
      await page.locator('input[name=username]').fill('alice');
      await page.locator('input[name=password]').fill('guess');
      await page.locator('button[type=submit]').click();
      const alert = page.getByRole('alert');
      await peer.guard(alert.waitFor());
      expect((await alert.textContent())?.trim()).to.equal('Too many failed attempts. Try again in 4 minutes.');
      expect(await page.locator('body').innerText()).not.to.contain('rate_limited');
      // Back at the choice of methods, so the person can try again once the wait is over.
      await page.getByRole('button', { name: /Password/ }).waitFor();
      expect(peer.received.map((c) => c.type)).to.include('login_flow/abort');
      await page.screenshot({ path: artifactPath('dashboard-rate-limited.png'), fullPage: true });
      peer.assertNoProblems();
    });

    it('says a refused login_flow/init is rate limited, with the wait in seconds', async function () {
      refuse = { on: 'init', retryAfter: 30 };
      await peer.guard(page.getByRole('button', { name: /Password/ }).click());
      const alert = page.getByRole('alert');
      await peer.guard(alert.waitFor());
      expect((await alert.textContent())?.trim()).to.equal('Too many failed attempts. Try again in 30 seconds.');
      peer.assertNoProblems();
    });
  });

  // Needs the server side of issue 9: the server issues device_token with the authorization-code grant.
  describe('against a real server', function () {
    let server: ServerProcess;
    before(async () => (server = await startServerProcess({ config: EXAMPLE_CONFIG })));
    after(async () => server?.stop());
    beforeEach(async () => page.goto(`${server.httpUrl}/`));

    async function logIn(): Promise<void> {
      await page.getByRole('button', { name: /Example accounts/ }).click();
      await page.locator('input[name=username]').fill('alice');
      await page.locator('input[name=password]').fill('wonderland');
      await page.locator('button[type=submit]').click();
      await page.getByRole('heading', { name: 'Welcome, Alice Liddell' }).waitFor();
    }

    it('keeps the device token of a login in localStorage and presents it with the next login_flow/init', async function () {
      await logIn();
      const token = await storedToken(server.httpUrl);
      expect(token, 'a device token kept for this server').to.be.a('string').and.not.equal('');
      // A new tab of the same browser (same localStorage, fresh sessionStorage) signs in again.
      page = await context.newPage();
      const inits: Array<Record<string, unknown>> = [];
      page.on('websocket', (socket) =>
        socket.on('framesent', ({ payload }) => {
          const frame = JSON.parse(String(payload)) as Record<string, unknown>;
          if (frame['type'] === 'login_flow/init') inits.push(frame);
        }),
      );
      await page.goto(`${server.httpUrl}/`);
      await logIn();
      expect(inits.map((frame) => frame['device_token'])).to.deep.equal([token]);
    });
  });
});
