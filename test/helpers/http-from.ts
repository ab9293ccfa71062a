/** Raw HTTP requests from a chosen local address (127.0.0.0/8 on loopback), so each test counts against an address of its own. */
import { request as httpRequest } from 'node:http';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body parsed as JSON, or `{}` when it was empty. */
  readonly body: Record<string, any>;
}

/** POSTs `body` to `url` from `localAddress` with exactly `headers` (no Content-Type unless given) and reads the JSON answer. */
export function postFrom(url: string, localAddress: string, headers: Record<string, string>, body: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const options = { method: 'POST', localAddress, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } };
    const req = httpRequest(url, options, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, any>) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
