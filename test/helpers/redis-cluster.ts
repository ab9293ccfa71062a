/** A real 3-master Redis Cluster on free local ports, created with redis-cli --cluster create, for the cluster tests. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { findFreePort, startRedisServer, type RunningRedis } from './redis-server.js';

export interface RunningCluster {
  readonly nodes: readonly RunningRedis[];
  /** The store URL naming every node as a seed: `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`. */
  readonly url: string;
  stop(): Promise<void>;
}

/** Slot assignment and the gossip that spreads it take a moment; past this the cluster is not going to form. */
const CLUSTER_OK_TIMEOUT_MS = 10_000;

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${output.trim().slice(-500)}`)),
    );
  });
}

/** True when every node reports cluster_state:ok (each node must have learnt every slot's owner). */
async function clusterOk(nodes: readonly RunningRedis[]): Promise<boolean> {
  const states = await Promise.all(nodes.map((node) => run('redis-cli', ['-p', String(node.port), 'cluster', 'info'])));
  return states.every((info) => info.includes('cluster_state:ok'));
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Each node also listens on its port + 10000 (the cluster bus), so both must be free and the second must exist. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await findFreePort();
    if (port + 10_000 < 65_536 && (await isFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair (port, port + 10000) for a cluster node');
}

export async function startRedisCluster(): Promise<RunningCluster> {
  // nodes.conf is the cluster's own state file: each node needs a private one, away from the working directory.
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-cluster-'));
  const nodes: RunningRedis[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const args = ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i}.conf`), '--dir', dir];
      nodes.push(await startRedisServer({ port: await freeClusterPort(), args }));
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + CLUSTER_OK_TIMEOUT_MS;
    while (!(await clusterOk(nodes))) {
      if (Date.now() > deadline) throw new Error(`the cluster on ${addresses.join(', ')} did not reach cluster_state:ok`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { nodes, url: `redis+cluster://${addresses.join(',')}`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
