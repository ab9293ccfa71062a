/** The notifiers the `notify` MFA module sends its codes through: a webhook (an HTTP POST) or e-mail over SMTP. */
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { createTransport } from 'nodemailer';
import { closedObject } from '../codec.js';

/** What a notifier delivers: the text for a person, where to, and the code alone (a webhook may format its own message). */
export interface Delivery {
  readonly message: string;
  readonly target: string;
  readonly code: string;
}

export interface Notifier {
  /** True when `target` is something this notifier can deliver to (an e-mail address for SMTP). */
  validTarget(target: string): boolean;
  /** Resolves once the receiver accepted the delivery; rejects with a `NotifyError` otherwise. */
  send(delivery: Delivery): Promise<void>;
}

/** A delivery that did not happen. Its message names the notifier and the cause, never the code or a secret. */
export class NotifyError extends Error {
  override readonly name = 'NotifyError';
}

/** Longest target kept: an e-mail address is at most 254 characters (RFC 5321 s4.5.3.1.3's path limit less its brackets). */
export const MAX_TARGET_LENGTH = 254;
/** How long a delivery may take when the config does not say: a person is waiting for the next form. */
export const DEFAULT_TIMEOUT_SECONDS = 5;
/** Longest allowed timeout: past a minute the person has given up, and the flow step holds its caller that long. */
const MAX_TIMEOUT_SECONDS = 60;

const TimeoutSeconds = t.refinement(t.number, (n) => n > 0 && n <= MAX_TIMEOUT_SECONDS, `a number of seconds above 0, at most ${MAX_TIMEOUT_SECONDS}`);
const Port = t.refinement(t.Int, (n) => n > 0 && n <= 65535, 'a port number between 1 and 65535');
const NonEmpty = t.refinement(t.string, (s) => s.trim() !== '', 'a non-empty string');

/** An absolute http:// or https:// URL, checked when the config is read so a typo fails at start, not at the first login. */
const HttpUrl = new t.Type<string, string, unknown>(
  'an http:// or https:// URL',
  (u): u is string => typeof u === 'string',
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c);
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return t.failure(u, c, `"${u.slice(0, 80)}" is not a URL; give an absolute http:// or https:// URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return t.failure(u, c, `the URL must start with http:// or https://, not ${url.protocol}//`);
    }
    return t.success(u);
  },
  t.identity,
);

/** An HTTP header name is an RFC 9110 token; its value may not hold line breaks (they would start another header). */
const HeaderName = t.refinement(t.string, (s) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(s), 'an HTTP header name (letters, digits, -)');
const HeaderValue = t.refinement(t.string, (s) => !/[\r\n\0]/.test(s), 'a header value on one line');

export const WebhookConfig = closedObject(
  'webhook',
  { url: HttpUrl },
  {
    /** Sent with every request, so the receiver can tell Flowgate's calls from anyone else's. */
    secret_header: closedObject('secret_header', { name: HeaderName, value: HeaderValue }, {}),
    timeout_seconds: TimeoutSeconds,
  },
);
export type WebhookConfig = t.TypeOf<typeof WebhookConfig>;

const SmtpFields = closedObject(
  'smtp',
  { host: NonEmpty, port: Port, from: NonEmpty },
  {
    /** TLS from the first byte (port 465); without it STARTTLS is required, unless `allow_plaintext`. */
    secure: t.boolean,
    user: t.string,
    password: t.string,
    subject: t.string,
    timeout_seconds: TimeoutSeconds,
    /**
     * Send over a server that offers no STARTTLS, in clear: codes readable (and changeable) on the way. Only for a relay on
     * the same host or a trusted network, and never with a password (that would send it in clear too).
     */
    allow_plaintext: t.boolean,
  },
);
type SmtpFields = t.TypeOf<typeof SmtpFields>;

/** Plaintext is allowed only where there is no password to send in clear. */
const plaintextWithPassword = (smtp: SmtpFields): boolean => smtp.allow_plaintext === true && (smtp.user !== undefined || smtp.password !== undefined);

/** The smtp block; `allow_plaintext` with a password is refused, since it would send the password in clear. */
export const SmtpConfig = new t.Type<SmtpFields, SmtpFields, unknown>(
  'smtp',
  (u): u is SmtpFields => SmtpFields.is(u) && !plaintextWithPassword(u),
  (u, c) => {
    const decoded = SmtpFields.validate(u, c);
    if (isLeft(decoded)) return decoded;
    if (plaintextWithPassword(decoded.right)) {
      return t.failure(u, c, 'allow_plaintext would send the password in clear: remove it and use a server that offers TLS, or drop user and password');
    }
    return t.success(decoded.right);
  },
  t.identity,
);
export type SmtpConfig = t.TypeOf<typeof SmtpConfig>;

export const DEFAULT_SUBJECT = 'Your Flowgate login code';

const oneLine = (target: string): boolean => target.trim() !== '' && target.length <= MAX_TARGET_LENGTH && !/[\p{Cc}]/u.test(target);

/**
 * An address nodemailer sends to as one recipient: HTML's e-mail syntax (WHATWG "valid e-mail address") with a dot in the
 * domain. No commas, spaces, quotes or brackets, so a target can never name a second recipient or a display name.
 */
const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** The failure as one line for an operator's log: fetch says only "fetch failed" and keeps the reason (ECONNREFUSED...) in `cause`. */
const failure = (what: string, error: unknown): NotifyError => {
  if (!(error instanceof Error)) return new NotifyError(`${what} failed: ${String(error)}`);
  if (error.name === 'TimeoutError') return new NotifyError(`${what} failed: it took too long`);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return new NotifyError(`${what} failed: ${error.message}${cause}`);
};

/** POSTs `{message, target, code}` as JSON; any answer but a 2xx, a network error or the timeout is a failed delivery. */
export function webhookNotifier(config: WebhookConfig): Notifier {
  const timeoutMs = (config.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.secret_header !== undefined) headers[config.secret_header.name] = config.secret_header.value;
  return {
    validTarget: oneLine,
    async send({ message, target, code }) {
      let response: Response;
      try {
        response = await fetch(config.url, {
          method: 'POST',
          headers,
          body: JSON.stringify({ message, target, code }),
          // A redirect is answered as a failure: following it would send the code (and the secret header) elsewhere.
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw failure('The notify webhook', error);
      }
      // The body is not needed; dropping it frees the connection.
      await response.body?.cancel().catch(() => undefined);
      if (response.status < 200 || response.status > 299) {
        throw new NotifyError(`The notify webhook failed: it answered HTTP ${response.status}`);
      }
    },
  };
}

/** Sends the message as a plain-text e-mail; the SMTP server refusing it, a network error or the timeout is a failed delivery. */
export function smtpNotifier(config: SmtpConfig): Notifier {
  const timeoutMs = (config.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  const credentials = config.user === undefined ? undefined : { user: config.user, pass: config.password ?? '' };
  const transport = createTransport({
    host: config.host,
    port: config.port,
    secure: config.secure ?? false,
    // Neither a password nor a code is sent in clear: without TLS from the start, STARTTLS is required rather than
    // opportunistic (a server that does not offer it, or a man in the middle who strips it, fails the delivery), unless the
    // operator said plaintext is fine (a relay on the same host).
    requireTLS: config.secure !== true && config.allow_plaintext !== true,
    ...(credentials === undefined ? {} : { auth: credentials }),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  const subject = config.subject ?? DEFAULT_SUBJECT;
  return {
    validTarget: (target) => oneLine(target) && EMAIL.test(target),
    async send({ message, target }) {
      let timer: NodeJS.Timeout | undefined;
      // nodemailer's own timeouts bound each wait; this bounds the whole exchange (a server that answers slowly at every step).
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new NotifyError('The notify e-mail failed: it took too long')), timeoutMs);
      });
      try {
        // An address object: nodemailer does not parse it, so it is exactly one recipient.
        await Promise.race([transport.sendMail({ from: config.from, to: { name: '', address: target }, subject, text: message }), deadline]);
      } catch (error) {
        throw error instanceof NotifyError ? error : failure('The notify e-mail', error);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
