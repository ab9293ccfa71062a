/**
 * Step-up in the dashboard, in real headless Chromium against a real server process whose privileged window is two seconds: a
 * privileged change on an older sign-in asks for the password (and the second factor) again in a dialog over the page, then
 * goes on; cancelling, or another account's password, changes nothing and says so.
 */
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, launchBrowser } from '../helpers/browser.js';
import { nextTotpCode, totpCode } from '../helpers/mfa.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { ALICE, BOB, OWNER, prepareAccounts, sleepPastWindow, stepUpConfig, type Account } from '../helpers/step-up.js';
import { buildDashboard } from '../helpers/web-build.js';

const CAROL: Account = { username: 'carol', password: 'carol-ember-thistle-53', name: 'Carol' };

describe('The dashboard asks for the password again before a privileged change', function () {
  // Chromium's first start and page loads take seconds on a small machine.
  this.timeout(90_000);
  let browser: Browser;
  let server: ServerProcess;
  let context: BrowserContext;
  let page: Page;

  before(async function () {
    buildDashboard();
    const config = stepUpConfig();
    const dir = await prepareAccounts(config, [OWNER, ALICE, BOB, CAROL]);
    [browser, server] = await Promise.all([launchBrowser(), startServerProcess({ config, dir })]);
  });
  after(async () => Promise.all([browser?.close(), server?.stop()]));
  beforeEach(async function () {
    context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    page = await context.newPage();
    await page.goto(`${server.httpUrl}/`);
  });
  afterEach(async () => context?.close());

  const dialog = () => page.getByRole('dialog');

  async function signIn(account: Account): Promise<void> {
    await page.getByRole('button', { name: /Local accounts/ }).click();
    await page.locator('input[name=username]').fill(account.username);
    await page.locator('input[name=password]').fill(account.password);
    await page.locator('button[type=submit]').click();
    await page.getByRole('heading', { name: `Welcome, ${account.name}` }).waitFor();
  }

  /** Answers the dialog's password form with `account`. */
  async function confirmWith(account: Pick<Account, 'username' | 'password'>): Promise<void> {
    await dialog().getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await dialog().locator('input[name=username]').fill(account.username);
    await dialog().locator('input[name=password]').fill(account.password);
    await dialog().getByRole('button', { name: 'Confirm' }).click();
  }

  it('asks for the password and the authenticator code again before turning two-factor off, then turns it off', async function () {
    await signIn(CAROL);
    await page.getByRole('button', { name: 'Set up Authenticator app' }).click();
    await page.getByRole('heading', { name: 'Set up Authenticator app' }).waitFor();
    const secret = ((await page.locator('code.secret').textContent()) ?? '').trim();
    await page.locator('input[name=code]').fill(totpCode(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByText('Authenticator app is on: your next sign-in asks for a code from it.').waitFor();

    await sleepPastWindow();
    await page.getByRole('button', { name: 'Turn off Authenticator app' }).click();
    await dialog().getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await page.screenshot({ path: artifactPath('dashboard-step-up-dialog.png'), fullPage: true });
    // The page stays as it was under the dialog.
    expect(await page.getByRole('heading', { name: `Welcome, ${CAROL.name}`, includeHidden: true }).count()).to.equal(1);
    await confirmWith(CAROL);
    await dialog().getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
    await dialog().locator('input[name=code]').fill(nextTotpCode(secret));
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Authenticator app is off: your sign-ins no longer ask for it.').waitFor();
    expect(await dialog().count()).to.equal(0);
  });

  it('changes nothing when the dialog is cancelled or answered with another account, and saves once the owner confirms', async function () {
    await signIn(OWNER);
    await page.getByRole('button', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await sleepPastWindow();
    await page.getByRole('button', { name: `Edit ${BOB.name}` }).click();
    const details = page.getByRole('form', { name: `Details of ${BOB.name}` });
    await details.locator('input[name=name]').fill('Robert');
    await details.getByRole('button', { name: 'Save changes' }).click();

    await dialog().getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await dialog().getByRole('button', { name: 'Cancel' }).click();
    await details.getByRole('alert').getByText('Nothing was changed: you did not confirm it is you.').waitFor();

    await details.getByRole('button', { name: 'Save changes' }).click();
    await confirmWith(ALICE);
    await details.getByRole('alert').getByText('the password you entered is for another account', { exact: false }).waitFor();

    await details.getByRole('button', { name: 'Save changes' }).click();
    await confirmWith(OWNER);
    await page.getByText('Saved the changes to Robert.').waitFor();
    expect(await page.locator('tr', { hasText: 'Robert' }).count()).to.equal(1);
  });
});
