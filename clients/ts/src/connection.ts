/** One WebSocket to one server: the hello, commands matched to replies by id, the auth handshake, every frame decoded. */
import { AuthRequired, describeErrors, ServerMessage } from '@flowgate/shared';
import type * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { AuthInvalidError, commandError, ConnectFailedError, ConnectionLostError, UnexpectedFrameError } from './errors.js';

/** The part of the WebSocket API this client uses: the browser's global WebSocket and the `ws` package both have it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

interface Pending {
  readonly command: string;
  readonly codec: t.Mixed;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

const OPEN = 1;

export class Connection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private authWaiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private closedWith: Closed | undefined;
  readonly closed: Promise<Closed>;
  private hello: ((message: AuthRequired) => void) | undefined;

  private constructor(
    private readonly socket: WebSocketLike,
    private readonly onUnexpected: (error: UnexpectedFrameError) => void,
  ) {
    this.closed = new Promise((resolve) => {
      socket.addEventListener('close', (event: { code: number; reason: string }) => {
        this.closedWith = { code: event.code, reason: String(event.reason ?? '') };
        const lost = new ConnectionLostError(this.closedWith.code, this.closedWith.reason);
        for (const entry of this.pending.values()) entry.reject(lost);
        this.pending.clear();
        this.authWaiter?.reject(lost);
        this.authWaiter = undefined;
        resolve(this.closedWith);
      });
    });
    socket.addEventListener('error', () => undefined);
    socket.addEventListener('message', (event: { data: unknown }) => this.receive(event.data));
  }

  /** Opens a socket and waits for the server's `auth_required` hello. */
  static open(
    WebSocketImpl: WebSocketConstructor,
    url: string,
    timeoutMs: number,
    onUnexpected: (error: UnexpectedFrameError) => void,
  ): Promise<{ connection: Connection; hello: AuthRequired }> {
    return new Promise((resolve, reject) => {
      let socket: WebSocketLike;
      try {
        socket = new WebSocketImpl(url);
      } catch (error) {
        reject(new ConnectFailedError(url, error instanceof Error ? error.message : String(error)));
        return;
      }
      const connection = new Connection(socket, onUnexpected);
      const timer = setTimeout(() => {
        reject(new ConnectFailedError(url, `no hello within ${timeoutMs} ms`));
        socket.close();
      }, timeoutMs);
      connection.hello = (hello) => {
        clearTimeout(timer);
        resolve({ connection, hello });
      };
      void connection.closed.then(({ code }) => {
        clearTimeout(timer);
        reject(new ConnectFailedError(url, code === 1006 ? 'the connection failed' : `the server closed the socket (${code})`));
      });
    });
  }

  get isOpen(): boolean {
    return this.closedWith === undefined && this.socket.readyState === OPEN;
  }

  /** Sends `{id, type, ...fields}` and resolves with the reply's result decoded by `codec`. */
  command<C extends t.Mixed>(type: string, fields: Record<string, unknown>, codec: C): Promise<t.TypeOf<C>> {
    if (this.closedWith !== undefined) return Promise.reject(new ConnectionLostError(this.closedWith.code, this.closedWith.reason));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { command: type, codec, resolve, reject });
      this.socket.send(JSON.stringify({ id, type, ...fields }));
    });
  }

  /** Sends `auth`; resolves on `auth_ok`, rejects with AuthInvalidError on `auth_invalid`. */
  authenticate(accessToken: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.authWaiter = { resolve, reject };
      this.socket.send(JSON.stringify({ type: 'auth', access_token: accessToken }));
    });
  }

  close(code = 1000, reason = ''): void {
    this.socket.close(code, reason);
  }

  private receive(data: unknown): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      this.onUnexpected(new UnexpectedFrameError('the frame is not JSON', data));
      return;
    }
    // A server that coalesces sends several messages as one array frame.
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) this.dispatch(message);
  }

  private dispatch(frame: unknown): void {
    const decoded = ServerMessage.decode(frame);
    if (isLeft(decoded)) {
      this.unexpected(frame, `not a server message (${describeErrors(decoded.left)})`);
      return;
    }
    const message = decoded.right;
    switch (message.type) {
      case 'auth_required':
        if (this.hello === undefined) this.unexpected(frame, 'a second hello');
        this.hello?.(message);
        this.hello = undefined;
        return;
      case 'auth_ok':
      case 'auth_invalid': {
        const waiter = this.authWaiter;
        this.authWaiter = undefined;
        if (waiter === undefined) this.unexpected(frame, `${message.type} without an auth message`);
        else if (message.type === 'auth_ok') waiter.resolve();
        else waiter.reject(new AuthInvalidError(message.message));
        return;
      }
      case 'pong':
      case 'result': {
        const entry = this.pending.get(message.id);
        if (entry === undefined) {
          this.unexpected(frame, `a reply to id ${message.id}, which no command is waiting for`);
          return;
        }
        this.pending.delete(message.id);
        if (message.type === 'pong') entry.resolve(null);
        else if (!message.success) entry.reject(commandError(entry.command, message.error));
        else {
          const result = entry.codec.decode(message.result);
          if (isLeft(result)) entry.reject(new UnexpectedFrameError(`${entry.command} result: ${describeErrors(result.left)}`, frame));
          else entry.resolve(result.right);
        }
      }
    }
  }

  private unexpected(frame: unknown, detail: string): void {
    this.onUnexpected(new UnexpectedFrameError(detail, frame));
  }
}
