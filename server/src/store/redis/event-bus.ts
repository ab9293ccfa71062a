/** Redis pub/sub for the store's EventBus: publish on the command client, receive through one dedicated subscriber client. */
import { ChannelListeners, type Listener } from '../listeners.js';
import type { StoreLogger, Unsubscribe } from '../types.js';
import { isUsable, readyEvent, redisCall, type FlowgateRedis, type RedisMode } from './client.js';
import type { RedisKeys } from './keys.js';

/**
 * The wanted subscriptions are kept here and reconciled with the server, instead of leaving them to node-redis alone: node-redis
 * re-sends the SUBSCRIBEs it has confirmed after a reconnect, but a SUBSCRIBE issued while the subscriber is offline is simply
 * rejected (offline queue disabled) and would be lost. Here it stays wanted and is sent on the next 'ready'.
 */
export class RedisEventBus {
  readonly #publisher: FlowgateRedis;
  readonly #subscriber: FlowgateRedis;
  readonly #keys: RedisKeys;
  readonly #logger: StoreLogger;
  /** Listeners by full channel name: the channels wanted. */
  readonly #wanted: ChannelListeners;
  /** Channels the server has confirmed (node-redis resubscribes exactly these after a reconnect). */
  readonly #confirmed = new Set<string>();
  /** Reconciliations run one after another so a SUBSCRIBE and an UNSUBSCRIBE of one channel never cross on the wire. */
  #reconciling: Promise<void> = Promise.resolve();

  constructor(publisher: FlowgateRedis, subscriber: FlowgateRedis, keys: RedisKeys, logger: StoreLogger, mode: RedisMode = 'single') {
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#keys = keys;
    this.#logger = logger;
    this.#wanted = new ChannelListeners(logger);
    // A cluster subscriber reports readiness per node; reconciling again when nothing is missing costs nothing. A sentinel
    // subscriber is ready again after a failover, once node-redis has moved its subscriptions to the new master.
    (subscriber as unknown as NodeJS.EventEmitter).on(readyEvent(mode), () => void this.#reconcile());
  }

  async publish(channel: string, message: string): Promise<void> {
    const fullChannel = this.#keys.channel(channel);
    await redisCall(() => this.#publisher.publish(fullChannel, message), this.#publisher);
  }

  /**
   * Registers the listener and, when the subscriber is connected, waits until Redis confirmed the subscription, so a message
   * published after this resolves is received. While Redis is down it resolves at once and the subscription starts on reconnect:
   * delivery is at most once to live subscribers anyway, and a server must be able to start during an outage.
   */
  async subscribe(channel: string, listener: Listener): Promise<Unsubscribe> {
    const remove = this.#wanted.add(this.#keys.channel(channel), listener);
    await this.#reconcile();
    return async () => {
      if (remove()) await this.#reconcile();
    };
  }

  /**
   * True while the subscriber is connected and every wanted channel is confirmed: only then do other instances' events (a
   * revocation) reach this one. A subscription that waits for a reconnect counts as down.
   */
  isUp(): boolean {
    return isUsable(this.#subscriber) && this.#wanted.channels().every((channel) => this.#confirmed.has(channel));
  }

  /** Drops every listener (the store is closing; the subscriber connection goes with it). */
  clear(): void {
    this.#wanted.clear();
  }

  // Never subscribed in buffer mode, so strings arrive; node-redis types a sentinel's unsubscribe listener as either.
  readonly #dispatch = (message: string | Buffer, channel: string | Buffer): void =>
    this.#wanted.deliver(String(channel), String(message));

  #reconcile(): Promise<void> {
    this.#reconciling = this.#reconciling.then(() => this.#reconcileNow());
    return this.#reconciling;
  }

  async #reconcileNow(): Promise<void> {
    if (!isUsable(this.#subscriber)) return; // the next 'ready' runs this again
    const toAdd = this.#wanted.channels().filter((channel) => !this.#confirmed.has(channel));
    const toRemove = [...this.#confirmed].filter((channel) => !this.#wanted.has(channel));
    try {
      if (toAdd.length > 0) {
        await this.#subscriber.subscribe(toAdd, this.#dispatch);
        for (const channel of toAdd) this.#confirmed.add(channel);
      }
      if (toRemove.length > 0) {
        await this.#subscriber.unsubscribe(toRemove, this.#dispatch);
        for (const channel of toRemove) this.#confirmed.delete(channel);
      }
    } catch (error) {
      // The connection dropped mid-way; whatever did not get confirmed is retried on the next 'ready'.
      this.#logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'Redis subscription change deferred until the subscriber reconnects',
      );
    }
  }
}
