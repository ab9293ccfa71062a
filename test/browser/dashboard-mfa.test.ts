/**
 * The dashboard's two-factor authentication in real headless Chromium against a real server process: TOTP set up on the page
 * (QR code and key, a screenshot kept), the MFA login steps, recovery codes shown once, and turning a module off.
 */
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, launchBrowser } from '../helpers/browser.js';
import { type ExampleUser, exampleUsers, mfaConfig, nextTotpCode, setUpTotpOverSocket, totpCode } from '../helpers/mfa.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { buildDashboard } from '../helpers/web-build.js';

const USERS = exampleUsers('ada', 'brian', 'cleo');
const [ADA, BRIAN, CLEO] = USERS as [ExampleUser, ExampleUser, ExampleUser];

describe('The dashboard with two-factor authentication', function () {
  // Chromium's first start and page loads take seconds on a small machine.
  this.timeout(90_000);
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let server: ServerProcess;

  before(async function () {
    buildDashboard();
    [browser, server] = await Promise.all([launchBrowser(), startServerProcess({ config: mfaConfig(USERS, [{ type: 'totp' }, { type: 'recovery' }]) })]);
  });
  after(async () => Promise.all([browser?.close(), server?.stop()]));
  beforeEach(async function () {
    context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    page = await context.newPage();
    await page.goto(`${server.httpUrl}/`);
  });
  afterEach(async () => context?.close());

  /** Picks the provider and answers its form; the page then shows the MFA step or the signed-in view. */
  async function enterPassword(user: ExampleUser): Promise<void> {
    await page.getByRole('button', { name: /Example accounts/ }).click();
    await page.locator('input[name=username]').fill(user.username);
    await page.locator('input[name=password]').fill(user.password);
    await page.locator('button[type=submit]').click();
  }

  const welcome = (user: ExampleUser) => page.getByRole('heading', { name: `Welcome, ${user.name}` });
  const moduleRow = (id: string) => page.locator(`.mfa-modules li[data-module-id="${id}"]`);

  async function signOut(): Promise<void> {
    await page.getByRole('button', { name: /this session/ }).click();
    await page.getByText('Your session was revoked. Sign in again.').waitFor();
  }

  /** Sets up TOTP through the page: the key read from the page, the code computed from it. Returns the key. */
  async function setUpTotpOnPage(): Promise<string> {
    await page.getByRole('button', { name: 'Set up Authenticator app' }).click();
    await page.getByRole('heading', { name: 'Set up Authenticator app' }).waitFor();
    const secret = ((await page.locator('code.secret').textContent()) ?? '').trim();
    expect(secret).to.match(/^[A-Z2-7]{32}$/);
    await page.locator('input[name=code]').fill(totpCode(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByText('Authenticator app is on: your next sign-in asks for a code from it.').waitFor();
    return secret;
  }

  it('sets up TOTP with the QR code shown, then signs in again through the code step', async function () {
    await enterPassword(ADA);
    await welcome(ADA).waitFor();
    expect(await page.getByRole('heading', { name: 'Two-factor authentication' }).isVisible()).to.equal(true);
    expect((await moduleRow('totp').innerText()).replace(/\s+/g, ' ').trim()).to.equal('Authenticator app Off Set up');

    await page.getByRole('button', { name: 'Set up Authenticator app' }).click();
    const qr = page.getByRole('img', { name: 'QR code to scan with your authenticator app' });
    await qr.waitFor();
    // Shown and decoded: a laid-out box, and an image the browser could read (a broken image has no natural size).
    const box = await qr.boundingBox();
    expect(box?.width ?? 0).to.be.greaterThan(100);
    expect(box?.height ?? 0).to.be.greaterThan(100);
    expect(await qr.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).to.be.greaterThan(0);
    expect(await qr.getAttribute('src')).to.match(/^data:image\/svg\+xml;/);
    const screenshot = artifactPath('dashboard-mfa-totp-setup.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`      screenshot of the TOTP setup page: ${screenshot}`);

    const secret = ((await page.locator('code.secret').textContent()) ?? '').trim();
    await page.locator('input[name=code]').fill('000000');
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('alert').getByText('The code is not valid. Check it and try again.').waitFor();
    // The same key is shown again, so the app entry already made still works.
    expect(((await page.locator('code.secret').textContent()) ?? '').trim()).to.equal(secret);
    await page.locator('input[name=code]').fill(totpCode(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByText('Authenticator app is on: your next sign-in asks for a code from it.').waitFor();
    expect((await moduleRow('totp').innerText()).replace(/\s+/g, ' ').trim()).to.equal('Authenticator app On Turn off');

    await signOut();
    await enterPassword(ADA);
    await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
    expect(await page.getByText('Enter the code from Authenticator app.').isVisible()).to.equal(true);
    await page.locator('input[name=code]').fill('000000');
    await page.locator('button[type=submit]').click();
    await page.getByRole('alert').getByText('The code is not valid. Check it and try again.').waitFor();
    await page.locator('input[name=code]').fill(nextTotpCode(secret));
    await page.locator('button[type=submit]').click();
    await welcome(ADA).waitFor();
  });

  it('shows ten recovery codes once; with two methods the sign-in asks which, and a recovery code signs in', async function () {
    await enterPassword(BRIAN);
    await welcome(BRIAN).waitFor();
    await page.getByRole('button', { name: 'Set up Recovery codes' }).click();
    await page.getByText('You get 10 recovery codes.', { exact: false }).waitFor();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    expect(await page.getByText('They are shown only now', { exact: false }).isVisible()).to.equal(true);
    const codes = await page.locator('.recovery-codes li').allInnerTexts();
    expect(codes).to.have.length(10);
    for (const code of codes) expect(code.trim()).to.match(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
    await page.screenshot({ path: artifactPath('dashboard-mfa-recovery-codes.png'), fullPage: true });
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await welcome(BRIAN).waitFor();
    // Once only: the signed-in view has them nowhere, and nothing on it shows them again.
    expect(await page.locator('body').innerText()).not.to.contain(codes[0]?.trim());
    expect((await moduleRow('recovery').innerText()).replace(/\s+/g, ' ').trim()).to.equal('Recovery codes On Turn off');

    await setUpTotpOnPage();
    await signOut();
    await enterPassword(BRIAN);
    await page.getByText('Choose how you want to confirm that it is you.').waitFor();
    const select = page.getByLabel('Two-factor method');
    expect(await select.locator('option:not([disabled])').allInnerTexts()).to.deep.equal(['Authenticator app', 'Recovery codes']);
    await select.selectOption({ label: 'Recovery codes' });
    await page.locator('button[type=submit]').click();
    await page.getByText('Enter the code from Recovery codes.').waitFor();
    await page.locator('input[name=code]').fill(codes[0]?.trim() ?? '');
    await page.locator('button[type=submit]').click();
    await welcome(BRIAN).waitFor();
  });

  it('turns TOTP off, and the next sign-in asks for no code', async function () {
    const secret = await setUpTotpOverSocket(server.url, CLEO);
    await enterPassword(CLEO);
    await page.getByText('Enter the code from Authenticator app.').waitFor();
    await page.locator('input[name=code]').fill(nextTotpCode(secret));
    await page.locator('button[type=submit]').click();
    await welcome(CLEO).waitFor();

    await page.getByRole('button', { name: 'Turn off Authenticator app' }).click();
    await page.getByText('Authenticator app is off: your sign-ins no longer ask for it.').waitFor();
    expect((await moduleRow('totp').innerText()).replace(/\s+/g, ' ').trim()).to.equal('Authenticator app Off Set up');

    await signOut();
    await enterPassword(CLEO);
    await welcome(CLEO).waitFor();
  });
});
