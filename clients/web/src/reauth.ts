/**
 * The dashboard's step-up: when a privileged command (a two-factor change, user management) answers `reauth_required`, the
 * client logs in again on its socket and sends the command once more. The forms of that login (the password, then the second
 * factor) are asked here, in a dialog over the page, which stays as it was underneath.
 */
import { CommandError, FlowAbortedError, ReauthenticationFailedError, describeAbortReason, type FormResult, type ReauthenticationOptions } from '@flowgate/client';
import { h } from './dom.js';
import { renderForm } from './form.js';
import { mfaLoginText } from './mfa.js';

const TITLE = 'Confirm it is you';
const LEAD = 'This change needs a recent sign-in. Enter your password again to go on.';

/** The person closed the dialog: the change was not made. */
class ReauthenticationCancelled extends Error {
  constructor() {
    super('Nothing was changed: you did not confirm it is you.');
  }
}

/** The dialog waiting for an answer, to be closed when the client stops (the sign-in view is drawn then). */
let open: { readonly close: () => void; readonly reject: (reason: Error) => void } | undefined;

/** What `FlowgateClient` asks for the forms of a re-authentication: the provider stays the one of the person's login. */
export const REAUTHENTICATION: ReauthenticationOptions = { answer: (form) => ask(form) };

export function cancelReauthentication(reason: Error): void {
  const pending = open;
  pending?.close();
  pending?.reject(reason);
}

function ask(form: FormResult): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const mfa = mfaLoginText(form);
    const dialog = h('dialog', { class: 'card reauth', 'aria-labelledby': 'reauth-title' });
    const close = (): void => {
      open = undefined;
      dialog.close();
      dialog.remove();
    };
    const cancel = (): void => {
      close();
      reject(new ReauthenticationCancelled());
    };
    const rendered = renderForm(form, {}, (input) => {
      close();
      resolve(input);
    }, { label: TITLE, submitLabel: 'Confirm', oneTimeCode: mfa !== undefined });
    const back = h('button', { type: 'button', class: 'link', onclick: cancel }, 'Cancel');
    dialog.append(h('h2', { id: 'reauth-title' }, mfa?.title ?? TITLE), h('p', { class: 'lead' }, mfa?.lead ?? LEAD), rendered.element, h('div', { class: 'actions' }, back));
    // Escape closes a modal dialog: that is a cancel too.
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      cancel();
    });
    document.body.append(dialog);
    open = { close, reject };
    dialog.showModal();
    rendered.focus();
  });
}

/** Why a privileged change was not made because the sign-in again did not go through, in words; undefined for other errors. */
export function describeReauthenticationFailure(error: unknown): string | undefined {
  if (!(error instanceof ReauthenticationFailedError)) return undefined;
  const cause = error.cause;
  if (cause instanceof ReauthenticationCancelled) return cause.message;
  if (cause instanceof CommandError && cause.code === 'access_denied') {
    return 'Nothing was changed: the password you entered is for another account. Confirm with your own account.';
  }
  if (cause instanceof FlowAbortedError) return `Nothing was changed: ${describeAbortReason(cause.reason)}`;
  return `Nothing was changed: signing in again did not work (${cause instanceof Error ? cause.message : String(cause)}).`;
}
