/** A private redis-server that a test can freeze with SIGSTOP (a hung store: still connected, never answering) and thaw again. */
import { startRedisServer, type RunningRedis } from './redis-server.js';
import { redisCommand } from './redis-sentinel.js';

export interface PausableRedis extends RunningRedis {
  /** SIGSTOP: connections stay open, commands are accepted by the kernel and never answered, as in a network partition. */
  pause(): void;
  /** SIGCONT; harmless when not paused. */
  resume(): void;
}

export async function startPausableRedis(): Promise<PausableRedis> {
  const redis = await startRedisServer();
  // The redis-server process itself (the helper runs it under a small shell supervisor, which must keep running).
  const info = String(await redisCommand(redis.port, ['INFO', 'server']));
  const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no process_id in INFO server: ${info.slice(0, 200)}`);
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(pid, name);
    } catch {
      // Already gone.
    }
  };
  return {
    url: redis.url,
    port: redis.port,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    async stop() {
      // A stopped process would not act on the SIGTERM that stop() sends until it is continued.
      signal('SIGCONT');
      await redis.stop();
    },
  };
}

/**
 * A suite's own pausable Redis: started before its tests, thawed after each test (so a failed assertion cannot leave it frozen
 * for the next one) and stopped after the suite.
 */
export function usePausableRedis(): () => PausableRedis {
  let redis: PausableRedis | undefined;
  before(async function () {
    redis = await startPausableRedis();
  });
  afterEach(function () {
    redis?.resume();
  });
  after(async function () {
    await redis?.stop();
  });
  return () => {
    if (redis === undefined) throw new Error('the suite Redis is not started');
    return redis;
  };
}

/** Milliseconds `promise` took to settle, and how (never rejects). */
export async function timed<T>(promise: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    const value = await promise;
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}
