/** The baseline for memory per socket: a `ws` server with Flowgate's options and nothing of Flowgate (child of the bench). */
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WebSocketServer } from 'ws';

const MAX_FRAME_BYTES = 64 * 1024;
const http = createServer((_request, response) => response.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
const hello = JSON.stringify({ type: 'auth_required', server: 'bare-ws' });

http.on('upgrade', (request, socket, head) => {
  socket.on('error', () => socket.destroy());
  wss.handleUpgrade(request, socket, head, (ws) => {
    // The least a real server does per socket: survive its errors and answer its frames.
    ws.on('error', () => undefined);
    ws.on('message', (data) => ws.send(String(data)));
    ws.send(hello);
  });
});
http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.send?.({ kind: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 });
});
// Measured as Flowgate's FLOWGATE_EVENT_LOOP_REPORT does (1 ms resolution), read and reset by the bench.
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
process.on('message', (message: { kind: string }) => {
  if (message.kind !== 'loop-delay') return;
  process.send?.({ kind: 'loop-delay', maxMs: loopDelay.max / 1e6 });
  loopDelay.reset();
});
process.on('SIGTERM', () => process.exit(0));
// The bench is gone (even killed): so is the reason to hold anything.
process.on('disconnect', () => process.exit(0));
