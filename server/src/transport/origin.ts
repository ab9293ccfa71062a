/**
 * The origin rule, for the socket upgrade and the HTTP login API alike: a browser page may run logins only when it is of the
 * server's own origin or listed in `http.cors_allowed_origins`. Browsers always send `Origin` on a socket and on a cross-site
 * POST; a request without one (a CLI, a native app, a service) is not a page visited by someone else, and passes.
 */
import type { IncomingMessage } from 'node:http';
import type { ClientAddressPolicy } from '../defense/client-address.js';

/** The longest `Origin` worth parsing: a scheme, a host name of at most 253 characters and a port. Anything longer is foreign. */
const MAX_ORIGIN_LENGTH = 300;
/** `scheme://authority` and nothing else: no user info, path, query or fragment (a config entry may end with one `/`). */
const ORIGIN_SYNTAX = /^([a-z][a-z0-9+.-]*):\/\/([^/?#@\s,]+)\/?$/i;
/** The schemes whose host and default port the URL parser knows; others (`capacitor://`, `app://`) are compared as written. */
const WEB_SCHEMES: ReadonlySet<string> = new Set(['http', 'https']);

/**
 * One spelling per origin: lower-case scheme and host (international names in their ASCII form), the default port left out
 * (`HTTP://Example.com:80` is `http://example.com`). Null for what is no origin, `null` included (sandboxed frames, files).
 */
export function normaliseOrigin(text: string): string | null {
  if (text.length > MAX_ORIGIN_LENGTH) return null;
  const match = ORIGIN_SYNTAX.exec(text.trim());
  if (match === null) return null;
  const scheme = (match[1] ?? '').toLowerCase();
  const authority = match[2] ?? '';
  if (!WEB_SCHEMES.has(scheme)) return `${scheme}://${authority.toLowerCase()}`;
  try {
    return `${scheme}://${new URL(`${scheme}://${authority}`).host}`;
  } catch {
    return null;
  }
}

export interface OriginRule {
  /**
   * The request's `Origin` (as sent) when it is foreign: neither the server's own nor listed. Null without an `Origin` and for
   * an allowed one. Made once per socket, at the upgrade.
   */
  foreignOrigin(request: IncomingMessage): string | null;
  /** True when `origin` is listed in `http.cors_allowed_origins` (whatever its spelling): CORS answers are for these only. */
  isListed(origin: string | undefined): boolean;
}

export interface OriginRuleOptions {
  /** `http.cors_allowed_origins`. */
  readonly allowedOrigins: readonly string[];
  /** Whose `X-Forwarded-Proto` and `X-Forwarded-Host` to believe: a trusted proxy's, with `use_x_forwarded_for` on. */
  readonly clientAddress: ClientAddressPolicy;
  /** Called with a sentence naming the first entry that is no origin (main.ts makes it a ConfigError); default: throw it. */
  readonly invalid?: (message: string) => never;
}

const firstValue = (value: string | string[] | undefined): string | undefined =>
  (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim();

/**
 * The server's own origins for this request: the scheme and host it was sent to. A trusted proxy's `X-Forwarded-Proto` and
 * `X-Forwarded-Host` say them when believed (HA believes them with `use_x_forwarded_for` only); a trusted proxy that does not
 * say the scheme may have ended TLS (haproxy with the PROXY protocol cannot add a header), so both schemes are the host's then.
 */
function ownOrigins(request: IncomingMessage, policy: ClientAddressPolicy): string[] {
  const proxied = policy.isTrustedProxy(request.socket.remoteAddress);
  const believed = proxied && policy.useXForwardedFor;
  const host = (believed ? firstValue(request.headers['x-forwarded-host']) : undefined) ?? request.headers.host;
  if (host === undefined || host === '') return [];
  const proto = believed ? firstValue(request.headers['x-forwarded-proto'])?.toLowerCase() : undefined;
  const direct = 'encrypted' in request.socket && request.socket.encrypted === true ? 'https' : 'http';
  const schemes = proto === 'http' || proto === 'https' ? [proto] : proxied ? ['https', 'http'] : [direct];
  return schemes.flatMap((scheme) => normaliseOrigin(`${scheme}://${host}`) ?? []);
}

/** Reads `http.cors_allowed_origins` once at startup. */
export function originRule(options: OriginRuleOptions): OriginRule {
  const invalid =
    options.invalid ??
    ((message: string): never => {
      throw new Error(message);
    });
  const listed = new Set(
    options.allowedOrigins.map((entry, index) => {
      const origin = normaliseOrigin(entry);
      if (origin === null) {
        return invalid(`http.cors_allowed_origins[${index}]: "${entry}" is not an origin (a scheme and a host, such as https://app.example or http://192.168.1.5:8080)`);
      }
      return origin;
    }),
  );
  const isListed = (origin: string | undefined): boolean => {
    if (origin === undefined || listed.size === 0) return false;
    const normalised = normaliseOrigin(origin);
    return normalised !== null && listed.has(normalised);
  };
  return {
    isListed,
    foreignOrigin(request) {
      const origin = request.headers.origin;
      if (origin === undefined) return null;
      const normalised = normaliseOrigin(origin);
      if (normalised !== null && (listed.has(normalised) || ownOrigins(request, options.clientAddress).includes(normalised))) return null;
      return origin;
    },
  };
}
