/** Property test: ten thousand generated hostile frames against a real `flowgate serve` on Redis; it stays up and answers typed. */
import { expect } from 'chai';
import fc from 'fast-check';
import { setTimeout as delay } from 'node:timers/promises';
import { fuzzFrame, type FuzzFrame, type PlaceholderValues } from '../helpers/frame-arbitraries.js';
import { FuzzSocket, Report, WINDOW } from '../helpers/fuzz-socket.js';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/** Change with FLOWGATE_FUZZ_SEED to explore; a failure prints the seed that reproduces it. */
const DEFAULT_SEED = 20_240_909;
const SEED = Number(process.env['FLOWGATE_FUZZ_SEED'] ?? DEFAULT_SEED);
/** The issue asks for at least 10,000 frames per run. */
const FRAME_COUNT = Number(process.env['FLOWGATE_FUZZ_FRAMES'] ?? 10_000);
/** Sockets fuzzed at once: four that stay unauthenticated (unless a generated `auth` succeeds) and two that log in first. */
const PHASE_ONE_LANES = 4;
const AUTHENTICATED_LANES = 2;
/** A socket whose last id is this high is replaced, or every later command would only get id_reuse. */
const RECYCLE_ID = 2 ** 40;

const EXAMPLE_HANDLER = ['insecure_example', null];
/** One phase-1 socket steps through a password flow, so that its steps go through the login limits and the password provider. */
const PASSWORD_HANDLER = ['password', null];
const ALICE = { username: 'alice', password: 'wonderland' };
const ALICE_NAME = 'Alice Liddell';
/** One user per socket that logs in, so that their token churn (revocations, long-lived tokens) never touches alice's. */
const FUZZ_USERS = Array.from({ length: AUTHENTICATED_LANES + 1 }, (_, i) => ({ username: `fuzzer${i}`, password: `secret${i}` }));

/** What a socket's frames use of a login: its tokens (a flow and a code are the socket's own). */
type Tokens = Omit<PlaceholderValues, 'flowId' | 'code'>;

/** Runs a login flow to its code on `socket`. */
async function loginCode(socket: FuzzSocket, user: { username: string; password: string }): Promise<string> {
  const form = await socket.request({ type: 'login_flow/init', handler: EXAMPLE_HANDLER, client_id: TEST_CLIENT_ID });
  const done = await socket.request({ type: 'login_flow/step', flow_id: form.flow_id, client_id: TEST_CLIENT_ID, user_input: user });
  if (done.type !== 'create_entry') throw new Error(`login of ${user.username} did not finish: ${JSON.stringify(done)}`);
  return String(done.result);
}

/** Logs `user` in on `socket` and authenticates it; returns the tokens and the refresh token's id. */
async function authenticate(socket: FuzzSocket, user: { username: string; password: string }): Promise<Tokens> {
  const code = await loginCode(socket, user);
  const tokens = await socket.request({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID });
  await socket.request({ type: 'auth', access_token: tokens.access_token });
  const sessions = (await socket.request({ type: 'auth/refresh_tokens' })) as Array<{ id: string; is_current: boolean }>;
  const current = sessions.find((s) => s.is_current);
  if (current === undefined) throw new Error(`${user.username}: no current session in ${JSON.stringify(sessions)}`);
  // A server that issues no device tokens still gets a well-formed one, which it must refuse cleanly.
  const deviceToken = typeof tokens.device_token === 'string' ? tokens.device_token : 'f'.repeat(64);
  return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, refreshTokenId: current.id, deviceToken };
}

/** A socket ready for fuzzing: a live flow and an unused code of its own, and tokens (its own when it logs in). */
async function openLane(server: ServerProcess, lane: LaneSpec, report: Report, shared: Tokens): Promise<FuzzSocket> {
  const socket = await FuzzSocket.open(server.url, lane.name, report);
  const tokens = lane.user === undefined ? shared : await authenticate(socket, lane.user);
  const form = await socket.request({ type: 'login_flow/init', handler: lane.handler, client_id: TEST_CLIENT_ID });
  socket.values = { ...tokens, flowId: String(form.flow_id), code: await loginCode(socket, ALICE) };
  return socket;
}

/** Sends `frames` in order on one lane, pipelined, reconnecting whenever the server (rightly) closed the socket. */
interface LaneSpec {
  readonly name: string;
  /** The handler of the flow its frames step through. */
  readonly handler: readonly unknown[];
  /** Logs in as this user first (an authenticated socket). */
  readonly user?: { username: string; password: string };
}

async function runLane(server: ServerProcess, lane: LaneSpec, frames: readonly FuzzFrame[], report: Report, shared: Tokens): Promise<void> {
  let socket = await openLane(server, lane, report, shared);
  for (const frame of frames) {
    if (report.stopped) break;
    if (socket.closed || socket.lastId > RECYCLE_ID) {
      await socket.waitForRoom(WINDOW);
      socket.close();
      socket = await openLane(server, lane, report, shared);
    }
    report.count(report.framesByKind, frame.kind);
    report.framesSent += 1;
    const owed = socket.send(frame);
    if (owed === 'close') await socket.waitForClose(frame.kind);
    else await socket.waitForRoom(0);
  }
  await socket.waitForRoom(WINDOW);
  socket.close();
}

/** The shared test Redis, on a database of this run's own: its counters and tokens meet no other suite's. */
function isolatedRedisUrl(): string {
  // Another store (sqlite:/path/x.db, a Redis Cluster) can be fuzzed the same way.
  const override = process.env['FLOWGATE_FUZZ_STORE'];
  if (override !== undefined && override !== '') return override;
  const url = process.env['FLOWGATE_TEST_REDIS_URL'];
  if (url === undefined || url === '') throw new Error('FLOWGATE_TEST_REDIS_URL is not set: the mocha global fixture starts redis');
  const parsed = new URL(url);
  if (!/^rediss?:$/.test(parsed.protocol) || !['', '/'].includes(parsed.pathname)) return url;
  parsed.pathname = `/${1 + Math.floor(Math.random() * 15)}`;
  return parsed.toString();
}

describe('Fuzzing (generated frames against a real server process)', function () {
  let server: ServerProcess | undefined;

  before(async function () {
    server = await startServerProcess({
      store: isolatedRedisUrl(),
      env: { FLOWGATE_LOG_LEVEL: 'info' },
      config: {
        auth_providers: [{ type: 'insecure_example', users: [{ ...ALICE, name: ALICE_NAME }, ...FUZZ_USERS] }, { type: 'password' }],
        // The limits must not end the fuzzing early: they are tested on their own. Large numbers rather than 0 ("no limit"),
        // which says the same whichever way a limit reads it.
        websocket: { max_flow_starts_per_minute: 0, max_unauthenticated_sockets_per_address: 100_000 },
        login_limits: { address_failures: 1_000_000, account_failures: 1_000_000, device_failures: 1_000_000, open_flows_per_address: 1_000_000 },
      },
    });
  });

  after(async function () {
    await server?.stop();
  });

  it(`stays up, answers each of ${FRAME_COUNT} generated frames typed or closes with a documented code, then logs a user in`, async function () {
    this.timeout(90_000);
    const running = server!;
    const report = new Report();
    let exitCode: number | string | undefined;
    void running.exited.then((code) => (exitCode = code ?? running.child.signalCode ?? 'unknown'));
    const frames = fc.sample(fuzzFrame, { seed: SEED, numRuns: FRAME_COUNT });
    const seedNote = `seed ${SEED} (rerun: FLOWGATE_FUZZ_SEED=${SEED} FLOWGATE_FUZZ_FRAMES=${FRAME_COUNT})`;

    const setup = await FuzzSocket.open(running.url, 'setup', report);
    const shared = await authenticate(setup, FUZZ_USERS[0]!);
    setup.close();
    const lanes = PHASE_ONE_LANES + AUTHENTICATED_LANES;
    const started = Date.now();
    // A lane that cannot go on (the server is gone, a setup command failed) is reported after the checks that explain why.
    const laneErrors: string[] = [];
    await Promise.all(
      Array.from({ length: lanes }, (_, lane) => {
        const own = frames.filter((_, index) => index % lanes === lane);
        const user = lane < PHASE_ONE_LANES ? undefined : FUZZ_USERS[lane - PHASE_ONE_LANES + 1];
        const name = `${user === undefined ? 'phase-1' : 'authenticated'} socket ${lane}`;
        const handler = lane === 0 ? PASSWORD_HANDLER : EXAMPLE_HANDLER;
        const spec = user === undefined ? { name, handler } : { name, handler, user };
        return runLane(running, spec, own, report, shared).catch((error: unknown) => laneErrors.push(String(error)));
      }),
    );
    const summary = { seconds: (Date.now() - started) / 1000, frames: report.framesSent, kinds: Object.fromEntries(report.framesByKind), replies: Object.fromEntries(report.replies), closes: Object.fromEntries(report.closes) };
    console.log(`      fuzz ${seedNote}: ${JSON.stringify(summary)}`);
    // When sockets broke, give the exit of a crashed server the moment it takes to be seen: it explains everything else.
    if (report.failures.length + laneErrors.length > 0) await Promise.race([running.exited, delay(2_000)]);
    const failures = `${seedNote}\n${JSON.stringify(report.failures, null, 2)}`;

    expect(exitCode, `the server exited during the run; its last log lines: ${JSON.stringify(running.logs.slice(-5))}; ${failures}`).to.equal(undefined);
    expect(report.failures, failures).to.deep.equal([]);
    expect(laneErrors, seedNote).to.deep.equal([]);
    expect(report.framesSent).to.equal(FRAME_COUNT);
    const internalErrors = running.logs.filter((entry) => Number(entry['level']) >= 50);
    expect(internalErrors, `the server logged errors; ${seedNote}`).to.deep.equal([]);

    const after = await FuzzSocket.open(running.url, 'after', report);
    const tokens = await authenticate(after, ALICE);
    expect(tokens.accessToken).to.be.a('string');
    expect(await after.request({ type: 'auth/current_user' })).to.include({ name: ALICE_NAME });
    after.close();
    expect(report.failures).to.deep.equal([]);
  });
});
