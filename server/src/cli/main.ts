#!/usr/bin/env node
/** The `flowgate` command: `flowgate serve` runs the server; every failure ends with one readable line, never a stack trace. */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { createLogger, startServer, type RunningServer } from '../main.js';
import { PASSWORD_PROVIDER_TYPE } from '../providers/password.js';
import { BAN_USAGE, banCommand } from './ban.js';
import { STORE_USAGE, storeCommand } from './store.js';
import { UsageError, USER_USAGE, userCommand } from './user.js';
import { SERVER_VERSION } from '../version.js';

const USAGE = `Usage: flowgate <command> [options]

Commands:
  serve     Run the Flowgate server
  user      Manage password accounts, the owner and administrators (add, list, remove, passwd, promote, mfa)
  ban       List or lift bans of client addresses (list, remove)
  store     Migrate a Redis store to this version's key layout (migrate)
  login     Log in on a server from the terminal and print the tokens (flowgate login --help)

Options for serve:
  --config FILE   YAML config file (or FLOWGATE_CONFIG)
  --store URL     redis://HOST:PORT, rediss://..., redis+cluster://H:P,H:P,
                  redis+sentinel://H:P,H:P/MASTER, or sqlite:PATH (or FLOWGATE_STORE);
                  default: the embedded store in flowgate-data/ beside the config file
  --port N        port to listen on (or FLOWGATE_PORT; default 8123)
  --host H        address to listen on (or FLOWGATE_HOST; default 0.0.0.0)
  --help          show this help
  --version       show the version

${USER_USAGE}

${BAN_USAGE}

${STORE_USAGE}`;

async function serve(args: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        store: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadConfig({
    configPath: values.config,
    storeUrl: values.store,
    port: values.port,
    host: values.host,
    env: process.env,
    cwd: process.cwd(),
  });
  const logger = createLogger(config.logLevel);
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  const server = await startServer(config, logger);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining: closing sockets with 1012 so clients reconnect elsewhere');
    // Whatever hangs (a store that does not answer, a client that never completes the close handshake), the process ends in
    // time: exit code 1 tells the supervisor that this stop was not clean, as an error while shutting down does.
    setTimeout(() => {
      logger.error(
        { signal, shutdownTimeoutMs: config.shutdownTimeoutMs },
        'shutdown did not finish within shutdown_timeout_seconds: exiting anyway',
      );
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Not awaited: a store that is down must not hold up serving or the signal handlers above.
  void hintFirstUser(config, server);
}

/**
 * A store without an owner has nobody who may manage it, and no login makes one (whoever reached the login page first would
 * own the deployment): say how the operator makes one, where the operator looks.
 */
async function hintFirstUser(config: Config, server: RunningServer): Promise<void> {
  let users;
  try {
    users = await server.store.listUsers();
  } catch {
    return; // An unreachable store is reported by the store itself; the hint can wait for the next start.
  }
  const hint = ownerHint(users.length, users.some((user) => user.isOwner), config.authProviders.map((p) => p.type));
  if (hint === null) return;
  server.logger.warn(hint);
  process.stderr.write(`${hint}\n`);
}

/** What to tell an operator whose store has no owner (null when it has one): the commands that make one, for these providers. */
function ownerHint(users: number, hasOwner: boolean, providerTypes: readonly string[]): string | null {
  if (hasOwner) return null;
  const promote = 'make one of them the owner with  npx flowgate user promote <username> --owner';
  if (users > 0) return `No owner yet (a login never makes one): ${promote}, or add one with  npx flowgate user add <username> --owner`;
  const others = [...new Set(providerTypes.filter((type) => type !== PASSWORD_PROVIDER_TYPE))];
  const viaOthers = `let people log in through ${others.join(', ')} first, then ${promote}`;
  if (!providerTypes.includes(PASSWORD_PROVIDER_TYPE)) return `No users yet, so no owner (a login never makes one): ${viaOthers}`;
  const add = 'No users yet: create the first one, who becomes the owner, with  npx flowgate user add <username>';
  return others.length === 0 ? add : `${add}; or ${viaOthers}`;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'user':
      return userCommand(rest);
    case 'ban':
      return banCommand(rest);
    case 'store':
      return storeCommand(rest);
    case 'login': {
      // Loaded only for this command: the server itself never needs the client code.
      const { runLogin } = await import('@flowgate/cli');
      const isTTY = process.stdin.isTTY === true;
      process.exitCode = await runLogin(rest, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, isTTY, env: process.env });
      return;
    }
    case '--version':
      process.stdout.write(`${SERVER_VERSION}\n`);
      return;
    case undefined:
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new UsageError(`Unknown command "${command}". Run "flowgate --help" to see the commands.`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof UsageError) {
    process.stderr.write(`flowgate: ${error.message}\n`);
    process.exit(2);
  }
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException).code;
  process.stderr.write(`flowgate: ${code === 'EADDRINUSE' ? 'the port is already in use: ' : ''}${message}\n`);
  process.exit(1);
});
