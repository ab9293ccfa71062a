/** Renders any login form from its `data_schema`, shows its errors in words, and reads the answer back as `user_input`. */
import { describeFieldError, type FormResult, type SchemaField } from '@flowgate/client';
import { h, labelOf } from './dom.js';

/** Secret fields get a password input: a string field whose name says password, passphrase, secret, token, code or otp. */
const SECRET = /pass(word|phrase)?|secret|token|code|otp|pin$/i;

const AUTOCOMPLETE: Record<string, string> = { username: 'username', password: 'current-password', email: 'email', name: 'name' };

export interface FormOptions {
  /** The submit button's words (default: "Next" when the server says more steps follow, else "Sign in"). */
  readonly submitLabel?: string;
  /** The form's accessible name (default "Sign-in form"). */
  readonly label?: string;
  /**
   * A `code` field is a one-time code (an MFA step or setup): shown as typed, offered by the browser from an SMS
   * (`autocomplete=one-time-code`), never filled in again with a code that was already refused.
   */
  readonly oneTimeCode?: boolean;
}

export interface RenderedForm {
  readonly element: HTMLFormElement;
  /** Moves focus to the first field with an error, or else the first empty field. */
  focus(): void;
}

function inputFor(field: SchemaField, id: string, describedBy: string, previous: unknown, invalid: boolean, oneTimeCode: boolean): HTMLElement {
  const common = { id, name: field.name, required: field.required === true, 'aria-describedby': describedBy || null, 'aria-invalid': invalid ? 'true' : null };
  const initial = previous ?? field.default;
  switch (field.type) {
    case 'string': {
      if (oneTimeCode && field.name === 'code') {
        return h('input', { ...common, type: 'text', autocomplete: 'one-time-code', maxlength: field.lengthMax ?? null, spellcheck: 'false', autocapitalize: 'off' });
      }
      const secret = SECRET.test(field.name);
      return h('input', {
        ...common,
        type: secret ? 'password' : 'text',
        autocomplete: AUTOCOMPLETE[field.name] ?? (secret ? 'off' : null),
        minlength: field.lengthMin ?? null,
        maxlength: field.lengthMax ?? null,
        value: secret || typeof initial !== 'string' ? null : initial,
        spellcheck: 'false',
      });
    }
    case 'integer':
    case 'float':
      return h('input', {
        ...common,
        type: 'number',
        inputmode: field.type === 'integer' ? 'numeric' : 'decimal',
        step: field.type === 'integer' ? '1' : 'any',
        min: field.valueMin ?? null,
        max: field.valueMax ?? null,
        value: typeof initial === 'number' ? initial : null,
      });
    case 'boolean':
      return h('input', { ...common, required: false, type: 'checkbox', checked: initial === true });
    case 'select':
      // Nothing chosen yet: a placeholder, so the first option is never sent unasked (an optional select may stay empty).
      return h(
        'select',
        common,
        initial === undefined ? h('option', { value: '', disabled: field.required === true, selected: true }, field.required === true ? 'Choose…' : 'None') : null,
        ...field.options.map(([value, label]) => h('option', { value, selected: value === initial }, label || value)),
      );
  }
}

export function renderForm(form: FormResult, previous: Record<string, unknown>, onSubmit: (input: Record<string, unknown>) => void, options: FormOptions = {}): RenderedForm {
  const errors = form.errors ?? {};
  const fields = form.data_schema.map((field) => {
    const id = `field-${field.name}`;
    const errorKey = errors[field.name];
    const hintId = field.description === undefined ? '' : `${id}-hint`;
    const errorId = errorKey === undefined ? '' : `${id}-error`;
    const control = inputFor(field, id, [hintId, errorId].filter(Boolean).join(' '), previous[field.name], errorKey !== undefined, options.oneTimeCode === true);
    const label = h('label', { for: id }, labelOf(field.name), field.optional === true ? h('span', { class: 'optional' }, ' (optional)') : null);
    const hint = hintId === '' ? null : h('p', { class: 'hint', id: hintId }, field.description ?? '');
    const error = errorKey === undefined ? null : h('p', { class: 'field-error', id: errorId }, describeFieldError(field.name, errorKey));
    const wrapper = field.type === 'boolean' ? h('div', { class: 'field checkbox' }, control, label, hint, error) : h('div', { class: 'field' }, label, hint, control, error);
    return { field, control, wrapper, invalid: errorKey !== undefined };
  });
  // Errors that belong to no field of this form (base, or a field the form does not show) go above the form.
  const shown = new Set(form.data_schema.map((f) => f.name));
  const general = Object.entries(errors).filter(([name]) => !shown.has(name));
  // A field the form does not show is named, so its message is not left without a subject.
  const generalLine = (name: string, key: string): string => (name === 'base' ? '' : `${labelOf(name)}: `) + describeFieldError(name, key);
  const alert = general.length === 0 ? null : h('div', { class: 'alert', role: 'alert' }, ...general.map(([name, key]) => h('p', {}, generalLine(name, key))));
  const element = h(
    'form',
    { novalidate: true, 'aria-label': options.label ?? 'Sign-in form' },
    alert,
    ...fields.map((f) => f.wrapper),
    h('button', { type: 'submit', class: 'primary' }, options.submitLabel ?? (form.last_step === false ? 'Next' : 'Sign in')),
  );
  element.addEventListener('submit', (event) => {
    event.preventDefault();
    onSubmit(readInput(fields));
  });
  return {
    element,
    focus() {
      const target = fields.find((f) => f.invalid) ?? fields.find((f) => f.control instanceof HTMLInputElement && f.control.type !== 'checkbox' && f.control.value === '') ?? fields[0];
      target?.control.focus();
    },
  };
}

function readInput(fields: Array<{ field: SchemaField; control: HTMLElement }>): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const { field, control } of fields) {
    if (control instanceof HTMLInputElement && field.type === 'boolean') {
      input[field.name] = control.checked;
      continue;
    }
    const raw = (control as HTMLInputElement | HTMLSelectElement).value;
    if (raw === '' && field.type !== 'string') continue;
    if (raw === '' && field.optional === true) continue;
    if (field.type === 'integer' || field.type === 'float') input[field.name] = Number(raw);
    else input[field.name] = raw;
  }
  return input;
}
