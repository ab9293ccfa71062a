/**
 * A real Redis Sentinel deployment on free local ports, for the sentinel tests: a master, one replica (`--replicaof`) and three
 * sentinels (`redis-server <conf> --sentinel`, quorum 2) with short failure-detection timers, all in one private temp directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { ensureDebianPackage } from './debian.js';
import { findFreePort, startRedisServer, type RunningRedis } from './redis-server.js';

const SENTINEL_MASTER_NAME = 'flowgate';
/** How long a master must stay silent before a sentinel holds it down; two sentinels agreeing (the quorum) start a failover. */
const DOWN_AFTER_MS = 1_000;
/** Bounds each failover step, and a sentinel retries a failed election after twice this: small, so a split vote costs little. */
const FAILOVER_TIMEOUT_MS = 2_000;
/** Sentinels are told about each other in their config files, so they only have to connect to the master and agree. */
const READY_TIMEOUT_MS = 10_000;
/** A sentinel exits on SIGTERM at once (it has nothing to save); SIGKILL after this. */
const STOP_TIMEOUT_MS = 2_000;

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

export interface RunningSentinel {
  /** `redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/flowgate`. */
  readonly url: string;
  readonly masterName: string;
  readonly sentinelPorts: readonly number[];
  /** The data nodes as started: [0] the first master, [1] its replica. Which one is master changes with each failover. */
  readonly nodes: readonly RunningRedis[];
  /** The master every sentinel reports right now; throws while they disagree. */
  master(): Promise<RedisAddress>;
  /**
   * Polls the sentinels until one reports a master other than `previous` (the leader of the failover switches once the
   * replica is promoted; the others learn it from its hello messages a moment later), and returns it.
   */
  waitForNewMaster(previous: RedisAddress, timeoutMs: number): Promise<RedisAddress>;
  stop(): Promise<void>;
}

/** Runs one command on a Redis node or sentinel over a short-lived connection and returns the reply. */
export async function redisCommand(port: number, args: string[]): Promise<unknown> {
  const client = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: 1_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.sendCommand(args);
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/** Polls `probe` every 100 ms until it returns a value; a probe that throws (a node still starting) counts as "not yet". */
async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const found = await probe();
      if (found !== undefined) return found;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`${what} did not happen within ${timeoutMs} ms${detail}`);
}

let executable: string | undefined;
/**
 * Debian's redis-server is one binary with redis-sentinel (both link to it), so `--sentinel` is expected to work; without a
 * config file sentinel mode refuses to start with a line naming itself, which tells a sentinel-capable build from one that is
 * not. Failing that, Debian's redis-sentinel package is installed and its executable used.
 */
function sentinelExecutable(): string {
  if (executable !== undefined) return executable;
  const probe = spawnSync('redis-server', ['--sentinel'], { encoding: 'utf8', timeout: 5_000 });
  const capable = /sentinel/i.test(`${probe.stdout ?? ''}${probe.stderr ?? ''}`) && probe.status !== 0;
  executable = capable ? 'redis-server' : ensureDebianPackage('redis-sentinel', 'redis-sentinel');
  return executable;
}

/**
 * All three sentinels run under one sh in a process group of its own: stop() sends the group SIGTERM, which the sh ignores so
 * that it reaps the sentinels before it exits (an orphan's zombie would wait for this container's init). A watchdog in the
 * group kills it all once this test process is gone, even after a SIGKILL (a CI timeout), which no 'exit' handler survives.
 */
const SUPERVISOR = `parent=$1; exe=$2; shift 2
for conf in "$@"; do "$exe" "$conf" --sentinel & done
( while kill -0 "$parent" 2>/dev/null; do sleep 0.5; done; kill -KILL 0 ) &
trap '' TERM
wait`;

function startSentinels(confs: readonly string[]): { stop(): Promise<void> } {
  const child = spawn('sh', ['-c', SUPERVISOR, 'sh', String(process.pid), sentinelExecutable(), ...confs], {
    detached: true,
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (name: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, name);
    } catch {
      // The group is gone already.
    }
  };
  const kill = (): void => signal('SIGKILL');
  process.once('exit', kill);
  return {
    async stop() {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const killer = setTimeout(kill, STOP_TIMEOUT_MS);
      signal('SIGTERM');
      await exited;
      clearTimeout(killer);
    },
  };
}

function sentinelConfig(port: number, dir: string, master: number, myId: string, peers: ReadonlyArray<{ port: number; id: string }>) {
  const name = SENTINEL_MASTER_NAME;
  return [
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    `sentinel myid ${myId}`,
    `sentinel monitor ${name} 127.0.0.1 ${master} 2`,
    `sentinel down-after-milliseconds ${name} ${DOWN_AFTER_MS}`,
    `sentinel failover-timeout ${name} ${FAILOVER_TIMEOUT_MS}`,
    `sentinel parallel-syncs ${name} 1`,
    ...peers.map((peer) => `sentinel known-sentinel ${name} 127.0.0.1 ${peer.port} ${peer.id}`),
    '',
  ].join('\n');
}

/** The master each sentinel reports, as `host:port` strings (a sentinel that does not answer counts as `?`). */
async function reportedMasters(ports: readonly number[]): Promise<string[]> {
  return Promise.all(
    ports.map(async (port) => {
      const reply = await redisCommand(port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER_NAME]).catch(() => null);
      return Array.isArray(reply) && reply.length === 2 ? `${String(reply[0])}:${String(reply[1])}` : '?';
    }),
  );
}

function agreed(masters: readonly string[]): RedisAddress | undefined {
  const first = masters[0];
  if (first === undefined || first === '?' || masters.some((master) => master !== first)) return undefined;
  const colon = first.lastIndexOf(':');
  return { host: first.slice(0, colon), port: Number(first.slice(colon + 1)) };
}

/** The sentinels answer, agree on the master, and each sees the replica and both other sentinels as up. */
async function sentinelsReady(ports: readonly number[], master: number): Promise<true | undefined> {
  if (agreed(await reportedMasters(ports))?.port !== master) return undefined;
  for (const port of ports) {
    const [replicas, sentinels] = await Promise.all([
      redisCommand(port, ['SENTINEL', 'REPLICAS', SENTINEL_MASTER_NAME]),
      redisCommand(port, ['SENTINEL', 'SENTINELS', SENTINEL_MASTER_NAME]),
    ]);
    const up = (entries: unknown): number =>
      Array.isArray(entries) ? entries.filter((entry) => !/s_down|disconnected/.test(JSON.stringify(entry))).length : 0;
    if (up(replicas) < 1 || up(sentinels) < ports.length - 1) return undefined;
  }
  return true;
}

export async function startRedisSentinel(): Promise<RunningSentinel> {
  // Replicas write the RDB they sync into their dir and sentinels rewrite their config: both need a private one.
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-sentinel-'));
  const nodes: RunningRedis[] = [];
  let sentinels: { stop(): Promise<void> } | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all([sentinels?.stop(), ...nodes.map((node) => node.stop())]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // A master waits repl-diskless-sync-delay (5 s) for more replicas before it sends a full sync: not here, for either node.
    const args = ['--dir', dir, '--repl-diskless-sync-delay', '0'];
    nodes.push(await startRedisServer({ args }));
    const master = nodes[0]!.port;
    nodes.push(await startRedisServer({ args: [...args, '--replicaof', '127.0.0.1', String(master)] }));
    // The first INFO a sentinel sends lists the replicas the master has: let the replica attach before they start.
    await poll(
      async () => (/master_link_status:up/.test(String(await redisCommand(nodes[1]!.port, ['INFO', 'replication']))) ? true : undefined),
      READY_TIMEOUT_MS,
      'the replica syncing with the master',
    );
    const peer = async (): Promise<{ port: number; id: string }> => ({ port: await findFreePort(), id: randomBytes(20).toString('hex') });
    const peers = await Promise.all([peer(), peer(), peer()]);
    const confs = peers.map((self) => {
      const conf = join(dir, `sentinel-${self.port}.conf`);
      writeFileSync(conf, sentinelConfig(self.port, dir, master, self.id, peers.filter((peer) => peer !== self)));
      return conf;
    });
    sentinels = startSentinels(confs);
    const ports = peers.map((peer) => peer.port);
    const seeing = `the sentinels on ${ports.join(', ')} seeing the master and replica`;
    await poll(() => sentinelsReady(ports, master), READY_TIMEOUT_MS, seeing);
    return {
      url: `redis+sentinel://${ports.map((port) => `127.0.0.1:${port}`).join(',')}/${SENTINEL_MASTER_NAME}`,
      masterName: SENTINEL_MASTER_NAME,
      sentinelPorts: ports,
      nodes,
      async master() {
        const masters = await reportedMasters(ports);
        const found = agreed(masters);
        if (found === undefined) throw new Error(`the sentinels disagree on the master: ${masters.join(', ')}`);
        return found;
      },
      waitForNewMaster(previous, timeoutMs) {
        const moved = async (): Promise<RedisAddress | undefined> => {
          const other = (await reportedMasters(ports)).find((master) => master !== '?' && master !== `${previous.host}:${previous.port}`);
          return other === undefined ? undefined : agreed([other]);
        };
        return poll(moved, timeoutMs, `a failover away from ${previous.host}:${previous.port}`);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
