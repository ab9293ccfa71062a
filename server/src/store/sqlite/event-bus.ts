/** The EventBus for processes sharing one SQLite file: an `events` table written on publish and polled by subscribers. */
import { randomUUID } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { ChannelListeners, type Listener } from '../listeners.js';
import type { StoreLogger, Unsubscribe } from '../types.js';

/** How often a process with subscribers looks for other processes' events: the delay a revocation may take to reach a socket. */
export const EVENT_POLL_INTERVAL_MS = 150;
/** Rows are only needed until every live poller has read them, which takes one poll interval; a minute is ample. */
export const EVENT_RETENTION_MS = 60_000;
/** Caps one poll's work after a long stall (a suspended laptop); the rest is read on the next tick. */
const EVENT_POLL_BATCH = 1_000;

interface EventRow {
  id: number;
  origin: string;
  channel: string;
  message: string;
}

export class SqliteEventBus {
  /** Tells this connection's rows apart from other processes' (and other stores' in this process): those it delivered itself. */
  readonly #origin = randomUUID();
  readonly #logger: StoreLogger;
  readonly #listeners: ChannelListeners;
  readonly #insert: Statement<[string, string, string, number]>;
  readonly #newerThan: Statement<[number, number], EventRow>;
  readonly #lastId: Statement<[], { id: number | null }>;
  readonly #prune: Statement<[number]>;
  #cursor = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(db: Database, logger: StoreLogger) {
    this.#logger = logger;
    this.#listeners = new ChannelListeners(logger);
    this.#insert = db.prepare('INSERT INTO events (origin, channel, message, created_at) VALUES (?, ?, ?, ?)');
    // Own rows are read too (and skipped): filtering them in SQL would leave the cursor behind them, rescanning them every tick.
    this.#newerThan = db.prepare<[number, number], EventRow>(
      'SELECT id, origin, channel, message FROM events WHERE id > ? ORDER BY id LIMIT ?',
    );
    this.#lastId = db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM events');
    this.#prune = db.prepare('DELETE FROM events WHERE created_at < ?');
  }

  publish(channel: string, message: string): void {
    this.#insert.run(this.#origin, channel, message, Date.now());
    this.#deliver(channel, message);
  }

  subscribe(channel: string, listener: Listener): Unsubscribe {
    if (this.#timer === undefined) this.#startPolling();
    const remove = this.#listeners.add(channel, listener);
    return async () => {
      if (remove() && this.#listeners.size === 0) this.#stopPolling();
    };
  }

  pruneOlderThan(cutoff: number): void {
    this.#prune.run(cutoff);
  }

  close(): void {
    this.#listeners.clear();
    this.#stopPolling();
  }

  #startPolling(): void {
    // Only events published from now on: the cursor is placed before subscribe() returns, so none published after it is missed.
    this.#cursor = this.#lastId.get()?.id ?? 0;
    // unref: waiting for events must not keep a CLI command (or a test run) alive.
    this.#timer = setInterval(() => this.#poll(), EVENT_POLL_INTERVAL_MS).unref();
  }

  #stopPolling(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #poll(): void {
    let rows: EventRow[];
    try {
      rows = this.#newerThan.all(this.#cursor, EVENT_POLL_BATCH);
    } catch (error) {
      this.#logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'polling the events table failed');
      return;
    }
    for (const row of rows) {
      this.#cursor = row.id;
      if (row.origin !== this.#origin) this.#deliver(row.channel, row.message);
    }
  }

  #deliver(channel: string, message: string): void {
    this.#listeners.deliver(channel, message);
  }
}
