/** `flowgate login`: a terminal login over @flowgate/client that prints the tokens as JSON on stdout. */
import { parseArgs } from 'node:util';
import type { Readable } from 'node:stream';
import {
  ClientClosedError,
  CommandError,
  describeAbortReason,
  describeRateLimit,
  FlowAbortedError,
  FlowgateError,
  mfaLoginStep,
  RateLimitedError,
  type FormResult,
  type ProviderInfo,
} from '@flowgate/client';
import { createNodeClient } from '@flowgate/client/node';
import { cliDeviceTokenStore, deviceTokensOptedOut, NO_DEVICE_TOKEN_ENV } from './device-tokens.js';
import { AnswerError, askForm, formErrorLines } from './form.js';
import { pipePrompter, terminalPrompter, type Prompter } from './prompt.js';

export { HIDDEN_FIELD, isHidden, parseAnswer } from './form.js';

export const LOGIN_USAGE = `Usage: flowgate login --url ws://HOST:PORT/api/websocket [--provider TYPE[:ID]] [--client-id URL] [--no-device-token]

  Logs in on a Flowgate server and prints the tokens as JSON on stdout (prompts go to stderr).
  Without a terminal, reads one line per prompted field from stdin, in the form's order.
  A user with two-factor authentication set up is asked for the code after the password (without a terminal: the
  next line; with several methods set up, the method's number first).

  --url URL          the server's WebSocket endpoint (or FLOWGATE_URL)
  --provider TYPE    the login provider, e.g. password or insecure_example (needed when there are several)
  --client-id URL    the client id the tokens are bound to (default ${'https://flowgate.invalid/cli'})
  --no-device-token  neither present nor keep this machine's device token (or ${NO_DEVICE_TOKEN_ENV}=1)

  A successful login keeps a device token for the server in ${'$XDG_CONFIG_HOME/flowgate/device-tokens.json'}
  (default ~/.config/flowgate/, readable by you only) and presents it on later logins, so this machine can still
  log in while someone else is guessing your password elsewhere.`;

export const DEFAULT_CLI_CLIENT_ID = 'https://flowgate.invalid/cli';

export interface LoginIo {
  readonly stdin: Readable;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** True when stdin is a terminal (prompts are retried there; hidden input for secrets). */
  readonly isTTY: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

/** A failure to show as one line; `code` is the exit status. */
class LoginFailure extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

/** Runs `flowgate login` with `argv` (the arguments after `login`) and resolves with the exit status. */
export async function runLogin(argv: string[], io: LoginIo): Promise<number> {
  try {
    await login(argv, io);
    return 0;
  } catch (error) {
    const failure = error instanceof LoginFailure ? error : new LoginFailure(describe(error));
    io.stderr.write(`flowgate login: ${failure.message}\n`);
    return failure.code;
  }
}

interface LoginArgs {
  readonly url?: string | undefined;
  readonly provider?: string | undefined;
  readonly clientId?: string | undefined;
  readonly noDeviceToken: boolean;
  readonly help: boolean;
}

function parse(argv: string[]): LoginArgs {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        provider: { type: 'string' },
        'client-id': { type: 'string' },
        'no-device-token': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
    return {
      url: values.url,
      provider: values.provider,
      clientId: values['client-id'],
      noDeviceToken: values['no-device-token'] === true,
      help: values.help === true,
    };
  } catch (error) {
    throw new LoginFailure(`${(error as Error).message}. Run "flowgate login --help".`, 2);
  }
}

async function login(argv: string[], io: LoginIo): Promise<void> {
  const args = parse(argv);
  if (args.help) {
    io.stdout.write(`${LOGIN_USAGE}\n`);
    return;
  }
  const url = args.url ?? io.env?.['FLOWGATE_URL'];
  if (url === undefined || url === '') throw new LoginFailure('--url is required, e.g. --url ws://localhost:8123/api/websocket', 2);
  if (!/^wss?:\/\//.test(url)) throw new LoginFailure(`--url must start with ws:// or wss://, got ${JSON.stringify(url)}`, 2);
  const client = createNodeClient({
    url,
    clientId: args.clientId ?? DEFAULT_CLI_CLIENT_ID,
    reconnect: { initialDelayMs: 250, maxDelayMs: 2_000, maxAttempts: 3 },
    deviceTokens: deviceTokensOptedOut(args.noDeviceToken, io.env) ? false : cliDeviceTokenStore(io.env, io.stderr),
  });
  const prompter: Prompter = io.isTTY ? terminalPrompter(io.stdin, io.stderr) : pipePrompter(io.stdin);
  try {
    const provider = await chooseProvider(await client.providers(), args.provider, prompter, io);
    const { tokens } = await client.login({
      handler: [provider.type, provider.id],
      answer: (form, { attempt, resumed }) => {
        const errors = formErrorLines(form);
        if (attempt > 1 || resumed || errors.length > 0) {
          if (errors.length > 0 && !prompter.interactive) throw new LoginFailure(errors.join(' '));
          errors.forEach((line) => io.stderr.write(`${line}\n`));
        }
        const heading = mfaHeading(form);
        if (heading !== undefined && attempt === 1 && prompter.interactive) io.stderr.write(`${heading}\n`);
        return askForm(form, prompter, io.stderr);
      },
    });
    const user = await client.currentUser();
    if (prompter.interactive) io.stderr.write(`Logged in as ${user.name}.\n`);
    const { access_token, token_type, refresh_token, expires_in } = tokens;
    io.stdout.write(`${JSON.stringify({ access_token, token_type, refresh_token, expires_in }, null, 2)}\n`);
  } finally {
    prompter.close();
    client.close();
  }
}

async function chooseProvider(providers: ProviderInfo[], wanted: string | undefined, prompter: Prompter, io: LoginIo): Promise<ProviderInfo> {
  const names = providers.map((p) => (p.id === null ? p.type : `${p.type}:${p.id}`));
  if (wanted !== undefined) {
    const index = names.indexOf(wanted);
    const found = index >= 0 ? providers[index] : providers.find((p) => p.type === wanted);
    if (found === undefined) throw new LoginFailure(`no provider ${JSON.stringify(wanted)} on this server; it has: ${names.join(', ')}`, 2);
    return found;
  }
  const [only] = providers;
  if (only === undefined) throw new LoginFailure('the server has no login providers');
  if (providers.length === 1) return only;
  if (!prompter.interactive) throw new LoginFailure(`the server has several providers: choose one with --provider (${names.join(', ')})`, 2);
  io.stderr.write(providers.map((p, i) => `  ${i + 1}) ${p.name} (${names[i]})`).join('\n') + '\n');
  for (;;) {
    const line = await prompter.ask('Provider:');
    if (line === undefined) throw new LoginFailure('the input ended before a provider was chosen');
    const chosen = providers[Number(line.trim()) - 1];
    if (chosen !== undefined) return chosen;
    io.stderr.write(`Choose a number from 1 to ${providers.length}.\n`);
  }
}

/** The line above an MFA step's prompts, so the person knows why a code is asked after the password, and from where. */
function mfaHeading(form: FormResult): string | undefined {
  const step = mfaLoginStep(form);
  if (step === undefined) return undefined;
  if (step.kind === 'select_module') return 'Two-factor authentication: choose how to confirm it is you.';
  return `Two-factor authentication: enter the code from ${step.moduleName}.`;
}

function describe(error: unknown): string {
  if (error instanceof RateLimitedError) return describeRateLimit(error);
  if (error instanceof FlowAbortedError) return describeAbortReason(error.reason);
  if (error instanceof AnswerError) return error.message;
  if (error instanceof ClientClosedError && error.cause !== undefined) return describe(error.cause);
  if (error instanceof CommandError && error.code === 'not_found' && error.command.startsWith('login_flow/')) {
    return describeAbortReason('flow_expired');
  }
  if (error instanceof FlowgateError || error instanceof Error) return error.message;
  return String(error);
}
