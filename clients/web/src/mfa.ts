/**
 * The dashboard's two-factor parts: the words of the MFA login steps, the "Two-factor authentication" section of the signed-in
 * view, and each module's setup (the TOTP QR code and key, recovery codes shown once, a notify target then its code).
 */
import {
  ClientClosedError,
  describeAbortReason,
  FlowAbortedError,
  mfaLoginStep,
  type FlowgateClient,
  type FormResult,
  type UserMfaModule,
} from '@flowgate/client';
import { h } from './dom.js';
import { renderForm } from './form.js';
import { safeSvgImage } from './safe-svg.js';
import { notice, setStatus, show } from './view.js';

export interface MfaHost {
  readonly client: () => FlowgateClient;
  /** Back to the signed-in view, with a notice on top. */
  readonly back: (message?: string, kind?: 'info' | 'error') => Promise<void>;
  readonly explain: (error: unknown) => string;
}

/** Rejects the setup form waiting for an answer (the client stopped): set while one is shown. */
let cancelSetup: ((reason: Error) => void) | undefined;

export function cancelMfaSetup(reason: Error): void {
  cancelSetup?.(reason);
}

/** The title and lead of an MFA login step (`select_mfa_module`, `mfa`), or undefined for any other form. */
export function mfaLoginText(form: FormResult): { title: string; lead: string } | undefined {
  const step = mfaLoginStep(form);
  if (step === undefined) return undefined;
  const title = 'Two-factor authentication';
  if (step.kind === 'select_module') return { title, lead: 'Choose how you want to confirm that it is you.' };
  return { title, lead: `Enter the code from ${step.moduleName}.` };
}

/** The section listing every module the server offers, each with Set up or Turn off. */
export function mfaSection(modules: readonly UserMfaModule[], host: MfaHost): HTMLElement {
  const intro = h('p', { class: 'hint' }, 'After your password, a sign-in also asks for a code from one of these.');
  const body =
    modules.length === 0
      ? h('p', { class: 'hint' }, 'This server offers no two-factor methods.')
      : h('ul', { class: 'mfa-modules' }, ...modules.map((module) => moduleRow(module, host)));
  return h('section', { class: 'mfa', 'aria-labelledby': 'mfa-heading' }, h('h2', { id: 'mfa-heading' }, 'Two-factor authentication'), intro, body);
}

function moduleRow(module: UserMfaModule, host: MfaHost): HTMLLIElement {
  const state = h('span', { class: module.enabled ? 'badge on' : 'badge' }, module.enabled ? 'On' : 'Off');
  const button = module.enabled
    ? h('button', { type: 'button', class: 'danger', 'aria-label': `Turn off ${module.name}` }, 'Turn off')
    : h('button', { type: 'button', class: 'secondary', 'aria-label': `Set up ${module.name}` }, 'Set up');
  button.addEventListener('click', () => {
    button.setAttribute('disabled', '');
    if (!module.enabled) {
      void setUp(module, host);
      return;
    }
    host.client().deposeMfa(module.id).then(
      () => host.back(`${module.name} is off: your sign-ins no longer ask for it.`),
      (error: unknown) => {
        button.removeAttribute('disabled');
        if (!(error instanceof ClientClosedError)) setStatus(host.explain(error));
      },
    );
  });
  return h('li', { 'data-module-id': module.id }, h('span', { class: 'mfa-name' }, module.name), state, h('span', { class: 'row-actions' }, button));
}

async function setUp(module: UserMfaModule, host: MfaHost): Promise<void> {
  const controller = new AbortController();
  try {
    const entry = await host.client().runMfaSetup({
      moduleId: module.id,
      signal: controller.signal,
      answer: (form) =>
        new Promise((resolve, reject) => {
          cancelSetup = reject;
          showSetupForm(module, form, resolve, () => {
            controller.abort(new Error('cancelled'));
            reject(new Error('cancelled'));
          });
        }),
    });
    cancelSetup = undefined;
    const codes = codesOf(entry.data['codes']);
    if (codes.length > 0) return showRecoveryCodes(module, codes, host);
    return host.back(`${module.name} is on: your next sign-in asks for a code from it.`);
  } catch (error) {
    cancelSetup = undefined;
    if (controller.signal.aborted) return host.back();
    if (error instanceof ClientClosedError) return;
    if (error instanceof FlowAbortedError) return host.back(describeAbortReason(error.reason, error.flow), 'error');
    return host.back(host.explain(error), 'error');
  }
}

/** Recovery codes as the module gives them: a list in the entry's data (or, from another server, one string of them). */
function codesOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((code): code is string => typeof code === 'string');
  return typeof value === 'string' ? value.split(/[\s,]+/).filter(Boolean) : [];
}

/** What a setup form shows above its fields, from its placeholders: the QR code and key, the count of codes, the target. */
function setupIntro(form: FormResult): Array<Node | null> {
  const placeholders = form.description_placeholders ?? {};
  const { qr_code: qr, code: secret, count, target } = placeholders;
  if (secret !== undefined || qr !== undefined) {
    const image = qr === undefined ? null : safeSvgImage(qr, 'QR code to scan with your authenticator app');
    return [
      h('p', { class: 'lead' }, image === null ? 'Add this key to your authenticator app, then type the code it shows.' : 'Scan this QR code with your authenticator app, then type the 6-digit code it shows.'),
      image === null ? null : h('figure', { class: 'qr' }, image),
      secret === undefined ? null : h('p', { class: 'secret-line' }, 'Cannot scan it? Enter this key by hand: ', h('code', { class: 'secret', 'data-secret': '' }, secret)),
    ];
  }
  if (count !== undefined && form.data_schema.length === 0) {
    return [
      h('p', { class: 'lead' }, `You get ${count} recovery codes. Each one signs you in once, when you cannot use your other method.`),
      notice(placeholders['replaces_codes'] === 'true' ? 'New codes replace the ones you have: those stop working.' : undefined),
      placeholders['codes'] === undefined ? null : codeList(codesOf(placeholders['codes'])),
    ];
  }
  if (form.data_schema.some((f) => f.name === 'target')) return [h('p', { class: 'lead' }, 'Where should your sign-in codes be sent?')];
  if (target !== undefined) return [h('p', { class: 'lead' }, `Enter the code sent to ${target}.`)];
  return [];
}

function showSetupForm(module: UserMfaModule, form: FormResult, submit: (input: Record<string, unknown>) => void, cancel: () => void): void {
  const asksCode = form.data_schema.some((f) => f.name === 'code');
  const submitLabel = asksCode ? 'Turn on' : form.data_schema.length === 0 ? 'Continue' : 'Next';
  const rendered = renderForm(form, {}, (input) => {
    rendered.element.querySelector('button[type=submit]')?.setAttribute('disabled', '');
    submit(input);
  }, { submitLabel, label: `Set up ${module.name}`, oneTimeCode: true });
  const back = h('button', { type: 'button', class: 'link', onclick: cancel }, 'Cancel');
  show(`Set up ${module.name}`, ...setupIntro(form), rendered.element, h('div', { class: 'actions' }, back));
  rendered.focus();
}

function codeList(codes: readonly string[]): HTMLOListElement {
  return h('ol', { class: 'recovery-codes', 'aria-label': 'Recovery codes' }, ...codes.map((code) => h('li', {}, h('code', {}, code))));
}

/** The codes, this once: the server keeps only their hashes, so they cannot be shown again. */
function showRecoveryCodes(module: UserMfaModule, codes: readonly string[], host: MfaHost): void {
  const done = h('button', { type: 'button', class: 'primary', onclick: () => void host.back(`Your ${codes.length} new recovery codes work from now on.`) }, 'I have saved them');
  const keep = 'Keep these codes somewhere safe, such as a password manager or on paper. Each one signs you in once. They are shown only now: this page cannot show them again.';
  show('Your recovery codes', notice(keep), codeList(codes), h('div', { class: 'actions' }, done)).focus();
}
