/**
 * The reference for the step figures (child of the bench): what a login step costs with nothing of Flowgate but its socket and
 * its store calls. `ws` configured as Flowgate configures it, node-redis with Flowgate's client options and Lua, flows kept as
 * Flowgate keeps them (one hash; HMGET to read, the engine's compare-and-set script to write), and none of the rest: no frame
 * or record validation, no limits, no audit line, no metrics, no deadline on store calls. It answers `login_flow/init`, `get`
 * and `step` (the example provider's form, any answer wrong) well enough for the bench's own client, nothing else.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { createRedisClient } from '../../server/src/store/redis/client.js';

const MAX_FRAME_BYTES = 64 * 1024;
const FORM = [
  { name: 'username', type: 'string', required: true },
  { name: 'password', type: 'string', required: true },
];

const redisUrl = process.argv[2];
if (redisUrl === undefined) throw new Error('usage: plain-server.ts REDIS_URL');
const redis = createRedisClient(redisUrl, 5_000);
// Redis going away ends the run this server serves.
redis.on('error', () => process.exit(0));
await redis.connect();

const key = (flowId: string): string => `bench-plain:flow:{${flowId}}`;
const form = (id: unknown, flowId: string, errors: unknown): string =>
  JSON.stringify({ id, type: 'result', success: true, result: { type: 'form', flow_id: flowId, step_id: 'init', data_schema: FORM, errors } });

async function answer(message: { id?: unknown; type?: unknown; flow_id?: unknown }): Promise<string> {
  if (message.type === 'ping') return JSON.stringify({ id: message.id, type: 'pong' });
  if (message.type === 'login_flow/init') {
    const flowId = randomBytes(16).toString('hex');
    const expiresAt = String(Date.now() + 3_600_000);
    await redis.hSet(key(flowId), { v: '1', d: JSON.stringify({ step_id: 'init', errors: null }), x: expiresAt });
    return form(message.id, flowId, null);
  }
  const flowId = String(message.flow_id);
  const [version, data, expiresAt] = await redis.hmGet(key(flowId), ['v', 'd', 'x']);
  const record = JSON.parse(data ?? '{}') as { errors: unknown };
  if (message.type === 'login_flow/step') {
    record.errors = { base: 'invalid_auth' };
    await redis.replaceFlow([key(flowId)], [String(version), JSON.stringify(record), String(expiresAt)]);
  }
  return form(message.id, flowId, record.errors);
}

const http = createServer((_request, response) => response.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
http.on('upgrade', (request, socket, head) => {
  socket.on('error', () => socket.destroy());
  wss.handleUpgrade(request, socket, head, (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      answer(JSON.parse(String(data)) as Record<string, unknown>).then(
        (reply) => ws.send(reply),
        () => ws.close(1011),
      );
    });
    ws.send(JSON.stringify({ type: 'auth_required', server: 'plain' }));
  });
});
http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.send?.({ kind: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 });
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
