/** `flowgate store migrate`: brings a Redis store written by an older Flowgate to this version's key layout. */
import { pino } from 'pino';
import { loadConfig } from '../config/config.js';
import { migrateStoreLayout } from '../store/open.js';
import { parse, printSubcommand, STORE_OPTIONS } from './store-command.js';

export const STORE_USAGE = `Commands for store (each also takes --config FILE and --store URL, as serve does):
  store migrate         moves a Redis store to this version's key layout and prints what it moved; safe to run again,
                        and while servers run (a server also migrates at start when the store is older)`;

async function migrate(args: string[]): Promise<string> {
  const { values } = parse(args, STORE_OPTIONS, [], 'store');
  const config = loadConfig({ configPath: values.config, storeUrl: values.store, env: process.env, cwd: process.cwd() });
  return migrateStoreLayout(config.storeUrl, { dataDir: config.dataDir, logger: pino({ level: 'silent' }) });
}

export const storeCommand = (argv: string[]): Promise<void> => printSubcommand('store', STORE_USAGE, { migrate }, argv);
