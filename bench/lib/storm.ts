/**
 * The reconnect storm: authenticated `@flowgate/client` sockets on instance A, A stopped (SIGTERM: it closes them with 1012),
 * every client back and authenticated on B; against as many bare `ws` connects to a bare server, arriving the same way.
 */
import type { ChildProcess } from 'node:child_process';
import { CLIENT_ID, insecureTokens } from './figures.js';
import { forkModule, holdSockets, nextMessage, startBareServer, startFlowgate, stopChild, type ChildMessage } from './processes.js';
import { sleep } from './stats.js';

/** How often B reports its worst event-loop delay (FLOWGATE_EVENT_LOOP_REPORT), and so the resolution of "when" it peaked. */
const LOOP_REPORT_MS = 250;
/** The client's default `restartSpreadMs` (clients/ts/src/client.ts), which the storm keeps: it is what deployments get. */
export const RESTART_SPREAD_MS = 5_000;
/** Past this, the storm has failed (clients that never come back), rather than being slow. */
const STORM_DEADLINE_MS = 120_000;

export interface Storm {
  readonly sockets: number;
  /** From A's SIGTERM until the last client was authenticated on B. */
  readonly reauthMs: number;
  /** B's worst event-loop delay during the storm, and before it (idle, holding nothing). */
  readonly peakDelayMs: number;
  readonly idleDelayMs: number;
  /** Reconnect attempts that failed (refused, timed out) and were retried: a melting B shows here first. */
  readonly failedAttempts: number;
  /** The same number of bare connects, each at a random moment within the same spread, to a bare `ws` server. */
  readonly bareMs: number;
  readonly barePeakDelayMs: number;
}

async function holdClients(urls: readonly string[], count: number, perProcess: number, tokens: object, restartSpreadMs: number): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  const parts: number[] = [];
  for (let left = count; left > 0; left -= perProcess) parts.push(Math.min(left, perProcess));
  const replies = await Promise.all(
    parts.map(async (part) => {
      const child = forkModule('storm-holder.ts');
      children.push(child);
      const held = nextMessage(child, 'held');
      child.send({ kind: 'hold', urls, clientId: CLIENT_ID, count: part, tokens, restartSpreadMs });
      return held;
    }),
  ).catch(async (error: unknown) => {
    await Promise.all(children.map(stopChild));
    throw error;
  });
  const failures = replies.map((r) => r['error']).filter((e) => e !== undefined);
  if (failures.length > 0) {
    await Promise.all(children.map(stopChild));
    throw new Error(`storm holders failed: ${failures.map(String).join('; ')}`);
  }
  return children;
}

export async function reconnectStorm(
  redisUrl: string,
  count: number,
  perProcess: number,
  restartSpreadMs = RESTART_SPREAD_MS,
  /** B runs under --cpu-prof into this folder (`npm run bench -- --profile DIR`). */
  profileDir?: string,
): Promise<Storm> {
  const delays: Array<{ at: number; maxMs: number }> = [];
  const watch = {
    text: 'event loop delay',
    onLine: (line: string) => delays.push({ at: Date.now(), maxMs: Number((JSON.parse(line) as { maxMs: number }).maxMs) }),
  };
  const [a, b] = await Promise.all([
    startFlowgate(redisUrl),
    startFlowgate(redisUrl, profileDir, undefined, { env: { FLOWGATE_EVENT_LOOP_REPORT: String(LOOP_REPORT_MS) }, watch }),
  ]);
  let children: ChildProcess[] = [];
  try {
    const response = await insecureTokens(a.url);
    const tokens = { ...response, expires_at: Date.now() + response.expires_in * 1000 };
    children = await holdClients([a.url, b.url], count, perProcess, tokens, restartSpreadMs);
    await sleep(2 * LOOP_REPORT_MS);
    const stormAt = Date.now();
    const idleDelayMs = Math.max(0, ...delays.filter((d) => d.at < stormAt).map((d) => d.maxMs));
    const back = Promise.all(children.map((child) => nextMessage(child, 'reauthenticated')));
    await a.stop();
    const reports: ChildMessage[] = await Promise.race([
      back,
      sleep(STORM_DEADLINE_MS).then(() => Promise.reject(new Error(`the storm's clients were not all back within ${STORM_DEADLINE_MS} ms`))),
    ]);
    const lastAt = Math.max(...reports.map((r) => Number(r['lastAt'])));
    // The report covering the last re-authentication.
    await sleep(2 * LOOP_REPORT_MS);
    const peakDelayMs = Math.max(0, ...delays.filter((d) => d.at >= stormAt).map((d) => d.maxMs));
    const failedAttempts = reports.reduce((sum, r) => sum + Number(r['failedAttempts']), 0);
    await Promise.all(children.map(stopChild));
    children = [];

    const bare = await startBareServer();
    try {
      await bare.loopDelayMs();
      const bareAt = Date.now();
      const held = await holdSockets(bare.url, count, perProcess, null, restartSpreadMs);
      const barePeakDelayMs = await bare.loopDelayMs();
      await held.release();
      return { sockets: count, reauthMs: lastAt - stormAt, peakDelayMs, idleDelayMs, failedAttempts, bareMs: held.lastAt - bareAt, barePeakDelayMs };
    } finally {
      await bare.stop();
    }
  } finally {
    await Promise.all(children.map(stopChild));
    await Promise.all([a.stop(), b.stop()]);
  }
}
