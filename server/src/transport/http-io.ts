/**
 * The HTTP plumbing of the socket upgrade and the login API: the client address (and the refusal of an X-Forwarded-For nobody
 * may send), bounded bodies, JSON answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_FRAME_BYTES, type ErrorCode } from '@flowgate/shared';
import type { Logger } from 'pino';
import { normaliseAddress, type ClientAddressPolicy, type ForwardedForKey } from '../defense/client-address.js';
import { proxiedAddress } from './proxy-protocol.js';

/**
 * Largest request body the login API reads: the socket's frame limit, for the same reason (a login body is a few hundred
 * bytes; 64 KiB leaves room for any real client without letting one pin memory). Past it: 413.
 */
export const MAX_HTTP_BODY_BYTES = MAX_FRAME_BYTES;
/** A client that has not sent its whole (small) body after this long is stuck or trickling on purpose: 408. */
export const HTTP_BODY_TIMEOUT_MS = 10_000;
/** What a 429 or 503 answer tells the client to wait when the refusal itself names no time. */
export const DEFAULT_RETRY_AFTER_SECONDS = 10;

/**
 * The client address of a request, exactly as the WebSocket upgrade resolves it: the PROXY header's source (when a trusted
 * proxy sent one) stands in for the peer, then `X-Forwarded-For` from a trusted proxy may refine it.
 */
export function requestClientAddress(request: IncomingMessage, policy: ClientAddressPolicy): string | null {
  return policy.resolve(requestPeer(request), request.headers['x-forwarded-for']);
}

/** Who sent the request: the PROXY header's source (when a trusted proxy sent one), else the TCP peer. */
const requestPeer = (request: IncomingMessage): string | undefined => proxiedAddress(request.socket) ?? request.socket.remoteAddress;

/**
 * Peers already warned about, so that one misconfigured proxy (or a client that keeps sending the header) gives one warning
 * line, not one per request. Bounded, as peers are chosen by clients: past the bound it starts over.
 */
const MAX_WARNED_PEERS = 1_000;

/** What the operator must do, by the key that is missing (the log line and the answer both say it). */
const FORWARDED_FOR_FIX: Record<ForwardedForKey, { readonly why: string; readonly fix: string }> = {
  'http.use_x_forwarded_for': { why: 'while http.use_x_forwarded_for is off', fix: 'set http.use_x_forwarded_for: true and list the proxy in http.trusted_proxies' },
  'http.trusted_proxies': { why: 'which is not in http.trusted_proxies', fix: 'list the proxy in http.trusted_proxies' },
};

/** Refuses, on the socket upgrade and every HTTP route, an X-Forwarded-For that is not believed (Home Assistant answers 400). */
export interface ForwardedForGuard {
  /** The sentence to answer 400 with when the request carries an X-Forwarded-For this server does not believe, else null. */
  refusal(request: IncomingMessage): string | null;
}

/** One guard per process (main.ts), so the socket and the HTTP routes warn once per peer between them. */
export function forwardedForGuard(policy: ClientAddressPolicy, logger: Logger): ForwardedForGuard {
  const warned = new Set<string>();
  return {
    refusal(request) {
      const forwardedFor = request.headers['x-forwarded-for'];
      if (forwardedFor === undefined) return null;
      const peer = requestPeer(request);
      const key = policy.unbelievedForwardedFor(peer, forwardedFor);
      if (key === null) return null;
      const { why, fix } = FORWARDED_FOR_FIX[key];
      const remote = peer === undefined ? 'unknown' : (normaliseAddress(peer) ?? peer);
      if (!warned.has(remote)) {
        if (warned.size >= MAX_WARNED_PEERS) warned.clear();
        warned.add(remote);
        logger.warn({ remote, key }, `refused a request with X-Forwarded-For from ${remote}, ${why}: if it is your proxy, ${fix}`);
      }
      return `This server does not accept X-Forwarded-For from your address. If a proxy in front of this server added it, the operator must ${fix}.`;
    },
  };
}

/** A request the API refuses before any route runs (body too large, too slow, not parseable): its status and a sentence. */
export class HttpRefusal extends Error {
  override readonly name = 'HttpRefusal';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The whole body, at most MAX_HTTP_BODY_BYTES: a declared or actual larger one is refused with 413, a body that does not
 * arrive within HTTP_BODY_TIMEOUT_MS with 408. Past a refusal the rest is read and dropped, so the answer reaches the client.
 */
export function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? '0');
    const tooLarge = (): HttpRefusal => new HttpRefusal(413, `The request body is larger than ${MAX_HTTP_BODY_BYTES} bytes`);
    if (Number.isFinite(declared) && declared > MAX_HTTP_BODY_BYTES) {
      request.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const timer = setTimeout(() => {
      settle(() => reject(new HttpRefusal(408, `The request body did not arrive within ${HTTP_BODY_TIMEOUT_MS / 1000} s`)));
      request.destroy();
    }, HTTP_BODY_TIMEOUT_MS);
    timer.unref();
    request.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > MAX_HTTP_BODY_BYTES) {
        chunks.length = 0;
        settle(() => reject(tooLarge()));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => settle(() => resolve(Buffer.concat(chunks))));
    request.on('error', () => settle(() => reject(new HttpRefusal(400, 'The request body could not be read'))));
  });
}

/** The media type of a request (`application/json`), lower case, without parameters; '' when it sends none. */
export function mediaType(request: IncomingMessage): string {
  return (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Every login API answer: never cached (they carry flow ids, codes and tokens), never sniffed. */
const BASE_HEADERS = { 'cache-control': 'no-store', pragma: 'no-cache', 'x-content-type-options': 'nosniff' };

export type Headers = Readonly<Record<string, string>>;

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...BASE_HEADERS,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  response.end(text);
}

export function sendEmpty(response: ServerResponse, status: number, headers: Headers = {}): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(status, { ...BASE_HEADERS, 'content-length': '0', ...headers });
  response.end();
}

/** `Retry-After` for a refusal that should be retried later (the error's own wait when it names one). */
export function retryAfter(seconds: number | undefined): Headers {
  return { 'retry-after': String(seconds ?? DEFAULT_RETRY_AFTER_SECONDS) };
}

/**
 * The HTTP status of an error code the auth layer throws, where the API has no more specific rule: 429 for the login limits
 * (Home Assistant has no such answer; RFC 6585's Too Many Requests with Retry-After is what clients and proxies understand),
 * 503 when the store cannot answer, 409 when another step of the flow won.
 */
export function statusOf(code: ErrorCode): number {
  switch (code) {
    case 'rate_limited':
      return 429;
    case 'unavailable':
      return 503;
    case 'conflict':
      return 409;
    case 'not_found':
      return 404;
    case 'access_denied':
    case 'not_allowed':
    case 'unauthorized':
      return 403;
    case 'unknown_error':
      return 500;
    default:
      return 400;
  }
}

/** Whether a status asks the client to come back later (and so carries Retry-After). */
export const isRetryable = (status: number): boolean => status === 429 || status === 503;
