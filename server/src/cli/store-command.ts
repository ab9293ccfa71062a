/** What the store-managing commands (`flowgate user ...`, `flowgate ban ...`) share: argument parsing and the store of a config. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pino } from 'pino';
import { loadConfig, type Config } from '../config/config.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';

/** A mistake in how the command was called; exits with 2 (any other failure exits with 1). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Every such command takes the config file and the store URL, as `serve` does. */
export const STORE_OPTIONS = { config: { type: 'string' }, store: { type: 'string' } } as const;

/** Parses a subcommand's arguments; `positionals` names the arguments it expects, for the usage message. */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: O,
  positionals: string[],
  command = 'user',
): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>> {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.positionals.length !== positionals.length) {
    const wanted = positionals.length === 0 ? 'no arguments' : positionals.join(' ');
    throw new UsageError(`Expected ${wanted}. Run "flowgate ${command} --help" for usage.`);
  }
  return parsed;
}

/** Runs `run` on the store the config (or --store) names, and closes it. */
export async function withStore<T>(values: { config?: string | undefined; store?: string | undefined }, run: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig({ configPath: values.config, storeUrl: values.store, env: process.env, cwd: process.cwd() });
  // Silent: every failure reaches the person as the one line of the error it throws.
  const store = await openStore(config.storeUrl, { dataDir: config.dataDir, logger: pino({ level: 'silent' }) });
  try {
    return await run(store, config);
  } finally {
    await store.close();
  }
}


/** A command's subcommands by name, each answering the one line (or table) it prints. */
export type Subcommands = Readonly<Record<string, (args: string[]) => Promise<string>>>;

/** `a, b or c`: the subcommands a usage error offers. */
const choices = (names: readonly string[]): string =>
  names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} or ${names.at(-1) ?? ''}`;

/** Runs the subcommand `argv` names with the rest of it; a UsageError naming `command` (`user mfa`) when it names none known. */
export function runSubcommand(command: string, subcommands: Subcommands, argv: string[]): Promise<string> {
  const [subcommand, ...rest] = argv;
  const run = subcommand !== undefined && Object.hasOwn(subcommands, subcommand) ? subcommands[subcommand] : undefined;
  if (run === undefined) {
    const which = subcommand === undefined ? `Missing ${command} command` : `Unknown ${command} command "${subcommand}"`;
    throw new UsageError(`${which}: use ${choices(Object.keys(subcommands))}`);
  }
  return run(rest);
}

/** `flowgate <command> ...`: prints `usage` when asked for help (or given nothing), else the subcommand's answer. */
export async function printSubcommand(command: string, usage: string, subcommands: Subcommands, argv: string[]): Promise<void> {
  const [subcommand, ...rest] = argv;
  if (subcommand === undefined || subcommand === '--help' || subcommand === 'help' || rest.includes('--help')) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  process.stdout.write(`${await runSubcommand(command, subcommands, argv)}\n`);
}
