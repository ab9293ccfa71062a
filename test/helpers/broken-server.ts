/**
 * A deliberately broken server for the conformance kit's own tests: a WebSocket proxy in front of a real Flowgate that passes
 * everything through except `id_reuse`, which it turns into a success. So exactly the id-rule cases must fail, and every other
 * case still passes, which shows the kit blames the right case.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer, type RawData } from 'ws';

export interface BrokenServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** Close codes a server may put in a close frame (RFC 6455 7.4.1: 1005 and 1006 are only ever observed, never sent). */
function sendableCode(code: number): number {
  return code === 1005 || code === 1006 ? 1000 : code;
}

/** The reply with its `id_reuse` error replaced by a success: the server's bug. */
function breakIdReuse(text: string): string {
  const message = JSON.parse(text) as Record<string, unknown>;
  const error = message['error'] as Record<string, unknown> | undefined;
  if (message['type'] !== 'result' || error?.['code'] !== 'id_reuse') return text;
  return JSON.stringify({ id: message['id'], type: 'result', success: true, result: null });
}

export async function startBrokenServer(upstreamUrl: string): Promise<BrokenServer> {
  // No frame limit of its own: oversized frames reach the real server, which closes with 1009 as it should.
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 16 * 1024 * 1024 });
  server.on('connection', (client, request) => {
    // The page's Origin goes upstream as a browser's would, so that the origin rule is the real server's to apply.
    const origin = request.headers.origin;
    const upstream = new WebSocket(upstreamUrl, origin === undefined ? {} : { headers: { origin } });
    const queued: Array<[RawData, boolean]> = [];
    client.on('message', (data, isBinary) => {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary });
      else queued.push([data, isBinary]);
    });
    upstream.on('open', () => {
      for (const [data, isBinary] of queued.splice(0)) upstream.send(data, { binary: isBinary });
    });
    upstream.on('message', (data, isBinary) => client.send(isBinary ? data : breakIdReuse(data.toString()), { binary: isBinary }));
    upstream.on('close', (code, reason) => client.close(sendableCode(code), reason));
    client.on('close', (code) => (upstream.readyState === WebSocket.CONNECTING ? upstream.terminate() : upstream.close(sendableCode(code))));
    upstream.on('error', () => client.terminate());
    client.on('error', () => upstream.terminate());
  });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/api/websocket`,
    async stop() {
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
