/** Starts the real `flowgate serve` (the built command) as a child process on a free port, for black-box tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { deploymentSecretKey } from './server-secret.js';

export const FLOWGATE_BIN = fileURLToPath(new URL('../../server/dist/cli/main.js', import.meta.url));

export interface ServerProcess {
  readonly port: number;
  readonly url: string;
  readonly httpUrl: string;
  readonly instanceId: string;
  readonly child: ChildProcess;
  readonly dir: string;
  /** Every log line the server printed so far (JSON objects). */
  readonly logs: Array<Record<string, unknown>>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  /** The config file's content (written as YAML in a fresh temporary folder). */
  readonly config?: Record<string, unknown>;
  /** `--store`; default: the embedded store in the temporary folder. */
  readonly store?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly dir?: string;
  /**
   * FLOWGATE_SECRET_KEY. By default, on a shared store (Redis) whose config and env set none, the deployment's key
   * (server-secret.ts): the same for every instance on that store, as a real deployment has it. null: none, whatever the store.
   */
  readonly secretKey?: string | null;
}

/** The store a server started with `options` uses: --store, else FLOWGATE_STORE, else the config's `store`. */
function storeOf(options: StartOptions): string | undefined {
  const fromConfig = options.config?.['store'];
  return options.store ?? (options.env?.['FLOWGATE_STORE'] || undefined) ?? (typeof fromConfig === 'string' ? fromConfig : undefined);
}

/** The FLOWGATE_SECRET_KEY the server gets (see StartOptions.secretKey); undefined: the variable is left as it is. */
function secretKeyEnv(options: StartOptions): { FLOWGATE_SECRET_KEY?: string } {
  if (options.secretKey === null) return { FLOWGATE_SECRET_KEY: '' };
  if (options.secretKey !== undefined) return { FLOWGATE_SECRET_KEY: options.secretKey };
  const store = storeOf(options);
  const shared = store !== undefined && /^rediss?(\+[a-z]+)?:/i.test(store.trim());
  const configured = options.config?.['secret_key'] !== undefined || options.env?.['FLOWGATE_SECRET_KEY'] !== undefined;
  return shared && !configured ? { FLOWGATE_SECRET_KEY: deploymentSecretKey(store) } : {};
}

/** A config with the example provider and one user, alice / wonderland. */
export const EXAMPLE_CONFIG = {
  auth_providers: [{ type: 'insecure_example', users: [{ username: 'alice', password: 'wonderland', name: 'Alice Liddell' }] }],
};

export async function startServerProcess(options: StartOptions = {}): Promise<ServerProcess> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'flowgate-test-'));
  const configPath = join(dir, 'flowgate.yaml');
  writeFileSync(configPath, stringify(options.config ?? EXAMPLE_CONFIG));
  const args = [FLOWGATE_BIN, 'serve', '--config', configPath, '--port', '0', '--host', '127.0.0.1'];
  if (options.store !== undefined) args.push('--store', options.store);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, FLOWGATE_LOG_LEVEL: 'debug', ...secretKeyEnv(options), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = new Promise<Record<string, unknown>>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry['msg'] === 'flowgate listening') resolve(entry);
        } catch {
          logs.push({ raw: line });
        }
      }
    });
    void exited.then((code) => reject(new Error(`flowgate exited with ${code} before listening: ${stderr.trim()}`)));
  });
  const ready = await listening;
  const port = Number(ready['port']);
  return {
    port,
    url: `ws://127.0.0.1:${port}/api/websocket`,
    httpUrl: `http://127.0.0.1:${port}`,
    instanceId: String(ready['instance']),
    child,
    dir,
    logs,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

let configHome: string | undefined;
/** One temporary XDG config folder for every command a test run starts. */
export function testConfigHome(): string {
  configHome ??= mkdtempSync(join(tmpdir(), 'flowgate-config-home-'));
  return configHome;
}

/** Runs `flowgate` with arguments to completion and returns its exit code and output; `input`, when given, is piped to stdin. */
export function runFlowgate(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A config folder of the run's own, so `flowgate login` keeps its device tokens there rather than in the real home folder.
    const configHome = { XDG_CONFIG_HOME: testConfigHome() };
    const child = spawn(process.execPath, [FLOWGATE_BIN, ...args], {
      env: { ...process.env, ...configHome, ...env },
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // The command may stop reading after one line; a write after that must not crash the test run. Without input,
    // stdin is at its end at once (not a terminal), as it was with 'ignore'.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
