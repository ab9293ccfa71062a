/**
 * `flowgate user add|list|remove|passwd|promote`: password accounts managed from a shell, on the same store a running server
 * uses, and the owner and administrators made by the operator (promote works for users of any provider).
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Config } from '../config/config.js';
import { GROUP_ID_ADMIN, GROUP_ID_USER } from '@flowgate/shared';
import { OperatorUsers, type ProviderKey } from '../auth/operator-users.js';
import { UserAdmin, type Actor } from '../auth/user-admin.js';
import { noAudit } from '../observability/audit.js';
import { listPasswordUsers, passwordLoginOf, type PasswordUserInfo } from '../providers/password-accounts.js';
import { normalizeUsername, passwordConfigIn } from '../providers/password.js';
import type { Store } from '../store/types.js';
import { parse, printSubcommand, STORE_OPTIONS, UsageError, withStore } from './store-command.js';
import { deferredServerSecret } from '../main.js';
import { AccessTokenKeys } from '../tokens/access-tokens.js';
import { TokenService } from '../tokens/refresh-tokens.js';
import { USER_MFA_USAGE, userMfaCommand } from './user-mfa.js';

export { UsageError };

export const USER_USAGE = `Commands for user (each also takes --config FILE and --store URL, as serve does):
  user add USERNAME [--name "Display Name"] [--admin] [--owner] [--local-only] [--password-stdin]
  user list
  user remove USERNAME
  user passwd USERNAME [--password-stdin]
  user promote USERNAME [--owner] [--admin]
${USER_MFA_USAGE}
A password is never an argument: it is asked twice on a terminal, or read as one line from stdin with --password-stdin.
A new password has at least 8 characters and is not a common one. passwd signs the user out everywhere (long-lived tokens too).
No login ever makes the owner: the first user "user add" adds is the owner, or the one given --owner (refused while there is
an owner). "user promote" makes an existing user the owner or an administrator, for users who log in only through another
provider (command_line, insecure_example...): USERNAME is the username of one of the user's logins (any configured provider),
else the user's display name, else its id ("user remove" takes any login's username or the id, not a display name).`;

// `--help` is answered before parsing (userCommand), so it needs no entry here.
const PASSWORD_OPTIONS = { ...STORE_OPTIONS, 'password-stdin': { type: 'boolean' } } as const;
const ADD_OPTIONS = {
  ...PASSWORD_OPTIONS,
  name: { type: 'string' },
  admin: { type: 'boolean' },
  owner: { type: 'boolean' },
  'local-only': { type: 'boolean' },
} as const;
const PROMOTE_OPTIONS = { ...STORE_OPTIONS, owner: { type: 'boolean' }, admin: { type: 'boolean' } } as const;

/** Reads exactly one line (without its line ending), then lets stdin go so a writer that keeps it open cannot hold us. */
function readOneLine(input: NodeJS.ReadableStream & { destroy(): void }): Promise<string | null> {
  const reader = createInterface({ input, terminal: false, crlfDelay: Infinity });
  return new Promise((resolve) => {
    let answered = false;
    reader.once('line', (line) => {
      answered = true;
      resolve(line);
      reader.close();
      input.destroy();
    });
    reader.once('close', () => {
      if (!answered) resolve(null);
    });
  });
}

/** Asks on the terminal without echoing what is typed: readline writes through an output that drops everything once asked. */
function promptHidden(prompt: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const reader = createInterface({ input: process.stdin, output, terminal: true });
  return new Promise<string>((resolve, reject) => {
    // Without a SIGINT listener readline would only pause, leaving Ctrl-C stuck at the prompt.
    reader.on('SIGINT', () => reject(new Error('Cancelled')));
    reader.once('close', () => reject(new Error('No password entered')));
    reader.question(prompt, resolve);
    muted = true;
  }).finally(() => {
    muted = false;
    reader.close();
    process.stderr.write('\n');
  });
}

async function readPassword(fromStdin: boolean): Promise<string> {
  let password: string;
  if (fromStdin) {
    const line = await readOneLine(process.stdin);
    if (line === null) throw new Error('No password on stdin: --password-stdin reads one line');
    password = line;
  } else {
    if (process.stdin.isTTY !== true) {
      throw new UsageError('No terminal to ask for the password: pipe it in with --password-stdin');
    }
    password = await promptHidden('Password: ');
    if (password.length > 0 && (await promptHidden('Password (again): ')) !== password) {
      throw new Error('The passwords do not match');
    }
  }
  if (password.length === 0) throw new Error('The password must not be empty');
  return password;
}

/** The same user management the admin commands use (auth/user-admin.ts), acting as the server's own operator. */
function userAdmin(store: Store, config: Config): UserAdmin {
  // These commands revoke tokens but sign none: the server secret is read only if one ever does.
  const tokens = new TokenService(store, new AccessTokenKeys(deferredServerSecret(config)));
  return new UserAdmin({ store, tokens, audit: noAudit, passwordOptions: passwordConfigIn(config.authProviders) ?? {} });
}

const operator = (via: string): Actor => ({ userId: null, address: null, via });

/** What only the operator does (the owner, promotions), on the same user management. */
const operatorUsers = (store: Store, config: Config): OperatorUsers => new OperatorUsers(store, userAdmin(store, config), noAudit);

function roles(user: { isOwner: boolean; isAdmin: boolean }): string {
  const list = [...(user.isOwner ? ['owner'] : []), ...(user.isAdmin ? ['admin'] : [])];
  return list.length === 0 ? '' : ` (${list.join(', ')})`;
}

/** Left-aligned columns, two spaces apart. */
function table(rows: PasswordUserInfo[]): string {
  const yesNo = (flag: boolean): string => (flag ? 'yes' : 'no');
  const lines = [
    ['USERNAME', 'NAME', 'OWNER', 'ADMIN', 'ACTIVE'],
    ...rows.map((r) => [r.username, r.name, yesNo(r.is_owner), yesNo(r.is_admin), yesNo(r.is_active)]),
  ];
  const widths = lines[0]?.map((_, column) => Math.max(...lines.map((line) => (line[column] ?? '').length))) ?? [];
  return lines.map((line) => line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}

async function add(args: string[]): Promise<string> {
  const { values, positionals } = parse(args, ADD_OPTIONS, ['USERNAME']);
  const username = positionals[0] ?? '';
  // The password is read before the store opens, so a slow typist holds no database handle.
  const password = await readPassword(values['password-stdin'] === true);
  return withStore(values, async (store, config) => {
    const provider = passwordConfigIn(config.authProviders);
    const owner = values.owner === true ? operatorUsers(store, config) : null;
    // Before anything is created: there is one owner.
    await owner?.assertNoOwner();
    if (provider === null) {
      process.stderr.write('flowgate: note: the config has no password provider, so this user cannot log in until one is added\n');
    }
    const added = await userAdmin(store, config).createWithPassword(
      {
        username,
        password,
        name: values.name,
        groupIds: [values.admin === true ? GROUP_ID_ADMIN : GROUP_ID_USER],
        localOnly: values['local-only'] === true,
      },
      operator('flowgate user add'),
    );
    // Not the owner yet although none was there: the owner of record was removed (only an explicit --owner takes its place).
    const user = owner === null || added.isOwner ? added : await owner.promote(added, { owner: true, admin: false }, operator('flowgate user add'));
    return `Added user "${normalizeUsername(username)}"${roles(user)}.`;
  });
}

async function passwd(args: string[]): Promise<string> {
  const { values, positionals } = parse(args, PASSWORD_OPTIONS, ['USERNAME']);
  const username = positionals[0] ?? '';
  return withStore(values, async (store, config) => {
    // Fail on an unknown user before asking for a password that would be thrown away.
    await passwordLoginOf(store, username);
    const password = await readPassword(values['password-stdin'] === true);
    await userAdmin(store, config).setPasswordOfUsername(username, password, operator('flowgate user passwd'));
    return `Changed the password of "${normalizeUsername(username)}".`;
  });
}

async function remove(args: string[]): Promise<string> {
  const { values, positionals } = parse(args, STORE_OPTIONS, ['USERNAME']);
  const username = positionals[0] ?? '';
  return withStore(values, async (store, config) => {
    const admin = userAdmin(store, config);
    // Any login's username (a user of command_line only, say the owner, must be removable too), or the user's id.
    const user = await operatorUsers(store, config).findUser(username, providerKeys(config), false);
    // Running servers are told, so the user's open sockets close now rather than at their next token check.
    await admin.delete(user.id, operator('flowgate user remove'));
    return `Removed user "${normalizeUsername(username)}".`;
  });
}

async function promote(args: string[]): Promise<string> {
  const { values, positionals } = parse(args, PROMOTE_OPTIONS, ['USERNAME']);
  const name = positionals[0] ?? '';
  if (values.owner !== true && values.admin !== true) throw new UsageError('Say what to make the user: --owner, --admin or both');
  return withStore(values, async (store, config) => {
    const users = operatorUsers(store, config);
    const user = await users.findUser(name, providerKeys(config));
    const promoted = await users.promote(user, { owner: values.owner === true, admin: values.admin === true }, operator('flowgate user promote'));
    return `Promoted "${name}"${roles(promoted)}.`;
  });
}

/** The handler keys of the configured providers: an entry's `id`, null when it has none (as the handler key has it). */
const providerKeys = (config: Config): ProviderKey[] =>
  config.authProviders.map((entry) => {
    const id = (entry as { readonly id?: unknown }).id;
    return { type: entry.type, id: typeof id === 'string' ? id : null };
  });

async function list(args: string[]): Promise<string> {
  const { values } = parse(args, STORE_OPTIONS, []);
  return withStore(values, async (store) => {
    const users = await listPasswordUsers(store);
    return users.length === 0 ? 'No users yet: add one with  flowgate user add <username>' : table(users);
  });
}

/** Runs `flowgate user ...` and prints its one-line (or one-table) answer. */
export const userCommand = (argv: string[]): Promise<void> =>
  printSubcommand('user', USER_USAGE, { add, list, remove, passwd, promote, mfa: userMfaCommand }, argv);
