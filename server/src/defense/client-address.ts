/** Who the client is: the peer address, or what a trusted proxy says (PROXY protocol, X-Forwarded-For), and the key limits count by. */
import { BlockList, isIP, isIPv4 } from 'node:net';
import { ConfigError } from '../config/config.js';

/** HA's `http:` keys that decide whom to believe (Config.http satisfies this). */
export interface ClientAddressOptions {
  readonly useXForwardedFor: boolean;
  readonly trustedProxies: readonly string[];
  readonly proxyProtocol: boolean;
}

/** The key an operator sets so that an X-Forwarded-For now refused would be believed (see `unbelievedForwardedFor`). */
export type ForwardedForKey = 'http.use_x_forwarded_for' | 'http.trusted_proxies';

export interface ClientAddressPolicy {
  /** True when `address` (any form node reports) is one of `http.trusted_proxies`. */
  isTrustedProxy(address: string | null | undefined): boolean;
  /** Whether trusted proxies send a PROXY protocol header first (the listener reads it before HTTP). */
  readonly proxyProtocol: boolean;
  /** `http.use_x_forwarded_for`: whether a trusted proxy's X-Forwarded-* headers are believed at all. */
  readonly useXForwardedFor: boolean;
  /**
   * Home Assistant's rule: a request that carries X-Forwarded-For which is not believed (the option is off, or `peer` is not a
   * trusted proxy) is refused, not served with the header ignored, since behind a proxy nobody listed every client would share
   * the proxy's address. The key that would make it believed, or null when there is no such header or it is believed.
   */
  unbelievedForwardedFor(peer: string | null | undefined, forwardedFor: string | readonly string[] | undefined): ForwardedForKey | null;
  /**
   * The client address of a request whose direct peer is `peer` (already replaced by the PROXY header's source when there was
   * one): the right-most X-Forwarded-For entry that is not a trusted proxy when the peer is one and the header is believed,
   * else the peer itself. Normalised (no IPv4-mapped IPv6, no zone); null only when the peer is unknown.
   */
  resolve(peer: string | null | undefined, forwardedFor: string | readonly string[] | undefined): string | null;
}

const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/** One spelling per address: `::ffff:192.0.2.1` is 192.0.2.1, IPv6 in lower case without a zone; null when not an address. */
export function normaliseAddress(raw: string): string | null {
  let address = raw.trim();
  // X-Forwarded-For may carry `[v6]` or `[v6]:port` (RFC 7239 style) or `v4:port` from some proxies.
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed !== null) address = bracketed[1] ?? '';
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/.test(address)) address = address.slice(0, address.lastIndexOf(':'));
  address = address.replace(/%.*$/, '').toLowerCase();
  const mapped = IPV4_MAPPED.exec(address);
  if (mapped !== null) address = mapped[1] ?? '';
  const family = isIP(address);
  if (family === 0) return null;
  if (family === 4) return address;
  const groups = ipv6Groups(address);
  // `::ffff:c000:209` is the hex spelling of ::ffff:192.0.2.9 (PROXY v2 sends the 16 bytes).
  if (groups.slice(0, 6).every((group, i) => group === (i === 5 ? 0xffff : 0))) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  return formatIPv6(groups);
}

/** The 8 groups of an IPv6 address as numbers (the input is already known to be valid IPv6). */
function ipv6Groups(address: string): number[] {
  let text = address;
  // A dotted IPv4 tail (`::1.2.3.4`) is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of zero groups (2 or more) as `::`. */
function formatIPv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j += 1;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Every login step asks for its address's key (2-3 us of regular expressions each time); the addresses of one instance's
 * recent clients are remembered. Bounded, as client addresses are chosen by clients: past the bound it starts over.
 */
const MAX_REMEMBERED_LIMIT_KEYS = 10_000;
const limitKeys = new Map<string, string>();

/**
 * The key every per-address limit counts by: an IPv4 address as it is, an IPv6 address reduced to its /64 (`2001:db8:1:2::/64`),
 * because one subscriber usually gets a whole /64 and can pick a fresh address in it for every attempt.
 */
export function limitKey(address: string): string {
  let key = limitKeys.get(address);
  if (key === undefined) {
    if (limitKeys.size >= MAX_REMEMBERED_LIMIT_KEYS) limitKeys.clear();
    key = computeLimitKey(address);
    limitKeys.set(address, key);
  }
  return key;
}

function computeLimitKey(address: string): string {
  const normalised = normaliseAddress(address) ?? address;
  if (isIPv4(normalised) || isIP(normalised) === 0) return normalised;
  const groups = ipv6Groups(normalised).slice(0, 4);
  return `${formatIPv6([...groups, 0, 0, 0, 0])}/64`;
}

/** Adds one entry (an address or a CIDR) to `list`; false when it is neither. */
function addTrustedProxy(list: BlockList, entry: string): boolean {
  const [base = '', prefixText, extra] = entry.trim().split('/');
  if (extra !== undefined) return false;
  // Only a bare address here: a port or brackets in a config entry is a mistake worth reporting, not guessing around.
  const address = isIP(base.trim()) === 0 ? null : normaliseAddress(base);
  if (address === null) return false;
  const type = isIPv4(address) ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) {
    list.addAddress(address, type);
    return true;
  }
  const prefix = Number(prefixText);
  const max = type === 'ipv4' ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || prefix > max) return false;
  list.addSubnet(address, prefix, type);
  return true;
}

/** A set of addresses and CIDR ranges from a config list, matched in any spelling of an address. */
export interface AddressRanges {
  /** True when `address` is in one of the ranges (false for null and for what is not an address). */
  contains(address: string | null | undefined): boolean;
}

/**
 * Reads a config list of addresses and CIDRs (`http.trusted_proxies`, a provider's `trusted_networks`) once; a bad entry is a
 * ConfigError naming it (`key[index]`), so a typo never silently matches nobody (or everybody).
 */
export function addressRanges(entries: readonly string[], key: string): AddressRanges {
  const list = new BlockList();
  entries.forEach((entry, index) => {
    if (!addTrustedProxy(list, entry)) {
      throw new ConfigError(`${key}[${index}]: "${entry}" is not an IP address or a CIDR range (such as 10.0.0.5, 172.16.0.0/12 or fd00::/8)`);
    }
  });
  return {
    contains(address) {
      const normalised = address === null || address === undefined ? null : normaliseAddress(address);
      return normalised !== null && list.check(normalised, isIPv4(normalised) ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * Home Assistant's "local" addresses (`network.is_local`): loopback, the private ranges (RFC 1918, IPv6 unique local) and
 * link-local. `local_only` users may log in and use tokens only from these.
 */
const LOCAL_RANGES = addressRanges(
  ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', '169.254.0.0/16', 'fe80::/10'],
  'local ranges',
);

export const isLocalAddress = (address: string | null | undefined): boolean => LOCAL_RANGES.contains(address);

/** Reads `http:` once at startup; a bad entry is a ConfigError naming it, so a typo never silently trusts nobody (or everybody). */
export function clientAddressPolicy(options: ClientAddressOptions): ClientAddressPolicy {
  const trusted = addressRanges(options.trustedProxies, 'http.trusted_proxies');
  if ((options.useXForwardedFor || options.proxyProtocol) && options.trustedProxies.length === 0) {
    const key = options.useXForwardedFor ? 'http.use_x_forwarded_for' : 'http.proxy_protocol';
    throw new ConfigError(`${key} needs http.trusted_proxies: list the addresses of your proxies, or nobody would be believed`);
  }
  const isTrusted = (normalised: string): boolean => trusted.contains(normalised);
  const isTrustedProxy = (address: string | null | undefined): boolean => trusted.contains(address);
  return {
    proxyProtocol: options.proxyProtocol,
    useXForwardedFor: options.useXForwardedFor,
    isTrustedProxy,
    unbelievedForwardedFor(peer, forwardedFor) {
      if (forwardedFor === undefined) return null;
      if (!options.useXForwardedFor) return 'http.use_x_forwarded_for';
      return isTrustedProxy(peer) ? null : 'http.trusted_proxies';
    },
    resolve(peer, forwardedFor) {
      const direct = peer === null || peer === undefined ? null : normaliseAddress(peer) ?? peer;
      if (direct === null || !options.useXForwardedFor || forwardedFor === undefined || !isTrustedProxy(direct)) return direct;
      return fromForwardedFor(typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(','), direct, isTrusted);
    },
  };
}

/**
 * Walks X-Forwarded-For from the right (the entry our own proxy wrote) past trusted proxies; the first other address is the
 * client. Whatever lies left of it was written by the client and proves nothing. An entry that is not an address stops the
 * walk at the last hop we could vouch for, and so does a chain of trusted proxies only (HA takes its left-most entry too).
 */
function fromForwardedFor(header: string, peer: string, isTrusted: (address: string) => boolean): string {
  let nearest = peer;
  const hops = header.split(',').reverse();
  for (const hop of hops) {
    if (hop.trim() === '') continue;
    const address = normaliseAddress(hop);
    if (address === null) return nearest;
    if (!isTrusted(address)) return address;
    nearest = address;
  }
  return nearest;
}
