/** Real redis-server processes for tests: started on a free port as children of the test run, never a mock. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer } from 'node:net';
import { ensureDebianPackage } from './debian.js';

export interface RunningRedis {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A cold redis-server answers in a few ms; this much means it is not going to. */
const READY_TIMEOUT_MS = 5_000;
/** redis-server exits on SIGTERM at once when it has nothing to save; SIGKILL after this. */
const STOP_GRACE_MS = 2_000;
const DEBIAN_PACKAGE = 'redis-server';

/**
 * redis-server runs under a small sh supervisor in its own process group: the group is what stop() signals, and a watchdog in
 * it kills Redis once this test process is gone, even after a SIGKILL (a CI timeout), which no 'exit' handler survives. The
 * supervisor exits with Redis, so a Redis that fails to start (port taken) is noticed at once, and stop() resolves only once
 * Redis has exited and freed its port (the supervisor ignores the group's SIGTERM and waits for Redis).
 */
const SUPERVISOR = `parent=$1; shift
redis-server "$@" & redis=$!
( while kill -0 "$parent" 2>/dev/null; do sleep 0.5; done; kill "$redis" 2>/dev/null ) & watchdog=$!
trap '' TERM
wait "$redis"; status=$?
kill "$watchdog" 2>/dev/null
exit $status`;

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) signalGroup(child, 'SIGKILL');
});

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port === 0 ? reject(new Error('could not find a free port')) : resolve(port)));
    });
  });
}

/** Installs Debian's redis-server when missing and we may (root); otherwise says in one line what to install. */
export function ensureRedisInstalled(): void {
  ensureDebianPackage('redis-server', DEBIAN_PACKAGE);
}

/**
 * True once the Redis on the port answers with our marker: PING alone could be answered by another Redis already holding the
 * port (ours then fails to bind), and a bare TCP accept by a Redis still loading.
 */
function answersAsOurs(port: number, marker: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('CONFIG GET dbfilename\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes(marker)) done(true);
      // An error (-LOADING...) or a complete two-element array without the marker: not (yet) ours.
      else if (reply.startsWith('-') || reply.split('\r\n').length > 5) done(false);
    });
  });
}

async function waitUntilServing(port: number, marker: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}): ${output()}`);
    }
    if (await answersAsOurs(port, marker)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`redis-server on port ${port} did not answer within ${READY_TIMEOUT_MS} ms: ${output()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    running.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const killer = setTimeout(() => signalGroup(child, 'SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(killer);
      running.delete(child);
      resolve();
    });
    signalGroup(child, 'SIGTERM');
  });
}

async function startOn(port: number, extraArgs: readonly string[] = []): Promise<RunningRedis> {
  // Nothing is persisted (each server starts empty, no dump.rdb is written), so dbfilename is free to carry our marker.
  const marker = `flowgate-test-${process.pid}-${randomBytes(6).toString('hex')}.rdb`;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dbfilename', marker, ...extraArgs];
  const child = spawn('sh', ['-c', SUPERVISOR, 'sh', String(process.pid), ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-2_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
  try {
    await Promise.race([waitUntilServing(port, marker, child, () => output.trim().split('\n').slice(-3).join(' | ')), spawnFailed]);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop: () => stopChild(child) };
}

/**
 * Starts a redis-server on `port`, or on a free port. Another process can grab a free port between the probe and Redis binding
 * it, so without a fixed port a failed start is retried on a new one.
 */
export async function startRedisServer(options: { port?: number; args?: readonly string[] } = {}): Promise<RunningRedis> {
  if (options.port !== undefined) return startOn(options.port, options.args);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOn(await findFreePort(), options.args);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
