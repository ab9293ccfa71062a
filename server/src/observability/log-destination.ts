/** Where log lines go: standard output, written once per event-loop turn so that a reply never waits for its log line. */
import { pino, type DestinationStream } from 'pino';

/**
 * Collects the lines of one event-loop turn and writes them together at its end (`setImmediate`: after the turn's replies have
 * gone out, before the next I/O is read). A step's audit line and the "login flow finished" line used to be one synchronous
 * write(2) each on the event loop before the reply; now a busy turn's lines share one write after it, with no thread hop
 * (pino's asynchronous destination hands every write to libuv's pool, where argon2 runs). Lines are late by one turn at most;
 * what is pending when the process exits (even through `process.exit`) is written on the way out.
 */
export class TurnBatchedDestination implements DestinationStream {
  private pending: string[] = [];
  private scheduled = false;
  private readonly flushSoon = (): void => this.flush();

  constructor(private readonly target: { write(text: string): unknown }) {
    process.once('exit', this.flushSoon);
  }

  write(line: string): void {
    this.pending.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushSoon);
  }

  /** Writes what is pending now (pino's `logger.flush()` calls this too). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? (this.pending[0] ?? '') : this.pending.join('');
    this.pending = [];
    this.target.write(text);
  }
}

/** Standard output, synchronous underneath (pino's SonicBoom: retries a full pipe, stops quietly on a closed one), batched per turn. */
export function logDestination(): DestinationStream {
  return new TurnBatchedDestination(pino.destination({ dest: 1, sync: true }));
}
