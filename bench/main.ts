/**
 * `npm run bench [-- --quick] [-- --profile DIR]`: Flowgate against the physical floor, every figure beside a baseline measured
 * in the same run, so that the ratios hold on a noisy machine. Starts its own redis-server and server processes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FIGURES, TARGETS } from './labels.js';
import { BENCH_USER, crossInstance, idleLatencies, passwordThroughput, refusedAttempts, socketMemory, type PasswordThroughput } from './lib/figures.js';
import { COUNTING_CONFIG, ensureRedisInstalled, gatedConfig, startPlainServer, openFileLimit, runFlowgate, startFlowgate, startRedisServer, type ServerProcess } from './lib/processes.js';
import { reconnectStorm, RESTART_SPREAD_MS } from './lib/storm.js';
import { pair, renderTable, us, type Row } from './lib/stats.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, profile: { type: 'string' } }, strict: true });
const quick = values.quick === true;
const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });

/** Sizes of each figure: the full run for docs/benchmarks.md, the quick one (under a minute) so the bench cannot rot. */
const SIZE = quick
  ? { rounds: 2, batch: 100, verifies: 5, windows: 1, windowMs: 500, sockets: 300, restartSpreadMs: 1_000 }
  : { rounds: 20, batch: 250, verifies: 20, windows: 6, windowMs: 2_000, sockets: 10_000, restartSpreadMs: RESTART_SPREAD_MS };
/** Login load generators: a few clients and many (the gate queues what the cores cannot take at once). */
const LOGIN_CLIENTS = [16, 64] as const;
/** The verify gate that leaves the event loop a core of its own, at which the under-load p99 is measured. */
const GATE_FOR_LOAD = Math.max(1, availableParallelism() - 1);

/** Sockets per holder child: each is a descriptor on the client side too, and several children also connect in parallel. */
const SOCKETS_PER_HOLDER = 4_000;
/** Descriptors the server needs besides its sockets (Redis, logs, node itself). */
const FD_MARGIN = 200;

const ms = (since: bigint): string => `${(Number(process.hrtime.bigint() - since) / 1e9).toFixed(1)} s`;
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

function machine(): string {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? 'unknown CPU';
  const redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1] ?? '?';
  return [
    `machine: ${availableParallelism()} cores, ${model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `software: Node ${process.version}, Redis ${redis}`,
  ].join('\n');
}

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

const loginRate = (p: PasswordThroughput): number => p.logins.count / (p.logins.ms / 1000);
const rawRate = (p: PasswordThroughput): number => p.raw.count / (p.raw.ms / 1000);

/** A password logins/s row: logins against raw verifies of the same windows. */
function loginRow(figure: string, p: PasswordThroughput, clients: number): Row {
  return {
    figure,
    value: `${loginRate(p).toFixed(1)}/s (${clients} clients; shed ${p.shed}, failed ${p.failed})`,
    baseline: `raw argon2id verifies ${rawRate(p).toFixed(1)}/s`,
    ratio: loginRate(p) / rawRate(p),
    target: `>= ${TARGETS.loginsOverRaw.toFixed(2)}x`,
    met: loginRate(p) >= TARGETS.loginsOverRaw * rawRate(p),
  };
}

const withoutTarget = ({ figure, value, baseline, ratio }: Row): Row => ({ figure, value, ...(baseline === undefined ? {} : { baseline }), ...(ratio === undefined ? {} : { ratio }) });

/** Logins/s at 16 and 64 clients on one server (its store the row's name). */
async function loginRows(server: ServerProcess, store: string, figures: readonly string[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [i, clients] of LOGIN_CLIENTS.entries()) {
    const p = await passwordThroughput(server, clients, SIZE.windows, SIZE.windowMs, false);
    rows.push(loginRow(figures[i] ?? `password logins/s, ${store}, ${clients} clients`, p, clients));
  }
  return rows;
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  ensureRedisInstalled();
  const fdLimit = openFileLimit();
  const sockets = Math.min(SIZE.sockets, fdLimit - FD_MARGIN);
  if (sockets < SIZE.sockets) log(`open-file limit ${fdLimit}: holding ${sockets} sockets, not ${SIZE.sockets} (raise ulimit -n)`);
  const perHolder = Math.min(SOCKETS_PER_HOLDER, fdLimit - FD_MARGIN);
  console.log(`${machine()}\nload average at start: ${load()}\nmode: ${quick ? 'quick' : 'full'}\n`);

  const redis = await startRedisServer();
  const rows: Row[] = [];
  try {
    const [a, b, counting] = await Promise.all([
      startFlowgate(redis.url, profileDir),
      startFlowgate(redis.url, profileDir),
      // Database 1 of the same Redis: its counters name the same address (loopback) as the refusing server's, which they must not fill.
      startFlowgate(`${redis.url}/1`, profileDir, COUNTING_CONFIG),
    ]);
    try {
      const added = await runFlowgate(['user', 'add', BENCH_USER.username, '--password-stdin', '--store', redis.url], {}, undefined, `${BENCH_USER.password}\n`);
      if (added.code !== 0) throw new Error(`flowgate user add failed: ${added.stderr.trim()}`);

      log(`idle latencies (${ms(started)})`);
      const plain = await startPlainServer(redis.url);
      const idle = await idleLatencies({ flowgate: a, counting, plain }, redis.url, SIZE.rounds, SIZE.batch).finally(() => plain.stop());
      await counting.stop();
      const getFloor = idle.ping.p50 + idle.redisGet.p50;
      const stepFloor = getFloor + idle.redisCas.p50;
      const countedFloor = stepFloor + idle.reserve.p50;
      rows.push(
        { figure: FIGURES[0], value: pair(idle.ping), baseline: `bare ws echo ${pair(idle.bareEcho)}`, ratio: idle.ping.p50 / idle.bareEcho.p50 },
        { figure: FIGURES[1], value: pair(idle.redisGet), baseline: 'toolchain.md: p50 40 us / p99 106 us', ratio: idle.redisGet.p50 / 40 },
        { figure: FIGURES[2], value: pair(idle.redisCas), baseline: 'toolchain.md: p50 44 us', ratio: idle.redisCas.p50 / 44 },
        {
          figure: FIGURES[3],
          value: pair(idle.flowGet),
          baseline: `ping + GET p50 ${us(getFloor)}`,
          ratio: idle.flowGet.p50 / getFloor,
          target: `p50 <= ${TARGETS.stepOverFloor}x`,
          met: idle.flowGet.p50 <= TARGETS.stepOverFloor * getFloor,
        },
        {
          figure: FIGURES[4],
          value: pair(idle.insecureStep),
          baseline: `ping + GET + CAS p50 ${us(stepFloor)}`,
          ratio: idle.insecureStep.p50 / stepFloor,
          target: `p50 <= ${TARGETS.stepOverFloor}x`,
          met: idle.insecureStep.p50 <= TARGETS.stepOverFloor * stepFloor,
        },
        // As a default deployment runs it: the attempt reserved before the provider runs, a failure settled with no store call.
        {
          figure: FIGURES[16],
          value: pair(idle.countedStep),
          baseline: `ping + GET + reserve (${us(idle.reserve.p50)}) + CAS p50 ${us(countedFloor)}`,
          ratio: idle.countedStep.p50 / countedFloor,
        },
        // What JavaScript can reach on this machine: the same socket and store calls with nothing else (no target of its own).
        { figure: FIGURES[17], value: pair(idle.plainGet), baseline: `ping + GET p50 ${us(getFloor)}`, ratio: idle.plainGet.p50 / getFloor },
        { figure: FIGURES[18], value: pair(idle.plainStep), baseline: `ping + GET + CAS p50 ${us(stepFloor)}`, ratio: idle.plainStep.p50 / stepFloor },
      );

      log(`refused password steps against verifying ones (${ms(started)})`);
      const refused = await refusedAttempts(a, redis.url, SIZE.rounds, SIZE.verifies, SIZE.batch);
      rows.push({
        figure: FIGURES[9],
        value: `${pair(refused.refused)} (n=${refused.refused.count})`,
        baseline: `wrong password, one argon2id verify: ${pair(refused.verify)} (n=${refused.verify.count})`,
        ratio: refused.refused.p50 / refused.verify.p50,
        // No refused attempt took as long as a typical verify: none of them hashed.
        target: 'p99 < verify p50',
        met: refused.refused.p99 < refused.verify.p50,
      });

      log(`password logins against raw argon2, Redis (${ms(started)})`);
      rows.push(...(await loginRows(a, 'Redis', [FIGURES[5], FIGURES[10]])));

      log(`password logins against raw argon2, SQLite (${ms(started)})`);
      const sqliteUrl = `sqlite://${join(mkdtempSync(join(tmpdir(), 'flowgate-bench-sqlite-')), 'flowgate.db')}`;
      const addedThere = await runFlowgate(['user', 'add', BENCH_USER.username, '--password-stdin', '--store', sqliteUrl], {}, undefined, `${BENCH_USER.password}\n`);
      if (addedThere.code !== 0) throw new Error(`flowgate user add (SQLite) failed: ${addedThere.stderr.trim()}`);
      const embedded = await startFlowgate(sqliteUrl, profileDir);
      try {
        rows.push(...(await loginRows(embedded, 'SQLite', [FIGURES[11], FIGURES[12]])));
      } finally {
        await embedded.stop();
      }

      log(`non-password steps under password load, gate of ${GATE_FOR_LOAD} (${ms(started)})`);
      const gated = await startFlowgate(redis.url, profileDir, gatedConfig(GATE_FOR_LOAD));
      try {
        const clients = LOGIN_CLIENTS[LOGIN_CLIENTS.length - 1] ?? 64;
        const loaded = await passwordThroughput(gated, clients, SIZE.windows, SIZE.windowMs);
        rows.push(
          {
            figure: FIGURES[6],
            value: `${pair(loaded.probe)} (n=${loaded.probe.count}; gate ${GATE_FOR_LOAD} of ${availableParallelism()} cores)`,
            baseline: `same probe, no logins: ${pair(loaded.idleProbe)}`,
            ratio: loaded.probe.p99 / loaded.idleProbe.p99,
            target: `p99 <= ${TARGETS.underLoadP99Us / 1000} ms`,
            met: loaded.probe.p99 <= TARGETS.underLoadP99Us,
          },
          // The price of that core: what the gate of cores - 1 gives up in logins/s (no target: it is the trade-off).
          withoutTarget(loginRow(FIGURES[13], loaded, clients)),
        );
      } finally {
        await gated.stop();
      }

      log(`cross-instance steps (${ms(started)})`);
      const cross = await crossInstance(a, b, SIZE.rounds, SIZE.batch);
      rows.push({
        figure: FIGURES[8],
        value: pair(cross.other),
        baseline: `same instance ${pair(cross.same)}`,
        ratio: cross.other.p50 / cross.same.p50,
        target: '<= 1.1x (p50)',
        met: cross.other.p50 <= 1.1 * cross.same.p50,
      });
      rows.push({
        figure: FIGURES[19],
        value: pair(cross.hopping),
        baseline: `same instance ${pair(cross.same)}`,
        ratio: cross.hopping.p50 / cross.same.p50,
      });
    } finally {
      await Promise.all([a.stop(), b.stop(), counting.stop()]);
    }

    log(`memory at ${sockets} sockets (${ms(started)})`);
    const memory = await socketMemory(redis.url, sockets, perHolder);
    const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
    rows.splice(rows.length - 1, 0, {
      figure: FIGURES[7],
      value: `${kib(memory.flowgateBytes)} RSS each (${memory.sockets} sockets)`,
      baseline: `bare ws server ${kib(memory.bareBytes)} each`,
      ratio: memory.flowgateBytes / memory.bareBytes,
      target: '<= 1.25x',
      met: memory.flowgateBytes <= 1.25 * memory.bareBytes,
    });

    log(`reconnect storm of ${sockets} clients (${ms(started)})`);
    const storm = await reconnectStorm(redis.url, sockets, perHolder, SIZE.restartSpreadMs, profileDir);
    const seconds = (value: number): string => `${(value / 1000).toFixed(1)} s`;
    rows.push(
      {
        figure: FIGURES[14],
        value: `${seconds(storm.reauthMs)} after A's SIGTERM (${storm.sockets} clients, spread ${seconds(SIZE.restartSpreadMs)}; ${storm.failedAttempts} attempts retried)`,
        baseline: `${storm.sockets} bare ws connects in the same spread: ${seconds(storm.bareMs)}`,
        ratio: storm.reauthMs / storm.bareMs,
      },
      {
        figure: FIGURES[15],
        value: `${storm.peakDelayMs.toFixed(1)} ms (idle before: ${storm.idleDelayMs.toFixed(1)} ms)`,
        baseline: `bare ws server during its connects: ${storm.barePeakDelayMs.toFixed(1)} ms`,
        ratio: storm.peakDelayMs / storm.barePeakDelayMs,
      },
    );
  } finally {
    await redis.stop();
  }
  console.log(renderTable(rows));
  console.log(`\nload average at end: ${load()}; took ${ms(started)}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
