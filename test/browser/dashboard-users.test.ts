/**
 * The dashboard's Users page in real headless Chromium against a real server process with the password provider: the owner
 * (made by `flowgate user add`) lists, creates, renames, promotes, deactivates, resets and deletes users, and each change is
 * checked from the other user's own browser: signing in, seeing Users or not, being signed out.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { stringify } from 'yaml';
import { artifactPath, launchBrowser } from '../helpers/browser.js';
import { runFlowgate, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { buildDashboard } from '../helpers/web-build.js';

/** Cheap argon2 (still a real hash): every sign-in of these tests verifies one. */
const CONFIG = { auth_providers: [{ type: 'password', argon2: { memory_kib: 1024, time_cost: 1, parallelism: 1 } }] };
const OWNER = { username: 'olive', password: 'owner-pass-1', name: 'Olive Owner' };

interface Person {
  readonly username: string;
  readonly password: string;
  readonly name: string;
}

describe('The dashboard Users page', function () {
  // Chromium's first start and page loads take seconds on a small machine.
  this.timeout(90_000);
  let browser: Browser;
  let server: ServerProcess;
  const contexts: BrowserContext[] = [];
  /** The owner's page, signed in on the Users page at the start of each test. */
  let admin: Page;

  before(async function () {
    buildDashboard();
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-users-page-'));
    const configPath = join(dir, 'flowgate.yaml');
    writeFileSync(configPath, stringify(CONFIG));
    const added = await runFlowgate(['user', 'add', OWNER.username, '--name', OWNER.name, '--password-stdin', '--config', configPath], {}, dir, `${OWNER.password}\n`);
    expect(added.code, added.stderr).to.equal(0);
    [browser, server] = await Promise.all([launchBrowser(), startServerProcess({ config: CONFIG, dir })]);
  });
  after(async () => Promise.all([browser?.close(), server?.stop()]));
  beforeEach(async function () {
    admin = await newPage();
    await signIn(admin, OWNER);
    await openUsers(admin);
  });
  afterEach(async () => Promise.all(contexts.splice(0).map((context) => context.close())));

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${server.httpUrl}/`);
    return page;
  }

  /** Picks the one provider and answers its form; the page then shows the signed-in view (or the form's error). */
  async function enterPassword(page: Page, person: Pick<Person, 'username' | 'password'>): Promise<void> {
    await page.getByRole('button', { name: /Local accounts/ }).click();
    await answerPasswordForm(page, person);
  }

  async function answerPasswordForm(page: Page, person: Pick<Person, 'username' | 'password'>): Promise<void> {
    await page.locator('input[name=username]').fill(person.username);
    await page.locator('input[name=password]').fill(person.password);
    await page.locator('button[type=submit]').click();
  }

  const welcome = (page: Page, person: Pick<Person, 'name'>) => page.getByRole('heading', { name: `Welcome, ${person.name}` });

  async function signIn(page: Page, person: Person): Promise<void> {
    await enterPassword(page, person);
    await welcome(page, person).waitFor();
  }

  async function signOut(page: Page): Promise<void> {
    await page.getByRole('button', { name: /this session/ }).click();
    await page.getByText('Your session was revoked. Sign in again.').waitFor();
  }

  async function openUsers(page: Page): Promise<void> {
    await page.getByRole('button', { name: 'Users', exact: true }).click();
    await page.getByRole('heading', { name: 'Users', exact: true }).waitFor();
  }

  const usersButtons = (page: Page) => page.getByRole('button', { name: 'Users', exact: true });
  const row = (name: string) => admin.locator('tbody tr').filter({ has: admin.locator('.client', { hasText: new RegExp(`^${name}$`) }) });
  /** A row as words, cell by cell, each badge and button a word of its own: `Name Owner You | username | Group | ...`. */
  const rowText = async (name: string) => {
    const cells = await row(name)
      .locator('td')
      .evaluateAll((tds) => tds.map((td) => Array.from(td.childNodes, (node: { textContent: string | null }) => (node.textContent ?? '').trim()).filter(Boolean).join(' ')));
    return cells.join(' | ');
  };

  /** Adds a user through the page's form, as a user or an administrator; back on the list afterwards. */
  async function addUser(person: Person, group: 'User' | 'Administrator' = 'User'): Promise<void> {
    await admin.getByRole('button', { name: 'Add a user' }).click();
    await admin.getByRole('heading', { name: 'Add a user' }).waitFor();
    const form = admin.getByRole('form', { name: 'New user' });
    await form.getByLabel('Display name').fill(person.name);
    await form.getByLabel('Username').fill(person.username);
    await form.getByLabel('Password').fill(person.password);
    if (group !== 'User') await form.getByLabel('Group').selectOption({ label: group });
    await form.getByRole('button', { name: 'Create user' }).click();
    await admin.getByText(`${person.name} can now sign in as ${person.username}.`).waitFor();
  }

  async function edit(name: string): Promise<void> {
    await admin.getByRole('button', { name: `Edit ${name}` }).click();
    await admin.getByRole('heading', { name: `Edit ${name}` }).waitFor();
  }

  it('lists the owner, who can be neither deactivated nor deleted', async function () {
    expect(await rowText(OWNER.name)).to.equal(`${OWNER.name} Owner You | ${OWNER.username} | Administrator | Active | Edit The owner cannot be deactivated or deleted.`);
    expect(await row(OWNER.name).getByRole('button').allInnerTexts()).to.deep.equal(['Edit']);
    const screenshot = artifactPath('dashboard-users-list.png');
    await admin.screenshot({ path: screenshot, fullPage: true });
    console.log(`      screenshot of the Users page: ${screenshot}`);
    await edit(OWNER.name);
    expect(await admin.getByLabel('Group').isDisabled()).to.equal(true);
    expect(await admin.getByText('The owner is always an administrator.').isVisible()).to.equal(true);
  });

  it('creates a user with a password, who signs in and is not shown the Users page', async function () {
    const dora = { username: 'dora', password: 'map-and-backpack', name: 'Dora Explorer' };
    await addUser(dora);
    expect(await rowText(dora.name)).to.equal(`${dora.name} | ${dora.username} | User | Active | Edit Deactivate Delete`);
    await admin.screenshot({ path: artifactPath('dashboard-users-created.png'), fullPage: true });

    const page = await newPage();
    await signIn(page, dora);
    expect(await usersButtons(page).count()).to.equal(0);

    // A taken username: said in words, focus on the field, and no half-made user is left in the list.
    const before = await admin.locator('tbody tr').count();
    await admin.getByRole('button', { name: 'Add a user' }).click();
    const form = admin.getByRole('form', { name: 'New user' });
    await form.getByLabel('Display name').fill('Another Dora');
    await form.getByLabel('Username').fill('DORA');
    await form.getByLabel('Password').fill('whatever-1');
    await form.getByRole('button', { name: 'Create user' }).click();
    await form.getByRole('alert').getByText('This username is already taken. Choose another one.').waitFor();
    expect(await admin.locator(':focus').getAttribute('name')).to.equal('username');
    await admin.getByRole('button', { name: 'Cancel' }).click();
    await admin.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    expect(await admin.locator('tbody tr').count()).to.equal(before);
  });

  it('renames a user and their username and makes them an administrator, who sees Users after signing in again', async function () {
    const eve = { username: 'eve', password: 'evening-star', name: 'Eve' };
    await addUser(eve);
    const page = await newPage();
    await signIn(page, eve);
    expect(await usersButtons(page).count()).to.equal(0);

    await edit(eve.name);
    const form = admin.getByRole('form', { name: `Details of ${eve.name}` });
    await admin.screenshot({ path: artifactPath('dashboard-users-edit.png'), fullPage: true });
    await form.getByLabel('Display name').fill('Eve Evergreen');
    await form.getByLabel('Username').fill('evergreen');
    await form.getByLabel('Group').selectOption({ label: 'Administrator' });
    await form.getByRole('button', { name: 'Save changes' }).click();
    await admin.getByText('Saved the changes to Eve Evergreen.').waitFor();
    expect(await rowText('Eve Evergreen')).to.equal('Eve Evergreen | evergreen | Administrator | Active | Edit Deactivate Delete');

    await signOut(page);
    await signIn(page, { ...eve, username: 'evergreen', name: 'Eve Evergreen' });
    await openUsers(page);
    expect(await page.locator('tbody tr').count()).to.be.greaterThanOrEqual(2);
  });

  it('deactivates a user: their open page is signed out, and they sign in only once activated again', async function () {
    const finn = { username: 'finn', password: 'fin-and-tail', name: 'Finn' };
    await addUser(finn);
    const page = await newPage();
    await signIn(page, finn);

    await admin.getByRole('button', { name: `Deactivate ${finn.name}` }).click();
    await admin.getByText(`${finn.name} is deactivated`, { exact: false }).waitFor();
    expect(await rowText(finn.name)).to.equal(`${finn.name} | ${finn.username} | User | Deactivated | Edit Activate Delete`);
    // Focus stays on the same control, now named for what it does next.
    expect(await admin.locator(':focus').getAttribute('aria-label')).to.equal(`Activate ${finn.name}`);
    await page.getByText('Your session was revoked. Sign in again.').waitFor();

    await enterPassword(page, finn);
    await page.getByRole('alert').getByText('Wrong username or password.', { exact: false }).waitFor();
    await page.screenshot({ path: artifactPath('dashboard-users-deactivated-sign-in.png'), fullPage: true });
    expect(await welcome(page, finn).count()).to.equal(0);

    await admin.getByRole('button', { name: `Activate ${finn.name}` }).click();
    await admin.getByText(`${finn.name} can sign in again.`).waitFor();
    // The refusal kept the flow, as a wrong password does: a reload resumes its form, which now lets them in.
    await page.goto(`${server.httpUrl}/`);
    await answerPasswordForm(page, finn);
    await welcome(page, finn).waitFor();
  });

  it('resets a password: the old one is refused, the new one signs in', async function () {
    const gus = { username: 'gus', password: 'old-password-1', name: 'Gus' };
    await addUser(gus);
    await edit(gus.name);
    const form = admin.getByRole('form', { name: `Password of ${gus.name}` });
    await form.getByLabel('New password').fill('new-password-2');
    await form.getByRole('button', { name: 'Set password' }).click();
    await admin.getByText(`${gus.name}'s password is changed: the old one no longer works.`).waitFor();

    const page = await newPage();
    await enterPassword(page, gus);
    await page.getByRole('alert').getByText('Wrong username or password.').waitFor();
    await page.locator('input[name=password]').fill('new-password-2');
    await page.locator('button[type=submit]').click();
    await welcome(page, gus).waitFor();
  });

  it('deletes a user after a confirmation that Cancel leaves', async function () {
    const hal = { username: 'hal', password: 'open-the-pod-bay', name: 'Hal' };
    await addUser(hal);
    await admin.getByRole('button', { name: `Delete ${hal.name}` }).click();
    await admin.getByRole('heading', { name: `Delete ${hal.name}?` }).waitFor();
    // The safe choice has focus, so an Enter pressed by habit deletes nothing.
    expect(await admin.locator(':focus').innerText()).to.equal('Cancel');
    await admin.screenshot({ path: artifactPath('dashboard-users-delete.png'), fullPage: true });
    await admin.keyboard.press('Enter');
    await admin.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    expect(await row(hal.name).count()).to.equal(1);

    await admin.getByRole('button', { name: `Delete ${hal.name}` }).click();
    await admin.getByRole('button', { name: `Delete ${hal.name}`, exact: true }).click();
    await admin.getByText(`${hal.name} is deleted.`).waitFor();
    expect(await row(hal.name).count()).to.equal(0);

    const page = await newPage();
    await enterPassword(page, hal);
    await page.getByRole('alert').getByText('Wrong username or password.').waitFor();
  });
});
