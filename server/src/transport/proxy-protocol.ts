/** The PROXY protocol (v1 text, v2 binary; haproxy `send-proxy[-v2]`) in front of HTTP: read from trusted proxies only. */
import { createServer, isIPv4, isIPv6, type Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import { normaliseAddress, type ClientAddressPolicy } from '../defense/client-address.js';

/** The v2 signature: chosen by the spec so that it can never start an HTTP request (or a v1 header). */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED_BYTES = 16;
const V1_PREFIX = Buffer.from('PROXY ');
/** The spec's bound for a v1 line, CRLF included ("PROXY TCP6" with two full IPv6 addresses and ports). */
export const PROXY_V1_MAX_BYTES = 107;
/**
 * Largest v2 header accepted. The format allows 64 KiB of TLVs; haproxy sends none by default and a few hundred bytes with
 * every `proxy-v2-options`, so anything near the format's limit is a broken or hostile peer, not a proxy.
 */
export const PROXY_V2_MAX_BYTES = 2_048;
/** A proxy writes the header in its first packet; a trusted peer that has not after this long is stuck or not a proxy. */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;

/** `source` is the client's address; null for a LOCAL (v2) or UNKNOWN (v1) header: the proxy's own connection, such as a health check. */
export interface ProxyHeader {
  readonly version: 1 | 2;
  readonly source: string | null;
}

export type ProxyParse =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly reason: string }
  | { readonly status: 'ok'; readonly header: ProxyHeader; readonly length: number };

const INCOMPLETE: ProxyParse = { status: 'incomplete' };
const invalid = (reason: string): ProxyParse => ({ status: 'invalid', reason });

/** True when `data` is a (possibly partial) start of `prefix`, or starts with all of it. */
function startsLike(data: Buffer, prefix: Buffer): boolean {
  const n = Math.min(data.length, prefix.length);
  return data.subarray(0, n).equals(prefix.subarray(0, n));
}

/** Reads a PROXY header from the first bytes of a connection; `length` is where the proxied stream starts. */
export function parseProxyHeader(data: Buffer): ProxyParse {
  if (data.length === 0) return INCOMPLETE;
  if (startsLike(data, V2_SIGNATURE)) return parseV2(data);
  if (startsLike(data, V1_PREFIX)) return parseV1(data);
  return invalid('not a PROXY protocol header');
}

function parseV2(data: Buffer): ProxyParse {
  if (data.length < V2_FIXED_BYTES) return INCOMPLETE;
  const versionCommand = data[12] ?? 0;
  const familyTransport = data[13] ?? 0;
  const length = V2_FIXED_BYTES + data.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return invalid(`unsupported PROXY v2 version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`unknown PROXY v2 command ${command}`);
  if (length > PROXY_V2_MAX_BYTES) return invalid(`PROXY v2 header of ${length} bytes is longer than ${PROXY_V2_MAX_BYTES}`);
  if (data.length < length) return INCOMPLETE;
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  if (family > 3 || transport > 2) return invalid(`unknown PROXY v2 address family/transport 0x${familyTransport.toString(16)}`);
  // LOCAL: the proxy speaks for itself (health checks); UNSPEC and UNIX carry no IP address to believe.
  if (command === 0 || family === 0 || family === 3) return { status: 'ok', header: { version: 2, source: null }, length };
  const addressBytes = family === 1 ? 4 : 16;
  // Source and destination addresses, then the two ports.
  if (length - V2_FIXED_BYTES < addressBytes * 2 + 4) return invalid('PROXY v2 header too short for its address family');
  const raw = data.subarray(V2_FIXED_BYTES, V2_FIXED_BYTES + addressBytes);
  const text =
    family === 1
      ? [...raw].join('.')
      : Array.from({ length: 8 }, (_, i) => raw.readUInt16BE(i * 2).toString(16)).join(':');
  return { status: 'ok', header: { version: 2, source: normaliseAddress(text) }, length };
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function parseV1(data: Buffer): ProxyParse {
  const end = data.subarray(0, PROXY_V1_MAX_BYTES).indexOf('\r\n');
  if (end < 0) return data.length >= PROXY_V1_MAX_BYTES ? invalid('PROXY v1 line longer than 107 bytes') : INCOMPLETE;
  const length = end + 2;
  const line = data.subarray(0, end).toString('latin1');
  const fields = line.split(' ');
  // "PROXY UNKNOWN" may be followed by anything; the receiver ignores it and uses the connection's own addresses.
  if (fields[1] === 'UNKNOWN') return { status: 'ok', header: { version: 1, source: null }, length };
  if (fields.length !== 6) return invalid('PROXY v1 line does not have 6 fields');
  const [, protocol, source = '', destination = '', sourcePort = '', destinationPort = ''] = fields;
  const isFamily = protocol === 'TCP4' ? isIPv4 : protocol === 'TCP6' ? isIPv6 : undefined;
  if (isFamily === undefined) return invalid(`unknown PROXY v1 protocol "${String(protocol).slice(0, 16)}"`);
  if (!isFamily(source) || !isFamily(destination)) return invalid(`PROXY v1 addresses are not ${protocol} addresses`);
  for (const port of [sourcePort, destinationPort]) {
    if (!PORT.test(port) || Number(port) > 65535) return invalid('PROXY v1 port is not a port number');
  }
  return { status: 'ok', header: { version: 1, source: normaliseAddress(source) }, length };
}

/** The client address a PROXY header gave for this socket (absent: no header, or LOCAL/UNKNOWN). */
const proxiedAddresses = new WeakMap<Socket, string>();

export function proxiedAddress(socket: Socket): string | undefined {
  return proxiedAddresses.get(socket);
}

export interface ProxyListenerOptions {
  readonly httpServer: HttpServer;
  readonly policy: Pick<ClientAddressPolicy, 'isTrustedProxy'>;
  readonly logger: Logger;
  readonly headerTimeoutMs?: number;
}

/**
 * A TCP listener that hands every connection to `httpServer`: a trusted proxy's only after its PROXY header was read (the bytes
 * after it are put back for HTTP), anyone else's untouched. A trusted peer whose header is missing, wrong, too long or too slow
 * is dropped: accepting it would either lose the client address or let a misconfigured proxy pass as the client.
 */
export function createProxyProtocolListener(options: ProxyListenerOptions): NetServer {
  const { httpServer, policy, logger } = options;
  const timeoutMs = options.headerTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS;
  return createServer((socket) => {
    if (!policy.isTrustedProxy(socket.remoteAddress)) {
      httpServer.emit('connection', socket);
      return;
    }
    let received: Buffer = Buffer.alloc(0);
    const onError = (): void => void socket.destroy();
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.pause();
    };
    const drop = (reason: string): void => {
      finish();
      logger.warn({ peer: socket.remoteAddress, reason }, 'dropped a connection from a trusted proxy without a valid PROXY header');
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const parsed = parseProxyHeader(received);
      if (parsed.status === 'incomplete') return;
      if (parsed.status === 'invalid') {
        drop(parsed.reason);
        return;
      }
      finish();
      if (parsed.header.source !== null) proxiedAddresses.set(socket, parsed.header.source);
      const rest = received.subarray(parsed.length);
      if (rest.length > 0) socket.unshift(rest);
      httpServer.emit('connection', socket);
      socket.resume();
    };
    const timer = setTimeout(() => drop(`no PROXY header within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    socket.on('error', onError);
    socket.on('data', onData);
  });
}
