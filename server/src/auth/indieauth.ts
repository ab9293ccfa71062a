/** Home Assistant's IndieAuth rules: which client ids are valid, and to which redirect URIs a client's login may be sent. */
import { isIP } from 'node:net';
import { isLocalAddress } from '../defense/client-address.js';
import { ServiceError } from '../errors.js';
import { fetchRedirectUris, type PageFetchOptions } from './client-page.js';

/** The messages HA answers; other layers (the HTTP API) map the code and keep the words. */
export const INVALID_CLIENT_ID = 'Invalid client id';
export const INVALID_REDIRECT_URI = 'Invalid redirect URI';

/**
 * HA's hard-coded callbacks of its mobile apps, by client id, so that a phone can be linked to a server that cannot fetch
 * home-assistant.io (no internet): the apps' custom scheme, and the Wear OS sign-in pages for the Android app's watch.
 */
export const MOBILE_APP_REDIRECT_URIS: ReadonlyMap<string, readonly string[]> = new Map([
  ['https://home-assistant.io/iOS', ['homeassistant://auth-callback']],
  [
    'https://home-assistant.io/android',
    [
      'homeassistant://auth-callback',
      'https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android',
      'https://wear.googleapis-cn.com/3p_auth/io.homeassistant.companion.android',
    ],
  ],
]);

/**
 * Schemes a browser runs or reads locally instead of visiting: sending a login's code to one would run the client's text
 * as script on the authorize page (or read a local file), so no rule accepts them, whatever a client page declares.
 */
const SCRIPT_SCHEMES = new Set(['javascript:', 'vbscript:', 'data:', 'blob:', 'file:', 'filesystem:', 'about:']);

/** Split as written, before the URL parser removes dot segments or strips characters (a client id is checked as sent). */
const RAW_HTTP_URL = /^(https?):\/\/([^/?#\\]*)([^?#]*)/i;
/** `.` and `..` path segments, also percent-encoded (the URL parser resolves `%2e` as `.`). */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
/** White space, control characters and `\` (which browsers read as `/`): a client id never needs them, and parsers disagree on them. */
const hasUnsafeCharacter = (text: string): boolean =>
  [...text].some((char) => char.charCodeAt(0) <= 0x20 || char.charCodeAt(0) === 0x7f || char === '\\');

/** The client id's URL when it is valid by IndieAuth 3.2 as HA reads it (see verifyClientId), else null. */
export function parseClientId(clientId: string): URL | null {
  if (hasUnsafeCharacter(clientId) || clientId.includes('#')) return null;
  const raw = RAW_HTTP_URL.exec(clientId);
  const authority = raw?.[2] ?? '';
  if (raw === null || authority === '' || authority.includes('@')) return null;
  if ((raw[3] ?? '').split('/').some((segment) => DOT_SEGMENT.test(segment))) return null;
  // The URL parser refuses a port that is not a number up to 65535 and a host with forbidden characters.
  if (!URL.canParse(clientId)) return null;
  const url = new URL(clientId);
  if (url.username !== '' || url.password !== '' || url.hostname === '') return null;
  // The parser turns every IPv4 spelling (`0x7f.1`, `2130706433`) into dotted form, so this sees the address connected to.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) !== 0 && !isLocalAddress(host) ? null : url;
}

/**
 * Checks a `client_id` as HA does: an http or https URL with a host, no fragment, no user name or password, no `.` or `..`
 * path segments, a valid port, and a host that is a domain name or a local address (loopback, private or link-local; HA
 * allows these beyond the spec so that a client on the home network can be its own client id). Returns the URL, normalised
 * as IndieAuth says (host in lower case, an empty path as `/`), for comparisons only: the client id itself stays as sent,
 * since flows and codes are bound to that exact string. Throws `invalid_request` "Invalid client id" otherwise.
 */
export function verifyClientId(clientId: string): URL {
  const url = parseClientId(clientId);
  if (url === null) throw new ServiceError('invalid_request', INVALID_CLIENT_ID);
  return url;
}

export interface RedirectUriOptions extends PageFetchOptions {
  /** `clients:` from the config: client id -> redirect URIs accepted for it besides the rules. */
  readonly clients?: ReadonlyMap<string, readonly string[]>;
  /** Told why a client id's page gave no redirect URIs (unreachable, refused, not HTML...), for the operator's log. */
  readonly onPageProblem?: (clientId: string, reason: string) => void;
}

/** Two URLs are the same when the URL parser reads them the same way (as the browser that follows the redirect will). */
function sameUrl(a: string, b: string): boolean {
  if (a === b) return true;
  return URL.canParse(a) && URL.canParse(b) && new URL(a).href === new URL(b).href;
}

/** The rules that need no fetch: the client's own scheme and host, HA's mobile apps, and the config's `clients:`. */
function acceptedWithoutFetch(clientId: string, client: URL, redirectUri: string, redirect: URL, options: RedirectUriOptions): boolean {
  if (redirect.protocol === client.protocol && redirect.host === client.host) return true;
  if (MOBILE_APP_REDIRECT_URIS.get(clientId)?.includes(redirectUri) === true) return true;
  return (options.clients?.get(clientId) ?? []).some((listed) => sameUrl(listed, redirectUri));
}

/**
 * True when a login started by `clientId` may send its code to `redirectUri`, by HA's rules in this order: the redirect URI
 * has the client id's scheme and host (and port); it is one of HA's mobile app callbacks for that app's client id; it is
 * listed for the client id in `clients:`; or the client id's page declares it with `<link rel="redirect_uri">` (fetched
 * only when nothing before accepted it; see fetchRedirectUris for the limits). An invalid client id or a redirect URI that
 * is not a URL, or that a browser would run as script, is never accepted.
 */
export async function verifyRedirectUri(clientId: string, redirectUri: string, options: RedirectUriOptions = {}): Promise<boolean> {
  const client = parseClientId(clientId);
  if (client === null || !URL.canParse(redirectUri)) return false;
  const redirect = new URL(redirectUri);
  if (SCRIPT_SCHEMES.has(redirect.protocol)) return false;
  if (acceptedWithoutFetch(clientId, client, redirectUri, redirect, options)) return true;
  const page = await fetchRedirectUris(clientId, options);
  if (!page.ok) {
    options.onPageProblem?.(clientId, page.reason);
    return false;
  }
  if (page.redirectUris.some((declared) => sameUrl(declared, redirectUri))) return true;
  // The page was read but does not list this one: most often a typo, a trailing slash or http for https.
  const declared = page.redirectUris.length === 0 ? 'no redirect_uri link' : `only ${page.redirectUris.slice(0, 5).join(', ')}`;
  options.onPageProblem?.(clientId, `the page declares ${declared}, not ${redirectUri}`);
  return false;
}

/** verifyRedirectUri, throwing `invalid_request` "Invalid redirect URI" when it is false. */
export async function assertRedirectUri(clientId: string, redirectUri: string, options: RedirectUriOptions = {}): Promise<void> {
  if (!(await verifyRedirectUri(clientId, redirectUri, options))) throw new ServiceError('invalid_request', INVALID_REDIRECT_URI);
}
