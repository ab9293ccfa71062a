/**
 * `npm run bench [-- --quick] [-- --profile DIR]`: Flowgate against the physical floor, every figure beside a baseline measured
 * in the same run, so that the ratios hold on a noisy machine. Starts its own redis-server and server processes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FIGURES } from './labels.js';
import { BENCH_USER, crossInstance, idleLatencies, passwordThroughput, refusedAttempts, socketMemory } from './lib/figures.js';
import { ensureRedisInstalled, openFileLimit, runFlowgate, startFlowgate, startRedisServer } from './lib/processes.js';
import { pair, renderTable, us, type Row } from './lib/stats.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, profile: { type: 'string' } }, strict: true });
const quick = values.quick === true;
const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });

/** Sizes of each figure: the full run for docs/benchmarks.md, the quick one (under a minute) so the bench cannot rot. */
const SIZE = quick
  ? { rounds: 3, batch: 100, verifies: 5, loginClients: 16, windows: 2, windowMs: 1_500, sockets: 500 }
  : { rounds: 20, batch: 250, verifies: 20, loginClients: 64, windows: 6, windowMs: 2_000, sockets: 10_000 };

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
    const [a, b] = await Promise.all([startFlowgate(redis.url, profileDir), startFlowgate(redis.url, profileDir)]);
    try {
      const added = await runFlowgate(['user', 'add', BENCH_USER.username, '--password-stdin', '--store', redis.url], {}, undefined, `${BENCH_USER.password}\n`);
      if (added.code !== 0) throw new Error(`flowgate user add failed: ${added.stderr.trim()}`);

      log(`idle latencies (${ms(started)})`);
      const idle = await idleLatencies(a, redis.url, SIZE.rounds, SIZE.batch);
      const getFloor = idle.ping.p50 + idle.redisGet.p50;
      const stepFloor = getFloor + idle.redisCas.p50;
      rows.push(
        { figure: FIGURES[0], value: pair(idle.ping), baseline: `bare ws echo ${pair(idle.bareEcho)}`, ratio: idle.ping.p50 / idle.bareEcho.p50 },
        { figure: FIGURES[1], value: pair(idle.redisGet), baseline: 'toolchain.md: p50 40 us / p99 106 us', ratio: idle.redisGet.p50 / 40 },
        { figure: FIGURES[2], value: pair(idle.redisCas), baseline: 'toolchain.md: p50 44 us', ratio: idle.redisCas.p50 / 44 },
        {
          figure: FIGURES[3],
          value: pair(idle.flowGet),
          baseline: `ping + GET p50 ${us(getFloor)}`,
          ratio: idle.flowGet.p50 / getFloor,
          target: 'p50 <= 1.5x, p99 <= 1 ms',
          met: idle.flowGet.p50 <= 1.5 * getFloor && idle.flowGet.p99 <= 1000,
        },
        {
          figure: FIGURES[4],
          value: pair(idle.insecureStep),
          baseline: `ping + GET + CAS p50 ${us(stepFloor)}`,
          ratio: idle.insecureStep.p50 / stepFloor,
          target: 'p50 <= 1.5x, p99 <= 1 ms',
          met: idle.insecureStep.p50 <= 1.5 * stepFloor && idle.insecureStep.p99 <= 1000,
        },
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

      log(`password logins against raw argon2 (${ms(started)})`);
      const password = await passwordThroughput(a, SIZE.loginClients, SIZE.windows, SIZE.windowMs);
      const loginRate = password.logins.count / (password.logins.ms / 1000);
      const rawRate = password.raw.count / (password.raw.ms / 1000);
      rows.push(
        {
          figure: FIGURES[5],
          value: `${loginRate.toFixed(1)}/s (${SIZE.loginClients} clients; shed ${password.shed}, failed ${password.failed})`,
          baseline: `raw argon2id verifies ${rawRate.toFixed(1)}/s`,
          ratio: loginRate / rawRate,
          target: '>= 0.90x',
          met: loginRate >= 0.9 * rawRate,
        },
        {
          figure: FIGURES[6],
          value: `${pair(password.probe)} (n=${password.probe.count})`,
          baseline: `same probe, no logins: ${pair(password.idleProbe)}`,
          ratio: password.probe.p99 / password.idleProbe.p99,
          target: 'p99 <= 2 ms',
          met: password.probe.p99 <= 2000,
        },
      );

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
    } finally {
      await Promise.all([a.stop(), b.stop()]);
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
