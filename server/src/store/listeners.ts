/** Listeners by channel, shared by both EventBus backends: registration, removal and delivery that a throwing listener cannot break. */
import type { StoreLogger } from './types.js';

export type Listener = (message: string) => void;

export class ChannelListeners {
  readonly #byChannel = new Map<string, Set<Listener>>();

  constructor(private readonly logger: StoreLogger) {}

  /**
   * Registers `listener` on `channel` and returns the function that removes exactly this registration (true the first time).
   * A fresh wrapper per call: subscribing one function twice gives two registrations, each removed by its own remover.
   */
  add(channel: string, listener: Listener): () => boolean {
    let listeners = this.#byChannel.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#byChannel.set(channel, listeners);
    }
    const entry: Listener = (message) => listener(message);
    listeners.add(entry);
    return () => {
      const current = this.#byChannel.get(channel);
      if (current === undefined || !current.delete(entry)) return false;
      if (current.size === 0) this.#byChannel.delete(channel);
      return true;
    };
  }

  has(channel: string): boolean {
    return this.#byChannel.has(channel);
  }

  channels(): string[] {
    return [...this.#byChannel.keys()];
  }

  get size(): number {
    return this.#byChannel.size;
  }

  clear(): void {
    this.#byChannel.clear();
  }

  deliver(channel: string, message: string): void {
    const listeners = this.#byChannel.get(channel);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener(message);
      } catch (error) {
        this.logger.warn({ channel, err: error instanceof Error ? error.message : String(error) }, 'event listener threw');
      }
    }
  }
}
