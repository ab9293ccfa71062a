/** The kit's socket: sends exact frames, and decodes every frame the server sends with the shared codecs before a case sees it. */
import WebSocket from 'ws';
import { AuthRequired, ResultError, ResultSuccess, ServerMessage } from '@flowgate/shared';
import { decode, fail, quote } from './expect.js';

/** How long a case waits for one server frame before it fails: a login step with a slow password hash still answers in this. */
export const REPLY_TIMEOUT_MS = 5_000;

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

/** Every socket the kit opened, so the run can close them all whatever the cases did (a left-open socket would keep it alive). */
const openSockets = new Set<KitSocket>();

export function closeAllSockets(): void {
  for (const socket of openSockets) socket.close();
}

export class KitSocket {
  private readonly inbox: ServerMessage[] = [];
  private readonly waiters: Array<{ resolve: (m: ServerMessage) => void; reject: (e: Error) => void }> = [];
  /** A frame that broke the protocol (not JSON, not a server message): handed to the next reader, so the case fails on it. */
  private violation: Error | undefined;
  private lastId = 0;
  /** Set once this socket offered `coalesce_messages`: only then may the server send array frames. */
  private coalescing = false;
  readonly closed: Promise<Closed>;

  private constructor(readonly socket: WebSocket) {
    openSockets.add(this);
    socket.on('message', (data, isBinary) => this.receive(data.toString(), isBinary));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => {
        openSockets.delete(this);
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  /**
   * Connects and checks the hello (`auth_required`), which every server sends before anything else. `origin` sends the
   * `Origin` a browser page of that origin would (none by default, as a CLI or a service).
   */
  static async open(url: string, origin?: string): Promise<{ socket: KitSocket; hello: AuthRequired }> {
    const socket = await KitSocket.connect(url, origin);
    const hello = decode(AuthRequired, await socket.next(), 'the hello');
    return { socket, hello };
  }

  /** Connects without reading anything. */
  static async connect(url: string, origin?: string): Promise<KitSocket> {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    const socket = new KitSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', (error) => reject(new Error(`cannot connect to ${url}: ${error.message}`)));
    });
    return socket;
  }

  private receive(text: string, isBinary: boolean): void {
    let messages: unknown[];
    try {
      if (isBinary) throw new Error('the server sent a binary frame; the protocol is text only [protocol.md: Transport]');
      const value: unknown = JSON.parse(text);
      if (Array.isArray(value) && !this.coalescing) {
        throw new Error('the server sent an array frame to a client that never offered coalesce_messages [protocol.md: Commands and results (both phases)]');
      }
      messages = Array.isArray(value) ? value : [value];
    } catch (error) {
      const reason = error instanceof SyntaxError ? `the server sent a frame that is not JSON: ${text.slice(0, 200)}` : (error as Error).message;
      this.deliverError(new Error(reason));
      return;
    }
    for (const message of messages) {
      let decoded: ServerMessage;
      try {
        decoded = decode(ServerMessage, message, 'a server message');
      } catch (error) {
        this.deliverError(error as Error);
        continue;
      }
      const waiter = this.waiters.shift();
      if (waiter === undefined) this.inbox.push(decoded);
      else waiter.resolve(decoded);
    }
  }

  private deliverError(error: Error): void {
    const waiter = this.waiters.shift();
    if (waiter === undefined) this.violation ??= error;
    else waiter.reject(error);
  }

  /** The next server message; fails after `timeoutMs`, or when the socket closes first. */
  next(timeoutMs = REPLY_TIMEOUT_MS, what = 'a reply'): Promise<ServerMessage> {
    if (this.violation !== undefined) {
      const violation = this.violation;
      this.violation = undefined;
      return Promise.reject(violation);
    }
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (message: ServerMessage) => {
          clearTimeout(timer);
          resolve(message);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`expected ${what} within ${timeoutMs} ms, got nothing`));
      }, timeoutMs);
      void this.closed.then((closed) => {
        if (!this.waiters.includes(waiter)) return;
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.reject(new Error(`expected ${what}, but the server closed the socket (${closed.code} ${closed.reason})`));
      });
      this.waiters.push(waiter);
    });
  }

  /** Resolves with no message when none arrives within `ms` (to check that something is not answered); fails on a message. */
  async nothingWithin(ms: number, why: string): Promise<void> {
    try {
      const message = await this.next(ms);
      fail(`${why}, but the server sent ${JSON.stringify(message)}`);
    } catch (error) {
      if (!(error as Error).message.startsWith('expected a reply within')) throw error;
    }
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.socket.send(data, { binary });
  }

  send(message: unknown): void {
    this.sendRaw(JSON.stringify(message));
  }

  /** The next id for this socket (ids strictly increase per connection). */
  nextId(): number {
    this.lastId += 1;
    return this.lastId;
  }

  /** Records an id sent by hand, so later automatic ids stay above it. */
  usedId(id: number): void {
    this.lastId = Math.max(this.lastId, id);
  }

  /** Sends one command with the next id (or its own) and returns the reply, which must carry that id. */
  async command(command: Record<string, unknown>): Promise<ServerMessage> {
    const id = typeof command['id'] === 'number' ? command['id'] : this.nextId();
    this.usedId(id);
    if (command['type'] === 'supported_features') {
      const features = command['features'] as Record<string, unknown> | undefined;
      this.coalescing = features?.['coalesce_messages'] === 1;
    }
    this.send({ ...command, id });
    const reply = await this.next(REPLY_TIMEOUT_MS, `the reply to ${String(command['type'])} (id ${id})`);
    if (!('id' in reply) || reply.id !== id) fail(`expected the reply to id ${id}, got ${JSON.stringify(reply)}`);
    return reply;
  }

  /** A command that must succeed: its `result`. */
  async result(command: Record<string, unknown>): Promise<unknown> {
    const reply = await this.command(command);
    const what = `the reply to ${String(command['type'])}`;
    if (ResultError.is(reply)) fail(`${what}: expected a success, got the error ${reply.error.code} (${quote(reply.error.message)})`);
    return decode(ResultSuccess, reply, what).result;
  }

  /** A command that must fail: its error body. */
  async error(command: Record<string, unknown>): Promise<ResultError['error']> {
    const reply = await this.command(command);
    return decode(ResultError, reply, `the reply to ${String(command['type'])} (expected an error)`).error;
  }

  /** Waits for the server to close the socket; fails after `timeoutMs`. */
  async closedWithin(timeoutMs: number, what: string): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`expected the server to close the socket (${what}) within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
    else if (this.socket.readyState !== WebSocket.CLOSED) this.socket.terminate();
  }
}
