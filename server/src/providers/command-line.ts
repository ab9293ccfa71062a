/**
 * `command_line`: a login is checked by a program of the operator's, given the username and password in its environment (Home
 * Assistant's provider, with limits). The program gets the username as typed; the credential is keyed by its fold, as the
 * password provider's are, so `ALICE` and `alice` are one account (and one set of limits, one second factor).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';
import { isRight } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { GroupId, MAX_USER_INPUT_STRING_LENGTH } from '@flowgate/shared';
import { closedObject } from '../codec.js';
import { createEntry, defineFlowHandler, defineForm, field, showForm } from '../flow/index.js';
import type { Credential, JsonObject } from '../store/types.js';
import { normalizeUsername } from '../usernames.js';
import type { AuthProvider, ProviderDependencies, ProviderFactory, ProviderLogger, UserMeta } from './provider.js';
import { verifyGate } from './verify-gate.js';

export const COMMAND_LINE_PROVIDER_TYPE = 'command_line';
/** HA's `DEFAULT_TITLE`, shown when the config names the provider no other way. */
export const DEFAULT_COMMAND_LINE_NAME = 'Command Line Authentication';
/** Long enough for a program that asks a directory server over a slow link; short enough that a hung one frees its slot soon. */
export const DEFAULT_TIMEOUT_SECONDS = 10;
/** A login flow lives 10 minutes; a program allowed more than 5 of them would hold a verify slot for most of a flow's life. */
export const MAX_TIMEOUT_SECONDS = 300;
/**
 * Bytes of stdout read from a program with `meta: true`: a few `key=value` lines need a few hundred bytes; more is a program
 * gone wrong, which is then killed and the login refused (meta cut short could name the wrong group), never buffered.
 */
export const MAX_STDOUT_BYTES = 64 * 1024;
/** Bytes of a program's stderr kept for the log: enough for an error message or a short trace, not a flood in every log line. */
export const MAX_STDERR_LOG_BYTES = 4 * 1024;
/** Characters of a username or a meta value put in a log line, as audit events cut them: no kilobyte per attempt. */
export const LOGGED_TEXT_CHARS = 64;
/** What replaces the password wherever the program's stderr repeats it. */
export const REDACTED = '[password redacted]';

const AbsolutePath = t.refinement(t.string, (path) => isAbsolute(path), 'an absolute path to the program, such as /usr/local/bin/check-login');
const TimeoutSeconds = t.refinement(
  t.number,
  (n) => Number.isFinite(n) && n > 0 && n <= MAX_TIMEOUT_SECONDS,
  `a positive number of seconds, at most ${MAX_TIMEOUT_SECONDS}`,
);

export const CommandLineConfig = closedObject(
  'command_line provider',
  { type: t.literal(COMMAND_LINE_PROVIDER_TYPE), command: AbsolutePath },
  { id: t.union([t.string, t.null]), name: t.string, args: t.array(t.string), meta: t.boolean, timeout_seconds: TimeoutSeconds },
);
export type CommandLineConfig = t.TypeOf<typeof CommandLineConfig>;

/** The meta a program printed, as kept in its credential's data (so every instance, and the token exchange, reads it). */
export const ProgramMeta = t.partial({ name: t.string, group: GroupId, local_only: t.boolean });
export type ProgramMeta = t.TypeOf<typeof ProgramMeta>;

/** HA's `ALLOWED_META_KEYS`: any other key a program prints is ignored. */
const META_KEYS: ReadonlySet<string> = new Set(['name', 'group', 'local_only']);

/**
 * HA's reading of a program's stdout: per line, leading space dropped, `#` comments and lines without `=` skipped, key and value
 * trimmed; a later line wins. Lines that are not UTF-8 are skipped as HA skips undecodable ones. Beyond HA: a group that is not
 * one of the three groups, or a name longer than a login field, is ignored with a warning rather than stored.
 */
export function parseMeta(stdout: Buffer, warn: (what: string, value: string) => void = () => undefined): ProgramMeta {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let meta: ProgramMeta = {};
  for (const raw of splitLines(stdout)) {
    let line: string;
    try {
      line = decoder.decode(raw).trimStart();
    } catch {
      continue;
    }
    const equals = line.indexOf('=');
    if (line.startsWith('#') || equals < 0) continue;
    const key = line.slice(0, equals).trim();
    const value = line.slice(equals + 1).trim();
    if (!META_KEYS.has(key)) continue;
    if (key === 'local_only') meta = { ...meta, local_only: value === 'true' };
    else if (key === 'group') {
      if (GroupId.is(value)) meta = { ...meta, group: value };
      else warn('group', value.slice(0, LOGGED_TEXT_CHARS));
    } else if (value.length > MAX_USER_INPUT_STRING_LENGTH) warn('name', `${value.slice(0, LOGGED_TEXT_CHARS)}...`);
    // An empty name is no name: the username stands in, as for a program that prints none.
    else if (value !== '') meta = { ...meta, name: value };
  }
  return meta;
}

function splitLines(buffer: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let newline = buffer.indexOf(0x0a); newline >= 0; newline = buffer.indexOf(0x0a, start)) {
    lines.push(buffer.subarray(start, newline));
    start = newline + 1;
  }
  lines.push(buffer.subarray(start));
  return lines;
}

/**
 * The program's stderr as it may be logged: every occurrence of the password replaced, and, when the capture was cut short, a
 * trailing start of the password dropped too (the rest of it fell past the cut), then cut to MAX_STDERR_LOG_BYTES.
 */
export function redactedStderr(captured: Buffer, truncated: boolean, password: string): string {
  let bytes = captured;
  const secret = Buffer.from(password, 'utf8');
  if (secret.length === 0) return bytes.toString('utf8').slice(0, MAX_STDERR_LOG_BYTES);
  if (truncated) {
    for (let k = Math.min(secret.length - 1, bytes.length); k > 0; k -= 1) {
      if (bytes.subarray(bytes.length - k).equals(secret.subarray(0, k))) {
        bytes = bytes.subarray(0, bytes.length - k);
        break;
      }
    }
  }
  const pieces: string[] = [];
  let from = 0;
  for (let at = bytes.indexOf(secret); at >= 0; at = bytes.indexOf(secret, from)) {
    pieces.push(bytes.subarray(from, at).toString('utf8'), REDACTED);
    from = at + secret.length;
  }
  pieces.push(bytes.subarray(from).toString('utf8'));
  return pieces.join('').slice(0, MAX_STDERR_LOG_BYTES);
}

/** `text` with every occurrence of `secret` replaced. */
function redacted(text: string, secret: string): string {
  return secret === '' ? text : text.split(secret).join(REDACTED);
}

/** The first `limit` bytes of a stream; what comes after is counted and dropped. */
class Capture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  truncated = false;
  constructor(private readonly limit: number) {}

  /** False once more than `limit` bytes arrived. */
  push(chunk: Buffer): boolean {
    const room = this.limit - this.kept;
    if (chunk.length > room) this.truncated = true;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length > 0) {
      this.chunks.push(part);
      this.kept += part.length;
    }
    return !this.truncated;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export type ProgramOutcome =
  | { readonly kind: 'exited'; readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: Buffer }
  | { readonly kind: 'not_started'; readonly error: Error }
  | { readonly kind: 'timed_out' }
  | { readonly kind: 'output_too_large' };

/** How a run ended, and the start of what the program wrote to stderr (whatever the ending). */
export type ProgramRun = ProgramOutcome & { readonly stderr: Buffer; readonly stderrTruncated: boolean };

export interface ProgramSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly readStdout: boolean;
  /** Bytes of stderr kept; the rest is read and dropped, so the program never blocks on a full pipe. */
  readonly stderrBytes: number;
}

/** SIGKILL to the program's process group (it leads one, spawned detached), so what it started dies with it; gone is fine. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is empty already.
  }
}

/**
 * Runs the program without a shell, stdin closed, with exactly `env`. It ends when the program exited and its pipes closed;
 * at its exit whatever it left running in its group is killed (a background child would otherwise hold the pipes open until
 * the timeout). Past the timeout, or past MAX_STDOUT_BYTES of stdout, the whole group is killed.
 */
export function runProgram(spec: ProgramSpec): Promise<ProgramRun> {
  const stderr = new Capture(spec.stderrBytes);
  const ended = (outcome: ProgramOutcome): ProgramRun => ({ ...outcome, stderr: stderr.bytes(), stderrTruncated: stderr.truncated });
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(spec.command, [...spec.args], {
        env: { ...spec.env },
        stdio: ['ignore', spec.readStdout ? 'pipe' : 'ignore', 'pipe'],
        detached: true,
        shell: false,
      });
    } catch (error) {
      // Thrown, not emitted, for arguments Node refuses itself (a NUL byte in the username or password).
      resolve(ended({ kind: 'not_started', error: error instanceof Error ? error : new Error(String(error)) }));
      return;
    }
    const stdout = new Capture(MAX_STDOUT_BYTES);
    let settled = false;
    const finish = (outcome: ProgramOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(child);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(ended(outcome));
    };
    const timer = setTimeout(() => finish({ kind: 'timed_out' }), spec.timeoutMs);
    child.on('error', (error) => finish({ kind: 'not_started', error }));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!stdout.push(chunk)) finish({ kind: 'output_too_large' });
    });
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('exit', () => killGroup(child));
    child.on('close', (code, signal) => finish({ kind: 'exited', code, signal, stdout: stdout.bytes() }));
  });
}

const LoginForm = defineForm({ username: field.string('username'), password: field.string('password') });

/** The meta stored in a credential's data; {} when there is none (meta: false, or data from before). */
function storedMeta(credential: Credential): ProgramMeta {
  const decoded = ProgramMeta.decode(credential.data['meta']);
  return isRight(decoded) ? decoded.right : {};
}

const NO_LOGGER: ProviderLogger = { warn: () => undefined, info: () => undefined };

export const commandLineProvider = {
  type: COMMAND_LINE_PROVIDER_TYPE,
  configCodec: CommandLineConfig,
  create(config: CommandLineConfig, dependencies: ProviderDependencies): AuthProvider {
    const { store } = dependencies;
    const logger = dependencies.logger ?? NO_LOGGER;
    const gate = dependencies.verifyGate ?? verifyGate;
    const id = config.id ?? null;
    const command = normalize(config.command);
    const args = config.args ?? [];
    const withMeta = config.meta ?? false;
    const timeoutSeconds = config.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS;
    try {
      accessSync(command, fsConstants.X_OK);
    } catch (error) {
      // Not fatal (the program may be mounted later), but every login would fail: say so once, at startup.
      logger.warn({ command, err: error }, 'the command_line provider cannot run its command; every login through it will fail');
    }

    /** The program's verdict: its meta (empty without `meta: true`) when it exited 0, else null. Logs why it refused. */
    async function runLogin(username: string, password: string): Promise<ProgramMeta | null> {
      // An environment variable cannot hold a NUL byte (C strings end there): no program could be given these.
      const who = { command, username: username.slice(0, LOGGED_TEXT_CHARS) };
      if (username.includes('\0') || password.includes('\0')) {
        logger.info({ ...who, username: who.username.replaceAll('\0', '\\0') }, 'a username or password held a NUL byte; the login is refused');
        return null;
      }
      const run = await gate.run(() =>
        runProgram({
          command,
          args,
          env: { username, password },
          timeoutMs: timeoutSeconds * 1000,
          readStdout: withMeta,
          // The password's length more, so that one cut by the limit is still seen whole, and redacted.
          stderrBytes: MAX_STDERR_LOG_BYTES + Buffer.byteLength(password, 'utf8'),
        }),
      );
      if (run.stderr.length > 0) {
        logger.warn(
          { ...who, stderr: redactedStderr(run.stderr, run.stderrTruncated, password), stderr_truncated: run.stderrTruncated },
          'login program wrote to stderr',
        );
      }
      switch (run.kind) {
        case 'not_started':
          // The code and message only: Node's messages about bad arguments quote them, and the password is one.
          logger.warn(
            { ...who, error_code: (run.error as NodeJS.ErrnoException).code, error: redacted(run.error.message, password) },
            'login program could not be started; the login is refused',
          );
          return null;
        case 'timed_out':
          logger.warn({ ...who, timeout_seconds: timeoutSeconds }, `login program ran past its timeout (${timeoutSeconds} s) and was killed; the login is refused`);
          return null;
        case 'output_too_large':
          logger.warn({ ...who, max_stdout_bytes: MAX_STDOUT_BYTES }, `login program printed more than ${MAX_STDOUT_BYTES} bytes and was killed; the login is refused`);
          return null;
        case 'exited':
          if (run.code !== 0) {
            logger.info({ ...who, exit_code: run.code, signal: run.signal }, 'login program refused the login');
            return null;
          }
          return withMeta
            ? parseMeta(run.stdout, (key, value) => logger.warn({ ...who, key, value }, `login program printed an unusable ${key}; it is ignored`))
            : {};
      }
    }

    /** The credential's data for a login: the username as typed, and the meta when the provider reads it. */
    const credentialData = (entry: JsonObject): JsonObject =>
      withMeta ? { username: String(entry['username']), meta: entry['meta'] ?? {} } : { username: String(entry['username']) };

    /** The key of the credential a login's entry names: its username folded (the entry keeps it as typed, for the program). */
    const subjectOf = (entry: JsonObject): string => normalizeUsername(String(entry['username']));

    /** The credential a finished login proves, created when new, its stored meta replaced when the program said otherwise. */
    async function recordLogin(entry: JsonObject): Promise<Credential> {
      const data = credentialData(entry);
      const credential = await store.getOrCreateCredential(COMMAND_LINE_PROVIDER_TYPE, id, subjectOf(entry), data);
      if (!withMeta || JSON.stringify(credential.data) === JSON.stringify(data)) return credential;
      // Last writer wins: of two logins racing, either program's latest word is as good as the other's.
      return (await store.updateCredentialData(credential.id, data)) ? { ...credential, data } : credential;
    }

    /** Credentials recorded by a step's commit, keyed by its entry (the object the engine hands back to getOrCreateCredentials). */
    const recorded = new WeakMap<JsonObject, Credential>();

    return {
      type: COMMAND_LINE_PROVIDER_TYPE,
      id,
      name: config.name ?? DEFAULT_COMMAND_LINE_NAME,
      refreshUserMeta: withMeta,
      loginFlow: defineFlowHandler<JsonObject, 'init'>({
        key: [COMMAND_LINE_PROVIDER_TYPE, id],
        initialState: () => ({}),
        steps: {
          init: async ({ input, state }) => {
            if (input === undefined) return showForm('init', LoginForm.dataSchema, state);
            const { username: typed, password } = LoginForm.read(input);
            const username = typed.trim();
            // No program is asked about an empty username: a permissive one would make a user with no name.
            const meta = username === '' ? null : await runLogin(username, password);
            if (meta === null) return showForm('init', LoginForm.dataSchema, state, { errors: { base: 'invalid_auth' } });
            const entry: JsonObject = withMeta ? { username, meta } : { username };
            // Stored once the step committed, before the code is issued, also when MFA follows (getOrCreateCredentials then is
            // not called): the exchange, on whichever instance, reads the meta from the credential.
            return createEntry(entry, {
              committed: async () => {
                recorded.set(entry, await recordLogin(entry));
              },
            });
          },
        },
      }),
      async getOrCreateCredentials(flowResult): Promise<Credential> {
        return recorded.get(flowResult) ?? recordLogin(flowResult);
      },
      findCredential: (flowResult) => store.findCredential(COMMAND_LINE_PROVIDER_TYPE, id, subjectOf(flowResult)),
      async userMetaForCredentials(credential): Promise<UserMeta> {
        const meta = storedMeta(credential);
        // HA changes the name only when the program printed one: without, an existing user keeps the name it has (an
        // administrator's rename survives), and a new one is named by its username as first typed (the subject is its fold).
        const existing = meta.name === undefined && credential.userId !== null ? await store.getUser(credential.userId) : null;
        const typed = credential.data['username'];
        return {
          name: meta.name ?? existing?.name ?? (typeof typed === 'string' && typed !== '' ? typed : credential.subject),
          isActive: true,
          group: meta.group ?? null,
          // Absent unless the program printed local_only (HA's `should_update_local_only`): a re-login then leaves it alone.
          localOnly: meta.local_only,
        };
      },
      // Brute-force limits count per account however it is spelled: the program may well compare names without case (LDAP).
      loginAccount: (input) => (typeof input['username'] === 'string' ? normalizeUsername(input['username']) : null),
    };
  },
} satisfies ProviderFactory<CommandLineConfig>;
