/** The processes a run needs besides itself: Redis and Flowgate (the test helpers), a bare ws server, socket-holding children. */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXAMPLE_CONFIG, FLOWGATE_BIN } from '../../test/helpers/server-process.js';

export { ensureRedisInstalled, startRedisServer, type RunningRedis } from '../../test/helpers/redis-server.js';
export { runFlowgate } from '../../test/helpers/server-process.js';

/** Both providers: `password` at OWASP's parameters (the defaults), and `insecure_example` for steps that hash nothing. */
const BENCH_CONFIG = {
  log_level: 'info',
  auth_providers: [{ type: 'password' }, ...EXAMPLE_CONFIG.auth_providers],
  // Load generators start flows back to back on few sockets, hold many sockets and log in from one address: the per-socket,
  // per-address and brute-force limits are for clients, not for them (each is tested as a limit in test/).
  websocket: { max_flow_starts_per_minute: 0, max_unauthenticated_sockets_per_address: 0, max_sockets_per_user: 0 },
  login_limits: { address_failures: 0, account_failures: 0, open_flows_per_address: 0 },
};

/** The `secret_key` of the run's deployment (FLOWGATE_SECRET_KEY): every instance on the shared Redis has the same one. */
const BENCH_SECRET_KEY = randomBytes(32).toString('base64');

/** The bench's config, and the verify gate's (`password_hashing:`) where a figure sets it. */
export type BenchConfig = typeof BENCH_CONFIG & { readonly password_hashing?: { readonly concurrency?: number } };

/** The same servers with the verify gate at `concurrency` slots (cores - 1 leaves the event loop a core). */
export const gatedConfig = (concurrency: number): BenchConfig => ({ ...BENCH_CONFIG, password_hashing: { concurrency } });

/**
 * The login limits as a default deployment runs them, counting every attempt, but so high that the bench never reaches them:
 * each login step reserves its attempt in the store before the provider runs (a failure then settles with no store call).
 */
export const COUNTING_CONFIG: BenchConfig = {
  ...BENCH_CONFIG,
  login_limits: { ...BENCH_CONFIG.login_limits, address_failures: 1_000_000_000, account_failures: 1_000_000_000 },
};

/**
 * The server whose refusals are measured: one failed step puts an address over its limit (for the default 10-minute window),
 * and only that limit is on, so every refusal it answers is the per-address one.
 */
export const REFUSING_CONFIG: BenchConfig = { ...BENCH_CONFIG, login_limits: { ...BENCH_CONFIG.login_limits, address_failures: 1 } };

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** SIGTERM, then the exit (the server drains first, and writes its CPU profile when asked for one). */
  stop(): Promise<void>;
}

/**
 * A Flowgate instance (`node server/dist/cli/main.js serve`) on the shared Redis. Not the test helper's starter: that one cannot
 * pass node flags (`--cpu-prof` is refused in NODE_OPTIONS) and keeps every log line in memory, here thousands per second.
 */
export interface FlowgateExtras {
  /** More environment for the server (e.g. FLOWGATE_EVENT_LOOP_REPORT). */
  readonly env?: Readonly<Record<string, string>>;
  /** Told of every log line holding this text (the rest of the log is drained unread). */
  readonly watch?: { readonly text: string; readonly onLine: (line: string) => void };
}

export async function startFlowgate(
  storeUrl: string,
  profileDir?: string,
  config: BenchConfig = BENCH_CONFIG,
  extras: FlowgateExtras = {},
): Promise<ServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-bench-'));
  const configPath = join(dir, 'flowgate.yaml');
  writeFileSync(configPath, JSON.stringify(config)); // JSON is YAML
  const nodeFlags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const args = [...nodeFlags, FLOWGATE_BIN, 'serve', '--config', configPath, '--store', storeUrl, '--port', '0', '--host', '127.0.0.1'];
  const env = { ...process.env, FLOWGATE_LOG_LEVEL: 'info', FLOWGATE_SECRET_KEY: BENCH_SECRET_KEY, ...extras.env };
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  // A bench that crashes must not leave servers behind (the Redis helper has its own watchdog; 'exit' runs on every normal end).
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => process.off('exit', kill));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      const match = /"port":(\d+)[^\n]*"msg":"flowgate listening"/.exec(buffer);
      if (match === null) return;
      // The rest of the log is drained unread (parsing it would load the process generating the load), but for watched lines.
      child.stdout.off('data', onData);
      if (extras.watch === undefined) child.stdout.resume();
      else watchLines(child.stdout, extras.watch.text, extras.watch.onLine);
      resolve(Number(match[1]));
    };
    child.stdout.on('data', onData);
    void exited.then(() => reject(new Error(`flowgate exited before listening: ${stderr.trim()}`)));
  });
  return {
    url: `ws://127.0.0.1:${port}/api/websocket`,
    pid: child.pid ?? 0,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Calls `onLine` with each line of `stream` that contains `text`; chunks without it are dropped unsplit. */
function watchLines(stream: NodeJS.ReadableStream, text: string, onLine: (line: string) => void): void {
  let rest = '';
  stream.on('data', (chunk: Buffer) => {
    const data = rest + chunk.toString();
    const end = data.lastIndexOf('\n');
    rest = data.slice(end + 1);
    if (!data.includes(text)) return;
    for (const line of data.slice(0, end).split('\n')) if (line.includes(text)) onLine(line);
  });
}

/** Resident memory of a process in bytes (Linux). */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]) * 1024;
}

/** The soft limit on open files that children inherit: each socket costs one on both ends. */
export function openFileLimit(): number {
  const result = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const value = result.stdout.trim();
  return value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value);
}

export interface ChildMessage {
  readonly kind: string;
  readonly [key: string]: unknown;
}

/** Runs a bench/lib TypeScript module as a child with an IPC channel (through tsx, like the bench itself). */
export function forkModule(name: string, args: readonly string[] = []): ChildProcess {
  const path = fileURLToPath(new URL(`./${name}`, import.meta.url));
  return fork(path, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

export function nextMessage(child: ChildProcess, kind: string): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ChildMessage): void => {
      if (message.kind !== kind) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null): void => reject(new Error(`bench child exited (${code}) before "${kind}"`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export interface BareServer {
  readonly url: string;
  readonly pid: number;
  /** The worst event-loop delay since the last call (ms), measured inside the server. */
  loopDelayMs(): Promise<number>;
  stop(): Promise<void>;
}

/** The comparison server: `ws` alone, as Flowgate configures it, greeting and echoing. */
export async function startBareServer(): Promise<BareServer> {
  const child = forkModule('bare-ws-server.ts');
  const ready = await nextMessage(child, 'listening');
  return {
    url: `ws://127.0.0.1:${String(ready['port'])}/api/websocket`,
    pid: child.pid ?? 0,
    loopDelayMs: async () => {
      const reply = nextMessage(child, 'loop-delay');
      child.send({ kind: 'loop-delay' });
      return Number((await reply)['maxMs']);
    },
    stop: () => stopChild(child),
  };
}

/** The reference for the step figures (plain-server.ts): Flowgate's socket and store calls with nothing else. */
export async function startPlainServer(redisUrl: string): Promise<{ readonly url: string; stop(): Promise<void> }> {
  const child = forkModule('plain-server.ts', [redisUrl]);
  const ready = await nextMessage(child, 'listening');
  return { url: `ws://127.0.0.1:${String(ready['port'])}/api/websocket`, stop: () => stopChild(child) };
}

export interface HeldSockets {
  readonly opened: number;
  /** When the last socket was ready (ms since the epoch, from the children's clocks: the same machine's). */
  readonly lastAt: number;
  release(): Promise<void>;
}

/**
 * Opens `count` sockets to `url` spread over child processes of at most `perProcess` each (every socket is a file descriptor
 * on the client side too), each sending `auth` with `accessToken` (or one echo frame to a bare server) and then staying idle.
 */
export async function holdSockets(
  url: string,
  count: number,
  perProcess: number,
  accessToken: string | null,
  /** Instead of 64 at a time per child, each socket opens at a random moment within this many ms (a storm's arrival). */
  spreadMs?: number,
): Promise<HeldSockets> {
  const children: ChildProcess[] = [];
  try {
    const parts: number[] = [];
    for (let left = count; left > 0; left -= perProcess) parts.push(Math.min(left, perProcess));
    const replies = await Promise.all(
      parts.map(async (part) => {
        const child = forkModule('socket-holder.ts');
        children.push(child);
        const done = nextMessage(child, 'held');
        child.send({ kind: 'hold', url, count: part, accessToken, spreadMs });
        return done;
      }),
    );
    const failures = replies.map((r) => r['error']).filter((e) => e !== undefined);
    if (failures.length > 0) throw new Error(`socket holders failed: ${failures.map(String).join('; ')}`);
    const opened = replies.reduce((sum, r) => sum + Number(r['opened']), 0);
    const lastAt = Math.max(...replies.map((r) => Number(r['lastAt'] ?? 0)));
    return { opened, lastAt, release: async () => void (await Promise.all(children.map(stopChild))) };
  } catch (error) {
    await Promise.all(children.map(stopChild));
    throw error;
  }
}

