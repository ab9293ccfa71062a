/** Fetches the start of a client id's page for its redirect URI links, never from a private address (server-side request forgery). */
import { lookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { addressRanges, isLocalAddress } from '../defense/client-address.js';
import { ServiceError } from '../errors.js';
import { findRedirectUriLinks } from './link-tags.js';

/** HA's timeout for the whole fetch (connect, redirects, body): a login waits for it, so a slow page must not hold it long. */
export const PAGE_FETCH_TIMEOUT_MS = 5_000;
/** HA reads the first 10 kB: the `<link>` tags sit in `<head>`, and an endless or huge page must cost us no more than this. */
export const MAX_PAGE_BYTES = 10_240;
/** Redirects followed (each one checked like the first URL): enough for http -> https -> a trailing slash, not for a loop. */
export const MAX_PAGE_REDIRECTS = 3;
/**
 * Page fetches one process runs at once. Each is started by an unauthenticated `login_flow/init` and may hold a connection
 * for PAGE_FETCH_TIMEOUT_MS; past this, a new one is refused with `rate_limited` rather than queued.
 */
export const MAX_CONCURRENT_PAGE_FETCHES = 32;

/**
 * Addresses that are not on the public internet beyond the local ones (`isLocalAddress`): "this network" (0.0.0.0/8 reaches
 * this host on Linux), shared address space (carrier-grade NAT), IETF protocol assignments, benchmarking, multicast, reserved
 * and broadcast, the unspecified and discard-only IPv6 addresses, NAT64 (which maps to any IPv4 address, private ones too),
 * deprecated site-local and multicast IPv6.
 */
const SPECIAL_RANGES = addressRanges(
  [
    '0.0.0.0/8',
    '100.64.0.0/10',
    '192.0.0.0/24',
    '198.18.0.0/15',
    '224.0.0.0/4',
    '240.0.0.0/4',
    '::/128',
    '100::/64',
    '64:ff9b::/96',
    '64:ff9b:1::/48',
    'fec0::/10',
    'ff00::/8',
  ],
  'special ranges',
);

/** False for loopback, private, link-local and the special ranges above: the addresses a client id's page is never fetched from. */
export const isPublicAddress = (address: string): boolean => !isLocalAddress(address) && !SPECIAL_RANGES.contains(address);

export interface PageFetchOptions {
  /** Fetch from private, loopback and link-local addresses too (`indieauth.allow_private_addresses`); default false. */
  readonly allowPrivateAddresses?: boolean;
  /** Default PAGE_FETCH_TIMEOUT_MS; tests shorten it. */
  readonly timeoutMs?: number;
  /** Which addresses count as public (default isPublicAddress): tests let a loopback address stand in for a public one. */
  readonly isPublic?: (address: string) => boolean;
}

/** The redirect URIs a page declares, or why it could not be read (for the log: the client only hears "Invalid redirect URI"). */
export type PageLinks = { readonly ok: true; readonly redirectUris: readonly string[] } | { readonly ok: false; readonly reason: string };

/** A reason the page is not fetched or not used. */
class PageRefused extends Error {}

let fetchesInFlight = 0;

/** Rejects with the signal's reason once it aborts (dns.lookup takes no signal). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The one address `url`'s host is connected to: every address it resolves to must be public (unless private ones are
 * allowed), since a name with one public and one private address would otherwise reach the private one some of the time.
 */
async function checkedAddress(url: URL, isAllowed: (address: string) => boolean, signal: AbortSignal): Promise<LookupAddress> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(host);
  const addresses = family !== 0 ? [{ address: host, family }] : await abortable(lookup(host, { all: true, verbatim: true }), signal);
  const [first] = addresses;
  if (first === undefined) throw new PageRefused(`${host} has no address`);
  const unsafe = addresses.find((entry) => !isAllowed(entry.address));
  if (unsafe !== undefined) {
    const what = family !== 0 ? host : `${host} resolves to ${unsafe.address}, which`;
    throw new PageRefused(`${what} is a private or special address (set indieauth.allow_private_addresses to fetch from it)`);
  }
  return first;
}

/**
 * Connects to `address` whatever the host resolves to now: the check above and the connection see the same address, so a
 * name that answers a public address to the check and a private one to the connection (DNS rebinding) gains nothing.
 */
const pinnedLookup =
  (address: LookupAddress): LookupFunction =>
  (_hostname, options, callback) => {
    if (options.all === true) callback(null, [address]);
    else callback(null, address.address, address.family);
  };

function get(url: URL, address: LookupAddress, signal: AbortSignal): Promise<IncomingMessage> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'GET',
        signal,
        lookup: pinnedLookup(address),
        // A fresh connection each time: a pooled one may lead to an address this fetch did not check.
        agent: false,
        headers: { accept: 'text/html', 'user-agent': 'Flowgate (IndieAuth client id page)' },
      },
      resolve,
    );
    request.on('error', reject);
    request.end();
  });
}

/** The body's first MAX_PAGE_BYTES; the connection is closed as soon as that much has arrived. */
async function readCapped(response: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= MAX_PAGE_BYTES) break;
  }
  response.destroy();
  return Buffer.concat(chunks).subarray(0, MAX_PAGE_BYTES);
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

async function fetchLinks(clientId: string, isAllowed: (address: string) => boolean, signal: AbortSignal): Promise<readonly string[]> {
  let url = new URL(clientId);
  for (let redirects = 0; ; redirects += 1) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PageRefused(`a redirect led to ${url.protocol}, not http or https`);
    const response = await get(url, await checkedAddress(url, isAllowed, signal), signal);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECT_STATUSES.has(status) && location !== undefined) {
      response.destroy();
      if (redirects >= MAX_PAGE_REDIRECTS) throw new PageRefused(`more than ${MAX_PAGE_REDIRECTS} redirects`);
      if (!URL.canParse(location, url.href)) throw new PageRefused(`a redirect to "${location}", which is not a URL`);
      url = new URL(location, url);
      continue;
    }
    if (status < 200 || status > 299) {
      response.destroy();
      throw new PageRefused(`the page answered HTTP ${status}`);
    }
    // Not `fatal`: a multi-byte character cut by the byte cap becomes U+FFFD instead of losing the whole page.
    const html = new TextDecoder('utf-8').decode(await readCapped(response));
    return findRedirectUriLinks(html, clientId);
  }
}

/**
 * Fetches `clientId` (an http(s) URL already verified as a client id) and lists the redirect URIs its page declares with
 * `<link rel="redirect_uri">`, resolved against the client id. The host's addresses are resolved first, and the page is
 * not fetched when one is private, loopback, link-local or special, unless `allowPrivateAddresses`; each redirect is checked
 * the same way. Nothing is cached: the page is the client's to change.
 */
export async function fetchRedirectUris(clientId: string, options: PageFetchOptions = {}): Promise<PageLinks> {
  if (fetchesInFlight >= MAX_CONCURRENT_PAGE_FETCHES) {
    throw new ServiceError('rate_limited', 'This server is checking too many redirect URIs at once; try again in a few seconds', {
      retryAfterSeconds: 5,
    });
  }
  fetchesInFlight += 1;
  const timeoutMs = options.timeoutMs ?? PAGE_FETCH_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const isAllowed = options.allowPrivateAddresses === true ? () => true : options.isPublic ?? isPublicAddress;
    return { ok: true, redirectUris: await fetchLinks(clientId, isAllowed, signal) };
  } catch (error) {
    if (error instanceof PageRefused) return { ok: false, reason: error.message };
    // Past the deadline the error is whatever the cut connection raised (an abort, a reset): the deadline is the reason.
    if (signal.aborted) return { ok: false, reason: `the page did not arrive within ${timeoutMs} ms` };
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  } finally {
    fetchesInFlight -= 1;
  }
}
