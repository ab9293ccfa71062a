/** `flowgate user mfa list|reset`: an administrator sees a user's two-factor methods and turns them off (a lost phone). */
import type { Config } from '../config/config.js';
import { createMfaModules } from '../main.js';
import type { MfaModule } from '../mfa/module.js';
import { PasswordUserError } from '../providers/password-accounts.js';
import { normalizeUsername, PASSWORD_PROVIDER_TYPE } from '../providers/password.js';
import type { Store } from '../store/types.js';
import { parse, runSubcommand, STORE_OPTIONS, UsageError, withStore } from './store-command.js';

export const USER_MFA_USAGE = `  user mfa list USERNAME
  user mfa reset USERNAME [MODULE_ID]
user mfa list shows the two-factor methods a user has set up; user mfa reset turns one off (MODULE_ID, as list shows it),
or all of them, so a user who lost their phone logs in with the password alone and sets up again.`;

/** The user id behind a password account's username: the accounts these commands manage. */
async function userIdOf(store: Store, username: string): Promise<string> {
  const normalized = normalizeUsername(username);
  const credential = await store.findCredential(PASSWORD_PROVIDER_TYPE, null, normalized);
  // A credential without a user has never finished a login, so it has nothing set up either.
  if (credential === null || credential.userId === null) throw new PasswordUserError('user_not_found', `No user "${normalized}"`);
  return credential.userId;
}

/** The configured modules by id: their names, and their own way of removing a user's settings. */
function modulesOf(config: Config, store: Store): Map<string, MfaModule> {
  return new Map(createMfaModules(config, store).map((m) => [m.id, m]));
}

async function list(args: string[]): Promise<string> {
  const { values, positionals } = parse(args, STORE_OPTIONS, ['USERNAME']);
  const username = positionals[0] ?? '';
  return withStore(values, async (store, config) => {
    const userId = await userIdOf(store, username);
    const ids = Object.keys(await store.listMfaSettings(userId)).sort();
    if (ids.length === 0) return `"${normalizeUsername(username)}" has no two-factor methods set up.`;
    const modules = modulesOf(config, store);
    // A setting left behind by a module since removed from the config still shows: reset removes it too.
    const rows = ids.map((id): [string, string] => [id, modules.get(id)?.name ?? '(not in the config)']);
    const width = Math.max('MODULE'.length, ...ids.map((id) => id.length));
    return [['MODULE', 'NAME'] as const, ...rows].map(([id, name]) => `${id.padEnd(width)}  ${name}`).join('\n');
  });
}

/** Both `reset USERNAME` and `reset USERNAME MODULE_ID`: parse's positionals are exact, so the longer form is tried first. */
function parseReset(args: string[]) {
  try {
    return parse(args, STORE_OPTIONS, ['USERNAME', 'MODULE_ID']);
  } catch (longer) {
    try {
      return parse(args, STORE_OPTIONS, ['USERNAME']);
    } catch {
      throw longer instanceof UsageError && longer.message.startsWith('Expected')
        ? new UsageError('Expected USERNAME [MODULE_ID]. Run "flowgate user --help" for usage.')
        : longer;
    }
  }
}

async function reset(args: string[]): Promise<string> {
  const { values, positionals } = parseReset(args);
  const [username = '', moduleId] = positionals;
  const who = normalizeUsername(username);
  return withStore(values, async (store, config) => {
    const userId = await userIdOf(store, username);
    const setUp = Object.keys(await store.listMfaSettings(userId)).sort();
    if (moduleId !== undefined && !setUp.includes(moduleId)) {
      const has = setUp.length === 0 ? 'none is set up' : `set up: ${setUp.join(', ')}`;
      throw new Error(`"${who}" has no two-factor method "${moduleId}" set up (${has})`);
    }
    const targets = moduleId === undefined ? setUp : [moduleId];
    if (targets.length === 0) return `"${who}" had no two-factor methods set up; nothing to reset.`;
    const modules = modulesOf(config, store);
    for (const id of targets) {
      const module = modules.get(id);
      // The module's own removal when it is configured (it may keep more than its setting); else the leftover setting.
      if (module !== undefined) await module.deposeUser(userId);
      else await store.deleteMfaSetting(userId, id);
    }
    const names = targets.map((id) => (modules.has(id) ? `${modules.get(id)?.name} (${id})` : id));
    const left = setUp.filter((id) => !targets.includes(id));
    const next = left.length === 0 ? ' Their next login asks for the password only.' : '';
    return `Turned off ${names.join(', ')} for "${who}".${next}`;
  });
}

/** Runs `flowgate user mfa ...` (the arguments after `mfa`) and returns its answer. */
export const userMfaCommand = (argv: string[]): Promise<string> => runSubcommand('user mfa', { list, reset }, argv);
