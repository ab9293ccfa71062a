/** Real receivers for what the notify MFA module sends, run in the test process: an HTTP webhook endpoint and an SMTP server. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface WebhookCall {
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  /** The body parsed as JSON (undefined when it is not JSON: `rawBody` has it). */
  readonly body: any;
  readonly rawBody: string;
}

export interface WebhookReceiver {
  /** Where to POST: `http://127.0.0.1:<port>/hook`. */
  readonly url: string;
  /** Every request, in arrival order, recorded before it is answered. */
  readonly calls: WebhookCall[];
  /** How the next requests are answered: an HTTP status (default 204) after a delay (default none). */
  respondWith(status: number, delayMs?: number): void;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const calls: WebhookCall[] = [];
  let status = 204;
  let delayMs = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      calls.push({ headers: request.headers, method: request.method ?? '', body, rawBody });
      const answer = () => {
        response.statusCode = status;
        response.end();
      };
      if (delayMs === 0) return answer();
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, delayMs);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    calls,
    respondWith(nextStatus, nextDelayMs = 0) {
      status = nextStatus;
      delayMs = nextDelayMs;
    },
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ReceivedMail {
  /** The envelope: MAIL FROM and RCPT TO, as the client gave them. */
  readonly mailFrom: string;
  readonly rcptTo: string[];
  readonly subject: string;
  /** The plain-text body, with quoted-printable or base64 transfer encoding undone. */
  readonly text: string;
  readonly raw: string;
}

export interface SmtpReceiver {
  readonly host: string;
  readonly port: number;
  /** Every accepted message, recorded before the server answers its DATA (so a resolved sendMail has been recorded). */
  readonly messages: ReceivedMail[];
  /**
   * The notify module's `smtp` config for this server: plain SMTP on localhost (no STARTTLS offered), so with
   * `allow_plaintext: true`, without which the module refuses to send in clear (`extra` may set it false).
   */
  config(extra?: Record<string, unknown>): Record<string, unknown>;
  stop(): Promise<void>;
}

/** Undoes a body's Content-Transfer-Encoding (nodemailer picks 7bit, quoted-printable or base64 by the text). */
function decodeBody(body: string, encoding: string | undefined): string {
  switch (encoding?.toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable':
      return Buffer.from(
        body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        'latin1',
      ).toString('utf8');
    default:
      return body;
  }
}

/** Headers (unfolded, lower-case names) and body of a single-part message: what the notify module sends. */
function parseMail(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split + 4);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, text: decodeBody(body, headers.get('content-transfer-encoding')).replace(/\r\n$/, '') };
}

export async function startSmtpServer(): Promise<SmtpReceiver> {
  const messages: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const { headers, text } = parseMail(raw);
        const { mailFrom, rcptTo } = session.envelope;
        messages.push({
          mailFrom: mailFrom === false ? '' : mailFrom.address,
          rcptTo: rcptTo.map((recipient) => recipient.address),
          subject: headers.get('subject') ?? '',
          text,
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    messages,
    config: (extra = {}) => ({ host: '127.0.0.1', port, secure: false, allow_plaintext: true, from: 'flowgate@example.test', ...extra }),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
