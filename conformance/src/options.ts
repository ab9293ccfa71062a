/** The command line of flowgate-conformance: what to test, with which accounts, reported how. */
import { parseArgs } from 'node:util';

export const REPORTERS = ['spec', 'tap', 'json'] as const;
export type Reporter = (typeof REPORTERS)[number];

/** A case's default time limit: a login with a real password hash and a token exchange fit in it with room to spare. */
export const DEFAULT_TIMEOUT_MS = 20_000;

export const USAGE = `Usage: flowgate-conformance --url ws://HOST:PORT/api/websocket [options]

Runs the black-box protocol suite of docs/protocol.md against a running server.

  --url URL                    the server's WebSocket endpoint (ws:// or wss://), required
  --http URL                   the server's HTTP base URL (http:// or https://): adds the HTTP login API cases
  --provider TYPE              a login provider (as listed by auth/providers) whose form asks for username and password
  --username U --password P    an account of that provider without multi-factor login: adds the login, token,
                               authenticated-phase and revocation cases
  --admin-username U --admin-password P
                               an administrator of the same provider: adds the user-management cases
  --reporter spec|tap|json     output format (default spec, for people; tap and json for machines)
  --grep PATTERN               run only the cases whose title matches PATTERN (a regular expression)
  --timeout MS                 time limit of each case in milliseconds (default ${DEFAULT_TIMEOUT_MS})
  --help                       show this text

Cases whose options are not given are reported as skipped, with the options they need.
Exit status: 0 when every case passed or was skipped, 1 when a case failed, 2 on bad arguments.`;

export interface Account {
  readonly username: string;
  readonly password: string;
}

export interface KitOptions {
  readonly url: string;
  readonly http?: string;
  /** The provider type given with --provider, with the account to log in as. */
  readonly provider?: string;
  readonly user?: Account;
  readonly admin?: Account;
  readonly reporter: Reporter;
  readonly grep?: string;
  readonly timeoutMs: number;
}

export class UsageError extends Error {}

function urlWith(value: string, option: string, schemes: readonly string[]): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${option} must be a URL, got "${value}"`);
  }
  if (!schemes.includes(url.protocol)) throw new UsageError(`${option} must start with ${schemes.map((s) => `${s}//`).join(' or ')}, got "${value}"`);
  return value;
}

function pair(username: string | undefined, password: string | undefined, names: string): Account | undefined {
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined || password === undefined || username === '' || password === '') {
    throw new UsageError(`${names} go together: give both`);
  }
  return { username, password };
}

/** The options, or `help` when --help was asked for; throws UsageError (one line) on anything wrong. */
export function parseOptions(argv: readonly string[]): KitOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        http: { type: 'string' },
        provider: { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        'admin-username': { type: 'string' },
        'admin-password': { type: 'string' },
        reporter: { type: 'string' },
        grep: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    // parseArgs' messages are single sentences that name the option; only the first line is kept.
    throw new UsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help === true) return 'help';
  if (values.url === undefined) throw new UsageError('--url is required');
  const user = pair(values.username, values.password, '--username and --password');
  const admin = pair(values['admin-username'], values['admin-password'], '--admin-username and --admin-password');
  if ((user !== undefined || admin !== undefined) && values.provider === undefined) {
    throw new UsageError('--provider is required with --username or --admin-username (the provider they log in with)');
  }
  if (values.provider !== undefined && user === undefined && admin === undefined) {
    throw new UsageError('--provider needs --username and --password (or the admin pair) to log in with');
  }
  const reporter = values.reporter ?? 'spec';
  if (!(REPORTERS as readonly string[]).includes(reporter)) throw new UsageError(`--reporter must be one of ${REPORTERS.join(', ')}, got "${reporter}"`);
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (values.timeout !== undefined) {
    timeoutMs = Number(values.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout must be a positive number of milliseconds, got "${values.timeout}"`);
  }
  if (values.grep !== undefined) {
    try {
      new RegExp(values.grep);
    } catch {
      throw new UsageError(`--grep must be a regular expression, got "${values.grep}"`);
    }
  }
  return {
    url: urlWith(values.url, '--url', ['ws:', 'wss:']),
    ...(values.http === undefined ? {} : { http: urlWith(values.http, '--http', ['http:', 'https:']).replace(/\/+$/, '') }),
    ...(values.provider === undefined ? {} : { provider: values.provider }),
    ...(user === undefined ? {} : { user }),
    ...(admin === undefined ? {} : { admin }),
    reporter: reporter as Reporter,
    ...(values.grep === undefined ? {} : { grep: values.grep }),
    timeoutMs,
  };
}
