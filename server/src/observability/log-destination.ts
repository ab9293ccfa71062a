/** Where log lines go: standard output, written in batches so that a reply never waits for its log line. */
import { pino, type DestinationStream } from 'pino';

/** How long a line may wait for others to share its write(2): short enough to read as "at once" in any log viewer. */
export const LOG_FLUSH_INTERVAL_MS = 10;
/** Past this much waiting text the batch is written at once (a burst of lines never holds much memory). */
const MAX_PENDING_CHARS = 64 * 1024;

/**
 * Collects log lines and writes them together, at most `intervalMs` after the first of a batch (or as soon as 64 KiB wait).
 * A step's audit line and the "login flow finished" line used to be one synchronous write(2) each on the event loop before the
 * reply; then one write per event-loop turn after the replies. Under load a turn holds about one request's lines, and each
 * write (to a pipe whose reader must be woken) cost 100-250 us of the event loop while argon2 had both cores, so lines now
 * share a write across turns. No thread hop (pino's asynchronous destination hands every write to libuv's pool, where argon2
 * runs). What is pending when the process exits (even through `process.exit`) is written on the way out; a process killed
 * with SIGKILL loses at most the last `intervalMs` of lines.
 */
export class BatchedDestination implements DestinationStream {
  private pending: string[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushNow = (): void => {
    this.flush();
  };

  constructor(
    private readonly target: { write(text: string): unknown },
    private readonly intervalMs = LOG_FLUSH_INTERVAL_MS,
  ) {
    process.once('exit', this.flushNow);
  }

  write(line: string): void {
    this.pending.push(line);
    this.pendingChars += line.length;
    if (this.pendingChars >= MAX_PENDING_CHARS) {
      this.flush();
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(this.flushNow, this.intervalMs);
    // A line waiting to be written is no reason to stay alive: the exit hook writes it.
    this.timer.unref();
  }

  /** Writes what is pending now; pino's `logger.flush(callback)` calls this, and the callback once it is written. */
  flush(callback?: (error?: Error) => void): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length > 0) {
      const text = this.pending.length === 1 ? (this.pending[0] ?? '') : this.pending.join('');
      this.pending = [];
      this.pendingChars = 0;
      this.target.write(text);
    }
    callback?.();
  }
}

/** Standard output, synchronous underneath (pino's SonicBoom: retries a full pipe, stops quietly on a closed one), batched. */
export function logDestination(): DestinationStream {
  return new BatchedDestination(pino.destination({ dest: 1, sync: true }));
}
