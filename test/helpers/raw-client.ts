/** A raw WebSocket client for black-box tests: send exact frames, read exact frames and close codes. */
import WebSocket from 'ws';

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export class RawClient {
  private readonly inbox: unknown[] = [];
  private readonly waiters: Array<(message: unknown) => void> = [];
  private nextId = 1;
  readonly closed: Promise<Closed>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        // A server regression must fail the test that reads it, not throw out of a socket event into whichever test runs.
        message = { raw: data.toString() };
      }
      const waiter = this.waiters.shift();
      if (waiter === undefined) this.inbox.push(message);
      else waiter(message);
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens a socket and returns once it is open (the hello is the first message to `next()`). */
  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<RawClient> {
    const socket = new WebSocket(url, options);
    const client = new RawClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  /** Connects and consumes the `auth_required` hello, returning it alongside the client. */
  static async open(url: string, options: WebSocket.ClientOptions = {}): Promise<{ client: RawClient; hello: Record<string, unknown> }> {
    const client = await RawClient.connect(url, options);
    const hello = (await client.next()) as Record<string, unknown>;
    return { client, hello };
  }

  /** The next message from the server; rejects after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<unknown> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (message: unknown): void => {
        clearTimeout(timer);
        resolve(message);
      };
      this.waiters.push(waiter);
    });
  }

  sendRaw(data: string | Buffer, options: { binary?: boolean } = {}): void {
    this.socket.send(data, { binary: options.binary ?? false });
  }

  send(message: unknown): void {
    this.sendRaw(JSON.stringify(message));
  }

  /** Sends a command with the next id (unless it has one) and returns the reply to it. */
  async command(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = typeof message['id'] === 'number' ? message['id'] : this.nextId;
    this.nextId = Math.max(this.nextId, id) + 1;
    this.send({ id, ...message });
    return (await this.next()) as Record<string, unknown>;
  }

  /** The `result` of a command that must succeed. */
  async result(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reply = await this.command(message);
    if (reply['success'] !== true) throw new Error(`command failed: ${JSON.stringify(reply)}`);
    return reply['result'] as Record<string, unknown>;
  }

  close(): void {
    this.socket.close();
  }
}
