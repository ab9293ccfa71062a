/** Readable words for the protocol's error keys and abort reasons, shared by the terminal and the dashboard. */
import type { FormResult } from '@flowgate/shared';
import type { RateLimitedError } from './errors.js';

const FIELD_ERRORS: Record<string, string> = {
  required: 'This field is required.',
  invalid_type: 'This value has the wrong type.',
  too_long: 'This value is too long.',
  too_short: 'This value is too short.',
  out_of_range: 'This number is out of range.',
  invalid_option: 'Choose one of the options.',
  unknown_field: 'The server does not know this field.',
  invalid_target: 'The server cannot send a code to this address.',
};

const BASE_ERRORS: Record<string, string> = {
  invalid_auth: 'Wrong username or password.',
  invalid_code: 'The code is not valid. Check it and try again.',
  invalid_auth_module: 'Choose one of the listed two-factor methods.',
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

/** How an MFA setup flow's aborts read: they stop a change of settings, not a login. */
const SETUP_ABORT_REASONS: Record<string, string> = {
  unknown_error: 'The two-factor setup could not continue (the code could not be sent, or the server changed). Start again.',
  flow_expired: 'The two-factor setup expired or was already finished. Start again.',
  too_many_retry: 'Too many wrong codes. Start the setup again.',
};

/** An abort reason in words, for a login flow or (`flow: 'mfa_setup'`) an MFA setup flow. */
export function describeAbortReason(reason: string, flow: 'login' | 'mfa_setup' = 'login'): string {
  if (flow === 'mfa_setup') return SETUP_ABORT_REASONS[reason] ?? `The two-factor setup was stopped (${reason.replace(/_/g, ' ')}).`;
  return ABORT_REASONS[reason] ?? `The login was stopped (${reason.replace(/_/g, ' ')}).`;
}

/** A wait in words, rounded up so that trying again at the time said works: "30 seconds", "4 minutes", "1 hour and 5 minutes". */
export function describeWait(seconds: number): string {
  const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`;
  const whole = Math.max(0, Math.ceil(seconds));
  if (whole < 60) return plural(whole, 'second');
  const minutes = Math.ceil(whole / 60);
  if (minutes < 60) return plural(minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? plural(hours, 'hour') : `${plural(hours, 'hour')} and ${plural(rest, 'minute')}`;
}

/**
 * A `rate_limited` refusal in words, with the wait when the server named one: "Too many failed attempts. Try again in
 * 4 minutes." on a login command. Without a wait, the server's own message (written for a person) is the best we have.
 */
export function describeRateLimit(error: Pick<RateLimitedError, 'command' | 'serverMessage' | 'retryAfterSeconds'>): string {
  const what = error.command.startsWith('login_flow/') ? 'Too many failed attempts.' : 'Too many requests.';
  if (error.retryAfterSeconds === undefined) return error.serverMessage === '' ? `${what} Try again later.` : error.serverMessage;
  if (error.retryAfterSeconds <= 0) return `${what} Try again now.`;
  return `${what} Try again in ${describeWait(error.retryAfterSeconds)}.`;
}
