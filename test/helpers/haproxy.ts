/** Debian's haproxy as a child process, running a test copy of deploy/haproxy.cfg with local addresses substituted. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDebianPackage } from './debian.js';

export const HAPROXY_CFG = fileURLToPath(new URL('../../deploy/haproxy.cfg', import.meta.url));
const DEBIAN_PACKAGE = 'haproxy';
/** haproxy binds and starts checking in milliseconds; past this it is not going to. */
const READY_TIMEOUT_MS = 5_000;

/** Installs Debian's haproxy when missing and we may (root); otherwise says in one line what to install. */
export function ensureHaproxyInstalled(): string {
  return ensureDebianPackage('haproxy', DEBIAN_PACKAGE);
}

/**
 * The repository's config with only what differs outside Docker replaced: no Docker DNS resolver (the servers are addresses),
 * a maxconn that fits this shell's file descriptor limit,
 * the frontend on a free local port, each `server flowgateN flowgateN:PORT` pointed at a local instance (or left out when the test
 * runs fewer instances). Everything else (balance, PROXY protocol,
 * health check, timeouts, retries) is the real file, and a replacement that finds nothing to replace fails loudly.
 */
export function localHaproxyConfig(source: string, frontendPort: number, backendPorts: readonly number[]): string {
  const replace = (text: string, pattern: RegExp, by: string | ((...groups: string[]) => string), what: string): string => {
    if (!pattern.test(text)) throw new Error(`deploy/haproxy.cfg has no ${what} to substitute`);
    return text.replace(pattern, by as string);
  };
  // haproxy needs about 2 file descriptors per connection and refuses to start when the FD limit cannot cover maxconn; the
  // compose file raises the container's limit, a test runner's shell may not, and a test needs a handful of connections.
  let config = replace(source, /^(\s+maxconn )\d+/m, '$11000', 'global maxconn');
  config = replace(config, /^resolvers docker\n(?:[ \t]+.*\n)*/m, '', 'resolvers docker section');
  config = replace(config, / resolvers docker/g, '', 'resolvers on default-server');
  config = replace(config, /^(\s+bind )\S*:8123\b/m, `$1127.0.0.1:${frontendPort}`, 'bind :8123');
  config = replace(
    config,
    /^(\s+server flowgate(\d+) )flowgate\d+:8123(.*)$/gm,
    (_match, head: string, n: string, rest: string) => {
      const port = backendPorts[Number(n) - 1];
      // A test may run fewer instances than the compose file: their servers are left out, not left failing health checks.
      if (port === undefined) return `    # server flowgate${n}: no local instance`;
      return `${head}127.0.0.1:${port}${rest}`;
    },
    'server lines',
  );
  return config;
}

/**
 * The `http:` config of instances behind the test haproxy: deploy/haproxy.cfg sends a PROXY v2 header on every connection
 * (send-proxy-v2), and locally haproxy connects from 127.0.0.1, the address the compose file's haproxy has in Docker.
 */
export const BEHIND_HAPROXY = { proxy_protocol: true, trusted_proxies: ['127.0.0.1'] };

export interface RunningHaproxy {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startHaproxy(frontendPort: number, backendPorts: readonly number[]): Promise<RunningHaproxy> {
  const binary = ensureHaproxyInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-haproxy-'));
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, localHaproxyConfig(readFileSync(HAPROXY_CFG, 'utf8'), frontendPort, backendPorts));
  // -db: stay in the foreground, so the process is ours to stop.
  const child: ChildProcess = spawn(binary, ['-db', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${output.trim()}`);
    const ok = await fetch(`http://127.0.0.1:${frontendPort}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy did not serve on port ${frontendPort}: ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `ws://127.0.0.1:${frontendPort}/api/websocket`, stop };
}
