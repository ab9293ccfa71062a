/**
 * The dashboard renders any login form from its data_schema, in real headless Chromium, against a scripted peer that speaks
 * protocol v1 (every frame checked with the shared codecs): every field type, typed user_input, field and base errors, aborts.
 */
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { DataSchema } from '@flowgate/shared';
import { artifactPath, launchBrowser } from '../helpers/browser.js';
import { abort, form, ScriptedPeer, type PeerScript } from '../helpers/scripted-peer.js';
import { buildDashboard } from '../helpers/web-build.js';

const REGIONS: Array<[string, string]> = [
  ['eu', 'Europe'],
  ['us', 'United States'],
  ['ap', 'Asia Pacific'],
];

/** One field of every type the schema codecs know, with a default, bounds, options, an optional field and a secret. */
const FIELDS: DataSchema = [
  { name: 'username', type: 'string', required: true },
  { name: 'password', type: 'string', required: true },
  { name: 'retries', type: 'integer', required: true, default: 3, valueMin: 0, valueMax: 5 },
  { name: 'threshold', type: 'float', required: true, valueMin: 0, valueMax: 0.5 },
  { name: 'remember_me', type: 'boolean', optional: true },
  { name: 'region', type: 'select', required: true, default: 'eu', options: REGIONS },
  { name: 'theme', type: 'select', optional: true, options: [['light', 'Light'], ['dark', 'Dark']] },
  { name: 'nickname', type: 'string', optional: true, description: 'Shown next to your sessions.' },
];

/** What each attempt must send: numbers as numbers, the checkbox as a boolean, the select's value; the empty
 * optional fields (nickname, theme) left out. */
const EXPECTED_INPUT: Record<number, Record<string, unknown>> = {
  1: { username: 'alice', password: 'correct horse', retries: 3, threshold: 0.75, remember_me: true, region: 'us' },
  2: { username: 'alice', password: 'battery staple', retries: 3, threshold: 0.25, remember_me: true, region: 'us' },
};

const SCRIPT: PeerScript = {
  providers: [{ type: 'lab', id: 'forms', name: 'Lab form' }],
  init: (flow) => form(flow, FIELDS),
  step(flow, userInput, attempt) {
    expect(userInput, `user_input of attempt ${attempt}`).to.deep.equal(EXPECTED_INPUT[attempt]);
    if (attempt === 1) return form(flow, FIELDS, { threshold: 'out_of_range', base: 'invalid_auth', favourite_colour: 'unknown_field' });
    return abort(flow, 'too_many_retry');
  },
};

describe('The dashboard renders any login form (scripted peer)', function () {
  // Chromium's first start and page loads take seconds on a small machine.
  this.timeout(90_000);
  let peer: ScriptedPeer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async function () {
    buildDashboard();
    peer = await ScriptedPeer.start(SCRIPT);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await peer?.close();
  });
  beforeEach(async function () {
    peer.reset();
    context = await browser.newContext({ viewport: { width: 1100, height: 1000 } });
    page = await context.newPage();
    await page.goto(peer.url);
  });
  afterEach(async () => context?.close());

  /** The form wrapper (label, hint, control, error) of one field. */
  const fieldOf = (name: string) => page.locator('form .field', { has: page.locator(`[name="${name}"]`) });

  async function openForm(): Promise<void> {
    await peer.guard(page.getByRole('button', { name: /Lab form/ }).click());
    await peer.guard(page.locator('input[name=username]').waitFor());
  }

  /** Answers the form as a person would; fields left alone keep what the dashboard shows. */
  async function fillAndSubmit(password: string, threshold: string, first: boolean): Promise<void> {
    if (first) {
      await page.getByRole('textbox', { name: 'Username' }).fill('alice');
      await page.getByRole('checkbox', { name: 'Remember me' }).check();
      await page.getByRole('combobox', { name: 'Region' }).selectOption('us');
    }
    await page.getByLabel('Password').fill(password);
    await page.getByRole('spinbutton', { name: 'Threshold' }).fill(threshold);
    await page.locator('button[type=submit]').click();
  }

  async function submitAndGetErrors(): Promise<void> {
    await openForm();
    await fillAndSubmit('correct horse', '0.75', true);
    await peer.guard(fieldOf('threshold').locator('.field-error').waitFor());
  }

  it('renders every field type with its label, input kind, name and default', async function () {
    await openForm();
    const controls = {
      username: page.getByRole('textbox', { name: 'Username' }),
      password: page.getByLabel('Password'),
      retries: page.getByRole('spinbutton', { name: 'Retries' }),
      threshold: page.getByRole('spinbutton', { name: 'Threshold' }),
      remember_me: page.getByRole('checkbox', { name: 'Remember me' }),
      region: page.getByRole('combobox', { name: 'Region' }),
      theme: page.getByRole('combobox', { name: 'Theme' }),
      nickname: page.getByRole('textbox', { name: 'Nickname' }),
    };
    expect(Object.keys(controls)).to.have.members(FIELDS.map((f) => f.name));
    // Found by its accessible label and role, each control carries its field's name (what a form submission would use).
    for (const [name, control] of Object.entries(controls)) expect(await control.getAttribute('name'), name).to.equal(name);
    expect(await controls.password.getAttribute('type')).to.equal('password');
    expect(await controls.username.getAttribute('type')).to.equal('text');
    expect(await page.locator('select[name=region]').count(), 'a select, not a text box').to.equal(1);
    expect(await controls.retries.getAttribute('step')).to.equal('1');
    expect(await controls.threshold.getAttribute('step')).to.equal('any');
    expect([await controls.threshold.getAttribute('min'), await controls.threshold.getAttribute('max')]).to.deep.equal(['0', '0.5']);
    expect(await page.locator('select[name=region] option').allTextContents()).to.deep.equal(REGIONS.map(([, label]) => label));

    // Defaults pre-filled; fields without one start empty (the checkbox unchecked).
    expect(await controls.retries.inputValue()).to.equal('3');
    expect(await controls.region.inputValue()).to.equal('eu');
    expect(await controls.theme.inputValue(), 'an optional select without default chooses nothing').to.equal('');
    expect(await controls.threshold.inputValue()).to.equal('');
    expect(await controls.remember_me.isChecked()).to.equal(false);
    expect(await fieldOf('nickname').locator('label').textContent()).to.equal('Nickname (optional)');
    expect(await fieldOf('nickname').locator('.hint').textContent()).to.equal('Shown next to your sessions.');
    expect(await page.locator('form button[type=submit]').count()).to.equal(1);
    await page.screenshot({ path: artifactPath('dashboard-forms-every-type.png'), fullPage: true });
    peer.assertNoProblems();
  });

  it('sends typed user_input, then shows the field error beside its field and the base error above the form, in words', async function () {
    await submitAndGetErrors();
    // The peer asserted the received user_input (EXPECTED_INPUT[1]) before answering; it was sent exactly once.
    expect(peer.received.map((c) => c.type)).to.deep.equal(['auth/providers', 'login_flow/init', 'login_flow/step']);
    expect(peer.received[1]?.['client_id'], "the flow is bound to the page's origin").to.equal(peer.url);

    const threshold = fieldOf('threshold');
    const fieldError = threshold.locator('.field-error');
    expect(await fieldError.textContent()).to.equal('This number is out of range.');
    const control = page.getByRole('spinbutton', { name: 'Threshold' });
    expect(await control.getAttribute('aria-invalid')).to.equal('true');
    expect(await control.getAttribute('aria-describedby')).to.contain(await fieldError.getAttribute('id'));
    expect(await page.locator('.field-error').count(), 'only the bad field shows an error').to.equal(1);

    const base = page.locator('form').getByRole('alert');
    // Errors of no shown field go above the form: base alone, another field named by its label.
    expect(await base.locator('p').allTextContents()).to.deep.equal([
      'Wrong username or password.',
      'Favourite colour: The server does not know this field.',
    ]);
    const [alertBox, firstFieldBox] = await Promise.all([base.boundingBox(), fieldOf('username').boundingBox()]);
    expect(alertBox!.y + alertBox!.height, 'the base error sits above the fields').to.be.at.most(firstFieldBox!.y);

    const text = await page.locator('body').innerText();
    for (const rawKey of ['out_of_range', 'invalid_auth', 'unknown_field']) expect(text).not.to.contain(rawKey);
    // The answer is kept for the retry (but never the secret), and focus goes to the field to fix.
    await page.locator('input[name=threshold]:focus').waitFor();
    expect(await control.inputValue()).to.equal('0.75');
    expect(await page.getByRole('checkbox', { name: 'Remember me' }).isChecked()).to.equal(true);
    expect(await page.getByRole('combobox', { name: 'Region' }).inputValue()).to.equal('us');
    expect(await page.getByLabel('Password').inputValue()).to.equal('');
    await page.screenshot({ path: artifactPath('dashboard-forms-errors.png'), fullPage: true });
    peer.assertNoProblems();
  });

  it('explains an abort in words and offers to start again', async function () {
    await submitAndGetErrors();
    await fillAndSubmit('battery staple', '0.25', false);
    await peer.guard(page.getByRole('heading', { name: 'Sign-in stopped' }).waitFor());
    expect((await page.locator('.notice.error').textContent())?.trim()).to.equal('Too many wrong attempts. Start again later.');
    expect(await page.locator('body').innerText()).not.to.contain('too_many_retry');
    expect(await page.locator('form').count(), 'the aborted form is gone').to.equal(0);
    await page.screenshot({ path: artifactPath('dashboard-forms-aborted.png'), fullPage: true });

    await page.getByRole('button', { name: 'Start again' }).click();
    await peer.guard(page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor());
    await openForm();
    expect(await page.getByRole('spinbutton', { name: 'Threshold' }).inputValue(), 'a fresh flow starts from the defaults').to.equal('');
    const types = peer.received.map((c) => c.type);
    expect(types.filter((type) => type === 'login_flow/step')).to.have.length(2);
    expect(types.filter((type) => type === 'login_flow/init'), 'Start again begins a new flow').to.have.length(2);
    peer.assertNoProblems();
  });
});
