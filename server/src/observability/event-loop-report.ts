/** A debugging aid for benchmarks: `FLOWGATE_EVENT_LOOP_REPORT=<ms>` logs the event loop's worst delay of every interval. */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';

/** The histogram's sampling step: a delay shorter than this is not seen, and 1 ms is below anything worth reporting. */
const RESOLUTION_MS = 1;

/** Stops the report (a no-op when none was asked for). */
export type StopReport = () => void;

/**
 * When `FLOWGATE_EVENT_LOOP_REPORT` holds a positive number of milliseconds, logs `event loop delay` with the maximum and p99
 * of that interval (then starts the next interval afresh), so a benchmark can read a server's peak delay during a burst
 * (the reconnect storm in bench/). Off by default: it is one log line per interval for nobody's dashboard; the `/metrics`
 * endpoint has prom-client's own event-loop lag gauges for operators.
 */
export function startEventLoopReport(env: NodeJS.ProcessEnv, logger: Pick<Logger, 'info'>): StopReport {
  const intervalMs = Number(env['FLOWGATE_EVENT_LOOP_REPORT'] ?? '');
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) return () => undefined;
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  const timer = setInterval(() => {
    logger.info({ maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6, samples: histogram.count }, 'event loop delay');
    histogram.reset();
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    histogram.disable();
  };
}
