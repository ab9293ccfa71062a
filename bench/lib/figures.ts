/** The measurements themselves: each returns raw samples or rates; main.ts puts them beside their baselines. */
import { availableParallelism } from 'node:os';
import * as argon2 from 'argon2';
import { openRedisStore } from '../../server/src/store/redis/redis-store.js';
import { holdSockets, REFUSING_CONFIG, rssBytes, startBareServer, startFlowgate, type ServerProcess } from './processes.js';
import { Samples, sleep, timeSequential } from './stats.js';
import { BenchClient, type Reply } from './ws-client.js';

export const CLIENT_ID = 'https://bench.flowgate.example/';
export const BENCH_USER = { username: 'bench', password: 'correct horse battery staple' };
const INSECURE = ['insecure_example', null];
const WRONG = { username: 'alice', password: 'not-wonderland' };
const PASSWORD = ['password', null];
const WRONG_PASSWORD = { username: BENCH_USER.username, password: 'not the staple' };

const silent = { info: () => undefined, warn: () => undefined };

async function insecureFlow(client: BenchClient): Promise<string> {
  const form = await client.result<{ flow_id: string }>({ type: 'login_flow/init', handler: INSECURE, client_id: CLIENT_ID });
  return form.flow_id;
}

/** A step that hashes nothing: a wrong password on an insecure_example form (load the flow, compare, compare-and-set it back). */
function insecureStep(client: BenchClient, flowId: string): Promise<Reply> {
  return client.result({ type: 'login_flow/step', flow_id: flowId, client_id: CLIENT_ID, user_input: WRONG });
}

function flowGet(client: BenchClient, flowId: string): Promise<Reply> {
  return client.result({ type: 'login_flow/get', flow_id: flowId, client_id: CLIENT_ID });
}

export interface IdleLatencies {
  readonly bareEcho: Samples;
  readonly ping: Samples;
  readonly redisGet: Samples;
  readonly redisCas: Samples;
  readonly flowGet: Samples;
  readonly insecureStep: Samples;
  /** The login limits' reservation of one attempt (address and account counters, one script each, sent together). */
  readonly reserve: Samples;
  /** An insecure_example step on the server whose limits count (COUNTING_CONFIG): its floor adds the reservation. */
  readonly countedStep: Samples;
  /** The same get and step on the plain-JS reference server (plain-server.ts): the floor as reachable from JavaScript. */
  readonly plainGet: Samples;
  readonly plainStep: Samples;
}

/** The servers the idle figures talk to: Flowgate as the bench configures it, with its limits counting, and the reference. */
export interface IdleServers {
  readonly flowgate: ServerProcess;
  readonly counting: ServerProcess;
  readonly plain: { readonly url: string };
}

/** The counters a step of the counting server reserves, under keys of their own, with limits the bench never reaches. */
const FLOOR_COUNTERS = {
  address: { key: 'bench-floor-address', limit: 1_000_000_000, windowMs: 600_000 },
  account: { key: 'bench-floor-account', limit: 1_000_000_000, windowMs: 3_600_000 },
  device: null,
};

/**
 * The floor and the non-hashing steps on an idle machine, interleaved in rounds so that drift in the machine's load (other
 * processes) hits every figure alike and their ratios stay fair.
 */
export async function idleLatencies(servers: IdleServers, redisUrl: string, rounds: number, batch: number): Promise<IdleLatencies> {
  const bare = await startBareServer();
  const bareClient = await BenchClient.open(bare.url);
  const client = await BenchClient.open(servers.flowgate.url);
  const countingClient = await BenchClient.open(servers.counting.url);
  const plainClient = await BenchClient.open(servers.plain.url);
  // The same client, options and Lua the flow engine uses, from this process: the Redis part of the floor.
  const store = await openRedisStore({ url: redisUrl, description: 'bench', logger: silent, keyPrefix: 'bench-floor' });
  try {
    const flowId = await insecureFlow(client);
    const countedFlowId = await insecureFlow(countingClient);
    const plainFlowId = await insecureFlow(plainClient);
    const floorFlow = await store.createFlow('floor', { step: 0 }, Date.now() + 3_600_000);
    let version = floorFlow.version;
    const result: IdleLatencies = {
      bareEcho: new Samples(),
      ping: new Samples(),
      redisGet: new Samples(),
      redisCas: new Samples(),
      flowGet: new Samples(),
      insecureStep: new Samples(),
      reserve: new Samples(),
      countedStep: new Samples(),
      plainGet: new Samples(),
      plainStep: new Samples(),
    };
    const cas = async (): Promise<void> => {
      if ((await store.replaceFlow('floor', version, { step: version }, floorFlow.expiresAt)) !== 'ok') throw new Error('CAS failed');
      version += 1;
    };
    for (let round = -1; round < rounds; round++) {
      // Round -1 warms up the JIT, the connections and the script cache; it is not recorded.
      const keep = round >= 0;
      const time = (call: () => Promise<unknown>, into: Samples): Promise<Samples> =>
        timeSequential(batch, call, keep ? into : new Samples());
      await time(() => bareClient.request({ type: 'echo' }), result.bareEcho);
      await time(() => client.request({ type: 'ping' }), result.ping);
      // The flow engine's own read (one HMGET), the single round trip a get adds to a `ping`.
      await time(() => store.getFlow(floorFlow.id), result.redisGet);
      await time(cas, result.redisCas);
      await time(() => flowGet(client, flowId), result.flowGet);
      await time(() => insecureStep(client, flowId), result.insecureStep);
      await time(() => store.loginDefense.reserveAttempt(null, FLOOR_COUNTERS), result.reserve);
      await time(() => insecureStep(countingClient, countedFlowId), result.countedStep);
      await time(() => flowGet(plainClient, plainFlowId), result.plainGet);
      await time(() => insecureStep(plainClient, plainFlowId), result.plainStep);
    }
    return result;
  } finally {
    bareClient.close();
    client.close();
    countingClient.close();
    plainClient.close();
    await store.close();
    await bare.stop();
  }
}

async function passwordFlow(client: BenchClient): Promise<string> {
  const form = await client.result<{ flow_id: string }>({ type: 'login_flow/init', handler: PASSWORD, client_id: CLIENT_ID });
  return form.flow_id;
}

/** A password step that fails: the same command whether the server verifies it (one argon2id verify) or refuses it unverified. */
function wrongPasswordStep(client: BenchClient, flowId: string): Promise<Reply> {
  return client.request({ type: 'login_flow/step', flow_id: flowId, client_id: CLIENT_ID, user_input: WRONG_PASSWORD });
}

/** The form error of a step that verified and failed, or the error code of one that was refused. */
function stepAnswer(reply: Reply): string {
  const result = reply['result'] as { errors?: { base?: string } | null } | undefined;
  const error = reply['error'] as { code?: string } | undefined;
  return result?.errors?.base ?? error?.code ?? JSON.stringify(reply);
}

/** A step timed and its answer checked: a figure of the wrong answers would measure something else. */
async function expectAnswer(client: BenchClient, flowId: string, answer: string): Promise<void> {
  const got = stepAnswer(await wrongPasswordStep(client, flowId));
  if (got !== answer) throw new Error(`password step answered ${got}, not ${answer}`);
}

export interface RefusedAttempts {
  /** Password steps answered `rate_limited` (the address is over its limit): refused before the provider verifies anything. */
  readonly refused: Samples;
  /** The same wrong-password step on a server without limits: one argon2id verify at OWASP's parameters. */
  readonly verify: Samples;
}

/**
 * A password step refused by the per-address limit against one that verifies, interleaved in rounds like the idle figures.
 * The refusing server (REFUSING_CONFIG) shares the store; this address (loopback, like every bench client) fails one step
 * there, on a flow started before that failure since afterwards `login_flow/init` is refused too. The verifying steps go to
 * `server`, whose limits are off and count nothing, so they leave the refusing counter as it is.
 */
export async function refusedAttempts(server: ServerProcess, redisUrl: string, rounds: number, verifies: number, batch: number): Promise<RefusedAttempts> {
  const refusing = await startFlowgate(redisUrl, undefined, REFUSING_CONFIG);
  const refusingClient = await BenchClient.open(refusing.url);
  const client = await BenchClient.open(server.url);
  try {
    const refusedFlow = await passwordFlow(refusingClient);
    await expectAnswer(refusingClient, refusedFlow, 'invalid_auth');
    const verifyFlow = await passwordFlow(client);
    const result: RefusedAttempts = { refused: new Samples(), verify: new Samples() };
    for (let round = -1; round < rounds; round++) {
      // Round -1 warms up (JIT, connections, the verify gate's pool); it is not recorded.
      const keep = round >= 0;
      await timeSequential(batch, () => expectAnswer(refusingClient, refusedFlow, 'rate_limited'), keep ? result.refused : new Samples());
      await timeSequential(verifies, () => expectAnswer(client, verifyFlow, 'invalid_auth'), keep ? result.verify : new Samples());
    }
    return result;
  } finally {
    refusingClient.close();
    client.close();
    await refusing.stop();
  }
}

const OWASP = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export interface Rate {
  count: number;
  ms: number;
}

/** argon2id verifies at OWASP's parameters in this process for `durationMs`, with enough in flight to fill every core. */
async function rawArgon2(hash: string, durationMs: number, into: Rate): Promise<void> {
  const inFlight = availableParallelism() * 2;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < started + durationMs) {
        await argon2.verify(hash, BENCH_USER.password);
        into.count += 1;
      }
    }),
  );
  into.ms += Date.now() - started;
}

export interface PasswordThroughput {
  readonly logins: Rate;
  readonly raw: Rate;
  /** Steps answered `unavailable` (the verify gate shedding load), and anything else that was not a login. */
  readonly shed: number;
  readonly failed: number;
  /** Non-password steps (get and insecure step, paced) measured while the logins ran. */
  readonly probe: Samples;
  /** The same paced probe with no logins running: its baseline (a paced request pays for waking an idle CPU). */
  readonly idleProbe: Samples;
}

/**
 * Password logins by `clients` sockets back to back against raw verifies in this process, alternating in windows of
 * `windowMs` (the first pair only warms up): other load on the machine comes and goes within seconds, and alternating
 * spreads it over both sides of the ratio. Every other login window runs a paced probe of non-password steps instead of
 * being counted, so that the probe's own work does not come off the logins.
 */
export async function passwordThroughput(
  server: ServerProcess,
  clients: number,
  windows: number,
  windowMs: number,
  /** Run the paced probe too (every other login window, uncounted); without it, only counted and raw windows alternate. */
  probe = true,
): Promise<PasswordThroughput> {
  const hash = await argon2.hash(BENCH_USER.password, OWASP);
  const sockets = await Promise.all(Array.from({ length: clients }, () => BenchClient.open(server.url)));
  const probeClient = await BenchClient.open(server.url);
  const probeFlow = await insecureFlow(probeClient);
  const result = { logins: { count: 0, ms: 0 }, raw: { count: 0, ms: 0 }, shed: 0, failed: 0, probe: new Samples(), idleProbe: new Samples() };
  let stopAt = 0;
  const loop = async (client: BenchClient, count: boolean): Promise<void> => {
    while (Date.now() < stopAt) {
      const form = await client.result<{ flow_id: string }>({ type: 'login_flow/init', handler: PASSWORD, client_id: CLIENT_ID });
      const reply = await client.request({ type: 'login_flow/step', flow_id: form.flow_id, client_id: CLIENT_ID, user_input: BENCH_USER });
      if (!count) continue;
      if ((reply['result'] as { type?: string } | undefined)?.type === 'create_entry') result.logins.count += 1;
      else if ((reply['error'] as { code?: string } | undefined)?.code === 'unavailable') result.shed += 1;
      else result.failed += 1;
    }
  };
  const probeLoop = async (into: Samples): Promise<void> => {
    for (let i = 0; Date.now() < stopAt; i++) {
      const started = process.hrtime.bigint();
      await (i % 2 === 0 ? flowGet(probeClient, probeFlow) : insecureStep(probeClient, probeFlow));
      into.add(Number(process.hrtime.bigint() - started) / 1000);
      // Paced like other users' steps arriving, not a tight loop that would itself compete with the hashing.
      await sleep(5);
    }
  };
  try {
    if (probe) {
      stopAt = Date.now() + windowMs;
      await probeLoop(result.idleProbe);
    }
    for (let window = 0; window <= (probe ? 2 * windows : windows); window++) {
      const probing = probe && window % 2 === 1;
      // Window 0 warms up; then probe and counted windows take turns.
      const countLogins = window > 0 && !probing;
      if (!probing) await rawArgon2(hash, windowMs, countLogins ? result.raw : { count: 0, ms: 0 });
      const started = Date.now();
      stopAt = started + windowMs;
      // Until the last login in flight is answered: the queue keeps both cores hashing until then.
      await Promise.all([...sockets.map((socket) => loop(socket, countLogins)), ...(probing ? [probeLoop(result.probe)] : [])]);
      if (countLogins) result.logins.ms += Date.now() - started;
    }
  } finally {
    for (const socket of [...sockets, probeClient]) socket.close();
  }
  return result;
}

export interface SocketMemory {
  readonly sockets: number;
  readonly flowgateBytes: number;
  readonly bareBytes: number;
}

/** RSS growth of a server process per socket held, after a warm-up batch has been opened and closed once. */
async function perSocket(pid: number, url: string, count: number, perProcess: number, token: string | null): Promise<[number, number]> {
  const warm = await holdSockets(url, Math.min(200, count), perProcess, token);
  await warm.release();
  await sleep(500);
  const before = rssBytes(pid);
  const held = await holdSockets(url, count, perProcess, token);
  await sleep(1_000);
  const after = rssBytes(pid);
  await held.release();
  return [(after - before) / held.opened, held.opened];
}

export interface TokenResponse {
  readonly access_token: string;
  readonly refresh_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
}

/** Tokens of one login through `insecure_example` (no argon2 in the way), as `auth/token` answers them. */
export async function insecureTokens(url: string): Promise<TokenResponse> {
  const client = await BenchClient.open(url);
  try {
    const flowId = await insecureFlow(client);
    const entry = await client.result<{ result: string }>({
      type: 'login_flow/step',
      flow_id: flowId,
      client_id: CLIENT_ID,
      user_input: { username: 'alice', password: 'wonderland' },
    });
    return await client.result<TokenResponse>({ type: 'auth/token', grant_type: 'authorization_code', code: entry.result, client_id: CLIENT_ID });
  } finally {
    client.close();
  }
}

/** Memory per idle authenticated Flowgate socket against a bare ws server holding as many. */
export async function socketMemory(redisUrl: string, count: number, perProcess: number): Promise<SocketMemory> {
  const server = await startFlowgate(redisUrl);
  const bare = await startBareServer();
  try {
    const tokens = await insecureTokens(server.url);
    const [flowgateBytes, sockets] = await perSocket(server.pid, server.url, count, perProcess, tokens.access_token);
    const [bareBytes] = await perSocket(bare.pid, bare.url, count, perProcess, null);
    return { sockets, flowgateBytes, bareBytes };
  } finally {
    await Promise.all([server.stop(), bare.stop()]);
  }
}

export interface CrossInstance {
  readonly same: Samples;
  readonly other: Samples;
  /** Steps of one flow sent to A and B in turn, one each: neither instance knows the version the other just wrote. */
  readonly hopping: Samples;
}

/**
 * Two flows, one started on each instance, each stepped alternately through the instance that started it and the other one.
 * Both instances serve as many same- as other-instance steps, so a difference in their warmth (JIT) or load cancels out. Each
 * batch's first step finds that the other instance moved the flow on; the rest start from the version their instance wrote.
 * Then one flow is stepped on A and B in turn, so that every step finds the other instance's write.
 */
export async function crossInstance(a: ServerProcess, b: ServerProcess, rounds: number, batch: number): Promise<CrossInstance> {
  const onA = await BenchClient.open(a.url);
  const onB = await BenchClient.open(b.url);
  try {
    const startedOnA = await insecureFlow(onA);
    const startedOnB = await insecureFlow(onB);
    const same = new Samples();
    const other = new Samples();
    const hopping = new Samples();
    let turn = 0;
    const hop = (): Promise<Reply> => ((turn++ & 1) === 0 ? insecureStep(onA, startedOnA) : insecureStep(onB, startedOnA));
    for (let round = -1; round < rounds; round++) {
      const keep = round >= 0;
      await timeSequential(batch / 2, () => insecureStep(onA, startedOnA), keep ? same : new Samples());
      await timeSequential(batch / 2, () => insecureStep(onB, startedOnA), keep ? other : new Samples());
      await timeSequential(batch / 2, () => insecureStep(onB, startedOnB), keep ? same : new Samples());
      await timeSequential(batch / 2, () => insecureStep(onA, startedOnB), keep ? other : new Samples());
      await timeSequential(batch / 2, hop, keep ? hopping : new Samples());
    }
    return { same, other, hopping };
  } finally {
    onA.close();
    onB.close();
  }
}
