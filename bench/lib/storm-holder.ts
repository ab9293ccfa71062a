/**
 * Child of the bench's reconnect storm: `@flowgate/client` clients, each authenticated on the first of its URLs, that report
 * when every one of them has re-authenticated after its socket was closed (the client's own reconnect logic does the rest).
 */
import { createNodeClient, type FlowgateClient, type Tokens } from '../../clients/ts/src/node.js';

/** Clients connecting at once while the storm is set up: quick, and within the server's accept backlog. */
const OPEN_CONCURRENCY = 64;

interface HoldMessage {
  readonly kind: 'hold';
  readonly urls: readonly string[];
  readonly clientId: string;
  readonly count: number;
  readonly tokens: Tokens;
  /** The clients' `reconnect.restartSpreadMs` (their default when absent). */
  readonly restartSpreadMs?: number;
}

const clients: FlowgateClient[] = [];
let disconnected = 0;
let reauthenticated = 0;
let failedAttempts = 0;
/** Why attempts failed, by message (cut to its start): a melting B says how. */
const failures = new Map<string, number>();
let firstAt = 0;
let lastAt = 0;

function report(): void {
  if (reauthenticated === clients.length) process.send?.({ kind: 'reauthenticated', count: reauthenticated, firstAt, lastAt, failedAttempts, failures: Object.fromEntries(failures) });
}

async function openOne(message: HoldMessage): Promise<void> {
  const spread = message.restartSpreadMs === undefined ? {} : { restartSpreadMs: message.restartSpreadMs };
  const client = createNodeClient({ url: message.urls, clientId: message.clientId, deviceTokens: false, reconnect: spread });
  await client.authenticate(message.tokens);
  let away = false;
  client.on('disconnected', () => {
    away = true;
    disconnected += 1;
  });
  client.on('reconnecting', ({ error }) => {
    if (error === undefined) return;
    failedAttempts += 1;
    const why = error.message.slice(0, 60);
    failures.set(why, (failures.get(why) ?? 0) + 1);
  });
  client.on('authenticated', () => {
    if (!away) return;
    away = false;
    reauthenticated += 1;
    const now = Date.now();
    if (firstAt === 0) firstAt = now;
    lastAt = now;
    report();
  });
  clients.push(client);
}

async function hold(message: HoldMessage): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < message.count) {
      next += 1;
      await openOne(message);
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, message.count) }, worker));
}

process.on('message', (message: HoldMessage | { kind: 'status' }) => {
  if (message.kind === 'status') {
    process.send?.({ kind: 'status', count: clients.length, disconnected, reauthenticated, failedAttempts });
    return;
  }
  if (message.kind !== 'hold') return;
  hold(message).then(
    () => process.send?.({ kind: 'held', opened: clients.length }),
    (error: unknown) => process.send?.({ kind: 'held', opened: clients.length, error: String(error) }),
  );
});
process.on('SIGTERM', () => process.exit(0));
// The bench is gone (even killed): so is the reason to hold anything.
process.on('disconnect', () => process.exit(0));
