/** Child of the bench: opens sockets, authenticates each (or sends one frame to a bare server), then holds them idle. */
import WebSocket from 'ws';

/** Connections opened at once: enough to be quick, few enough not to overflow the server's accept backlog. */
const OPEN_CONCURRENCY = 64;
const held: WebSocket[] = [];

function openOne(url: string, accessToken: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    let frames = 0;
    socket.on('error', reject);
    socket.on('message', (data) => {
      frames += 1;
      if (frames === 1) {
        socket.send(JSON.stringify(accessToken === null ? { id: 1, type: 'ping' } : { type: 'auth', access_token: accessToken }));
        return;
      }
      const reply = JSON.parse(String(data)) as { type?: string };
      if (accessToken !== null && reply.type !== 'auth_ok') reject(new Error(`auth answered ${String(data)}`));
      else if (frames === 2) {
        held.push(socket);
        resolve();
      }
    });
  });
}

let lastAt = 0;

async function hold(url: string, count: number, accessToken: string | null, spreadMs: number | undefined): Promise<void> {
  if (spreadMs !== undefined) {
    // Each at its own random moment, however many are in flight: how the clients of a stopped instance arrive.
    await Promise.all(
      Array.from({ length: count }, async () => {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * spreadMs));
        await openOne(url, accessToken);
        lastAt = Date.now();
      }),
    );
    return;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      await openOne(url, accessToken);
      lastAt = Date.now();
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker));
}

process.on('message', (message: { kind: string; url: string; count: number; accessToken: string | null; spreadMs?: number }) => {
  if (message.kind !== 'hold') return;
  hold(message.url, message.count, message.accessToken, message.spreadMs).then(
    () => process.send?.({ kind: 'held', opened: held.length, lastAt }),
    (error: unknown) => process.send?.({ kind: 'held', opened: held.length, error: String(error) }),
  );
});
process.on('SIGTERM', () => process.exit(0));
// The bench is gone (even killed): so is the reason to hold anything.
process.on('disconnect', () => process.exit(0));
