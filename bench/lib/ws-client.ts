/** A minimal Flowgate client for load generation: one socket, replies matched to commands by id, nothing else in the way. */
import WebSocket from 'ws';

export type Reply = Record<string, unknown>;

export class BenchClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private hello: ((reply: Reply) => void) | null = null;
  private helloSeen: Reply | null = null;
  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => this.onMessage(String(data)));
    // A benchmark socket that errors is reported by the figure that used it; the listener keeps it from crashing the run.
    socket.on('error', () => undefined);
  }

  static async open(url: string): Promise<BenchClient> {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const client = new BenchClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await client.waitHello();
    return client;
  }

  /** The server's first frame (`auth_required`), which names the instance. */
  waitHello(): Promise<Reply> {
    if (this.helloSeen !== null) return Promise.resolve(this.helloSeen);
    return new Promise((resolve) => (this.hello = resolve));
  }

  /** Sends a command and resolves with its reply (a `result` or a `pong`). */
  request(command: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.send(JSON.stringify({ ...command, id }));
    });
  }

  /** A command that must succeed: its `result`. */
  async result<T = Reply>(command: Record<string, unknown>): Promise<T> {
    const reply = await this.request(command);
    if (reply['success'] !== true) throw new Error(`${String(command['type'])} failed: ${JSON.stringify(reply['error'])}`);
    return reply['result'] as T;
  }

  /** Sends `auth` (no id) and resolves with `auth_ok` / `auth_invalid`. */
  authenticate(accessToken: string): Promise<Reply> {
    return new Promise((resolve) => {
      this.hello = resolve;
      this.socket.send(JSON.stringify({ type: 'auth', access_token: accessToken }));
    });
  }

  close(): void {
    this.socket.close();
  }

  private onMessage(text: string): void {
    const message = JSON.parse(text) as Reply;
    const id = message['id'];
    if (typeof id === 'number') {
      const resolve = this.waiting.get(id);
      this.waiting.delete(id);
      resolve?.(message);
      return;
    }
    // Frames without an id: the hello, then auth_ok / auth_invalid.
    if (this.hello !== null) {
      const resolve = this.hello;
      this.hello = null;
      resolve(message);
    } else this.helloSeen = message;
  }
}
