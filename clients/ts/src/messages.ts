/** Readable words for the protocol's error keys and abort reasons, shared by the terminal and the dashboard. */
import type { FormResult } from '@flowgate/shared';

const FIELD_ERRORS: Record<string, string> = {
  required: 'This field is required.',
  invalid_type: 'This value has the wrong type.',
  too_long: 'This value is too long.',
  too_short: 'This value is too short.',
  out_of_range: 'This number is out of range.',
  invalid_option: 'Choose one of the options.',
  unknown_field: 'The server does not know this field.',
};

const BASE_ERRORS: Record<string, string> = {
  invalid_auth: 'Wrong username or password.',
  invalid_code: 'The code is not valid.',
  unknown_field: 'The form had fields the server does not know.',
  unknown_error: 'Something went wrong on the server. Try again.',
};

const ABORT_REASONS: Record<string, string> = {
  login_expired: 'The login took too long and expired. Start again.',
  too_many_retry: 'Too many wrong attempts. Start again later.',
  not_allowed: 'This login is not allowed.',
  unknown_error: 'The login could not continue (the sign-in method may have changed). Start again.',
  flow_expired: 'The login expired or was already finished. Start again.',
};

function humanize(key: string): string {
  const words = key.replace(/_/g, ' ');
  return `${words.charAt(0).toUpperCase()}${words.slice(1)}.`;
}

/** One field's (or `base`'s) error key in words. */
export function describeFieldError(field: string, key: string): string {
  if (field === 'base') return BASE_ERRORS[key] ?? humanize(key);
  return FIELD_ERRORS[key] ?? humanize(key);
}

/** Every error of a form as `[field, words]`, `base` first. */
export function describeFormErrors(form: Pick<FormResult, 'errors'>): Array<[string, string]> {
  const entries = Object.entries(form.errors ?? {}).map(([field, key]): [string, string] => [field, describeFieldError(field, key)]);
  return entries.sort(([a], [b]) => (a === 'base' ? -1 : b === 'base' ? 1 : 0));
}

/** An abort reason in words. */
export function describeAbortReason(reason: string): string {
  return ABORT_REASONS[reason] ?? `The login was stopped (${reason.replace(/_/g, ' ')}).`;
}
