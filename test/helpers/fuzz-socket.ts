/** A fuzzed socket: counts the replies each generated frame is owed, checks every reply, and knows when the server must close. */
import * as t from 'io-ts';
import WebSocket from 'ws';
import { AuthInvalid, AuthOk, AuthRequired, CloseCode, MAX_BATCH_COMMANDS, MAX_FRAME_BYTES, Pong, ResultMessage } from '@flowgate/shared';
import { fillPlaceholders, type FuzzFrame, type PlaceholderValues } from './frame-arbitraries.js';

/** Messages in flight per socket: pipelined for speed, well under the server's 128 pending commands. */
export const WINDOW = 40;
/** The server's `maxInvalidFrames`: the next non-JSON frame closes the socket with 1008. */
const INVALID_FRAMES_BEFORE_CLOSE = 10;
/** Without any reply for this long the server is hung (or lost a reply): fail rather than wait for mocha's timeout. */
const STALL_MS = 15_000;
/** Stop after this many failures: the first few say everything, the rest only slow the report down. */
const MAX_FAILURES = 10;

/** Every documented close code; any other (1006 from a crash, 1011...) is a failure. */
const DOCUMENTED_CLOSE_CODES: ReadonlySet<number> = new Set(Object.values(CloseCode));
/** What a server may send after its hello. */
const Reply = t.union([AuthOk, AuthInvalid, ResultMessage, Pong]);

/**
 * Signs of an internal error reaching a client: stack frames, file paths, error class prefixes, Redis and system error
 * names, and the marks of a value rendered without care. The generated strings contain none of them, so an echo is safe.
 */
const LEAKS: readonly RegExp[] = [
  / {2,}at /, /\/(work|home|tmp|usr|root)\//, /file:\/\//, /\.[cm]?[jt]s:\d/, /node:internal/, /node_modules/,
  /\b(?:Type|Range|Syntax|Reference|Eval|URI|Aggregate|Service|Config|Reply|Sqlite)?Error:/, /\b(?:ERR|WRONGTYPE|NOSCRIPT|READONLY|ECONN[A-Z]+|ETIMEDOUT)\b/,
  /\[object \w+\]/, /\bundefined\b/, /Maximum call stack/,
];

export function problemWith(text: string): string | null {
  const leak = LEAKS.find((pattern) => pattern.test(text));
  if (leak !== undefined) return `leaks internals (${String(leak)})`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  for (const message of Array.isArray(value) ? value : [value]) {
    if (!Reply.is(message)) return 'matches no server message codec';
    if (message.type === 'result' && !message.success && message.error.code === 'unknown_error') return 'is unknown_error';
  }
  return null;
}

export interface Failure {
  readonly lane: string;
  readonly problem: string;
  readonly reply?: string;
  /** The frames sent on that socket just before (the culprit is among them). */
  readonly recentFrames: readonly string[];
}

/** What the run saw, for the summary line and the assertions. */
export class Report {
  readonly failures: Failure[] = [];
  readonly framesByKind = new Map<string, number>();
  readonly replies = new Map<string, number>();
  readonly closes = new Map<number, number>();
  framesSent = 0;
  get stopped(): boolean {
    return this.failures.length >= MAX_FAILURES;
  }
  fail(failure: Failure): void {
    if (!this.stopped) this.failures.push(failure);
  }
  count<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}

const shorten = (text: string, max = 300): string => (text.length > max ? `${text.slice(0, max)}... (${text.length} characters)` : text);

/** One fuzzed socket: counts the replies it is owed, checks each one, and knows when the server must close it. */
export class FuzzSocket {
  inFlight = 0;
  lastId = 0;
  invalidFrames = 0;
  closeCode: number | null = null;
  values!: PlaceholderValues;
  readonly recent: string[] = [];
  private readonly inbox: unknown[] = [];
  private wake: (() => void) | null = null;
  private closingByUs = false;
  private greeted = false;

  private constructor(
    private readonly socket: WebSocket,
    private readonly lane: string,
    private readonly report: Report,
  ) {
    socket.on('message', (data: WebSocket.RawData) => this.onReply(data.toString()));
    socket.on('error', () => undefined);
    socket.on('close', (code) => {
      this.closeCode = code;
      if (!this.closingByUs) {
        report.count(report.closes, code);
        if (!DOCUMENTED_CLOSE_CODES.has(code)) this.fail(`closed with the undocumented code ${code}`);
      }
      this.notify();
    });
  }

  static async open(url: string, lane: string, report: Report): Promise<FuzzSocket> {
    const socket = new WebSocket(url);
    const fuzz = new FuzzSocket(socket, lane, report);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const hello = await fuzz.next();
    if (!AuthRequired.is(hello)) throw new Error(`${lane}: the hello is not auth_required: ${JSON.stringify(hello)}`);
    return fuzz;
  }

  get closed(): boolean {
    return this.closeCode !== null;
  }

  nextId = (): number => ++this.lastId;

  /** Sends one setup command (not fuzzed) and returns its result; the lane cannot fuzz without it. */
  async request(message: Record<string, unknown>): Promise<any> {
    this.socket.send(JSON.stringify('type' in message && message['type'] === 'auth' ? message : { id: this.nextId(), ...message }));
    this.inFlight += 1;
    const reply = (await this.next()) as any;
    if (reply?.type === 'auth_ok') return reply;
    if (reply?.success !== true) throw new Error(`${this.lane}: setup command ${String(message['type'])} failed: ${JSON.stringify(reply)}`);
    return reply.result;
  }

  /** Sends a generated frame and returns how many replies it is owed (`close`: the server must close the socket). */
  send(frame: FuzzFrame): number | 'close' {
    const text = fillPlaceholders(frame, this.values, this.nextId, this.lastId);
    this.recent.push(`${frame.kind}: ${shorten(text, 400)}`);
    if (this.recent.length > WINDOW) this.recent.shift();
    const owed = this.owedReplies(frame, text);
    if (frame.encoding === 'text') this.socket.send(text);
    else this.socket.send(Buffer.from(text, frame.encoding === 'binary' ? 'utf8' : 'latin1'), { binary: frame.encoding === 'binary' });
    if (owed !== 'close') this.inFlight += owed;
    return owed;
  }

  /** Waits until `room` more messages fit the window (or the socket closed); a stalled server is a failure. */
  async waitForRoom(room: number): Promise<void> {
    const limit = Math.max(WINDOW, room);
    while (!this.closed && this.inFlight + room > limit) {
      if (!(await this.progress())) {
        this.fail(`no reply within ${STALL_MS} ms (${this.inFlight} owed)`);
        this.close();
        return;
      }
    }
  }

  /** Waits for the close the frame just sent must cause. */
  async waitForClose(kind: string): Promise<void> {
    while (!this.closed) {
      if (!(await this.progress())) {
        this.fail(`a ${kind} frame did not close the socket within ${STALL_MS} ms`);
        this.close();
        return;
      }
    }
  }

  close(): void {
    this.closingByUs = true;
    this.socket.terminate();
  }

  private owedReplies(frame: FuzzFrame, text: string): number | 'close' {
    if (frame.encoding !== 'text' || Buffer.byteLength(text) > MAX_FRAME_BYTES) return 'close';
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.invalidFrames += 1;
      return this.invalidFrames > INVALID_FRAMES_BEFORE_CLOSE ? 'close' : 1;
    }
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    if (messages.length > MAX_BATCH_COMMANDS) return 1;
    // Mirror the server's id check, so that NEXT_ID keeps producing ids it accepts.
    for (const m of messages) {
      const id = (m as { id?: unknown } | null)?.id;
      if (typeof (m as { type?: unknown } | null)?.type === 'string' && typeof id === 'number' && Number.isInteger(id) && id > this.lastId) {
        this.lastId = id;
      }
    }
    return messages.length;
  }

  private onReply(text: string): void {
    if (!this.greeted) {
      // The hello, checked by open(); it answers nothing.
      this.greeted = true;
      this.inbox.push(JSON.parse(text));
      this.notify();
      return;
    }
    const problem = problemWith(text);
    if (problem !== null) this.fail(`a reply ${problem}`, text);
    try {
      const value = JSON.parse(text) as any;
      // Once a generated supported_features offered coalesce_messages, one frame carries the replies of a whole batch.
      this.inFlight -= Array.isArray(value) ? value.length : 1;
      for (const m of Array.isArray(value) ? value : [value]) {
        this.report.count(this.report.replies, m?.type === 'result' ? (m.success === true ? 'success' : String(m.error?.code)) : String(m?.type));
      }
      this.inbox.push(value);
    } catch {
      this.inFlight -= 1;
      this.inbox.push(text);
    }
    if (this.inbox.length > WINDOW * 2) this.inbox.splice(0, this.inbox.length - WINDOW);
    this.notify();
  }

  private fail(problem: string, reply?: string): void {
    this.report.fail({ lane: this.lane, problem, ...(reply === undefined ? {} : { reply: shorten(reply) }), recentFrames: [...this.recent] });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Resolves true on the next reply or close, false after STALL_MS of silence. */
  private progress(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), STALL_MS);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private async next(): Promise<unknown> {
    while (this.inbox.length === 0) {
      if (this.closed) throw new Error(`${this.lane}: the socket closed (${this.closeCode}) during setup`);
      if (!(await this.progress())) throw new Error(`${this.lane}: no reply during setup within ${STALL_MS} ms`);
    }
    return this.inbox.shift();
  }
}
