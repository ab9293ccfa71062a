/** Several real `flowgate serve` processes on one shared store, as a scaled-out deployment runs them. */
import { RawClient } from './raw-client.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess, type StartOptions } from './server-process.js';

export interface Instances {
  readonly all: readonly ServerProcess[];
  /** Instance i (0-based); throws when it does not exist, so tests never index out of range silently. */
  at(index: number): ServerProcess;
  /** Opens a client on instance i, hello consumed; it is closed by stop(). */
  open(index: number): Promise<RawClient>;
  /** Closes every client opened through open() and stops every instance still running (SIGTERM). */
  stop(): Promise<void>;
}

export async function startInstances(count: number, store: string, options: Omit<StartOptions, 'store'> = {}): Promise<Instances> {
  const all = await Promise.all(
    Array.from({ length: count }, () => startServerProcess({ config: EXAMPLE_CONFIG, ...options, store })),
  );
  const clients: RawClient[] = [];
  const at = (index: number): ServerProcess => {
    const instance = all[index];
    if (instance === undefined) throw new Error(`no instance ${index} (there are ${all.length})`);
    return instance;
  };
  return {
    all,
    at,
    async open(index) {
      const { client } = await RawClient.open(at(index).url);
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients.splice(0)) client.close();
      await Promise.all(all.map((instance) => instance.stop()));
    },
  };
}

/** Polls `probe` until it answers true and returns how long that took; fails after `timeoutMs`. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await probe()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

/** The p-th percentile (0..100) of `values`, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
