/** The command_line provider, black-box: real `flowgate serve` processes running real login programs, on one Redis and alone. */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { authenticatedSocket, TEST_CLIENT_ID } from '../helpers/login.js';
import { eventually, startInstances, type Instances } from '../helpers/instances.js';
import {
  DUMP_ENV,
  metaScript,
  processGone,
  readEnvDump,
  readPids,
  scriptFolder,
  sleeperScript,
  writeMeta,
  writeScript,
} from '../helpers/login-scripts.js';
import { RawClient } from '../helpers/raw-client.js';
import { redeem } from '../helpers/scale.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { openServerStore, redisTestUrl } from '../helpers/stores.js';
import type { Store } from '../../server/src/store/types.js';

/**
 * These tests fail logins from 127.0.0.1 on purpose, on a Redis other suites share: the brute-force limits (tested as limits in
 * login-limits.test.ts) would otherwise count every suite's failures together.
 */
const NO_LOGIN_LIMITS = { address_failures: 0, account_failures: 0, open_flows_per_address: 0 };

async function attempt(client: RawClient, handler: [string, string | null], user: { username: string; password: string }) {
  const form = await client.result({ type: 'login_flow/init', handler, client_id: TEST_CLIENT_ID });
  return client.command({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: user });
}

const ALICE = { username: 'alice', password: 'wonderland' };

describe('command_line provider: two instances on one Redis', function () {
  this.timeout(30_000);
  const handler: [string, null] = ['command_line', null];
  let dir: string;
  let instances: Instances;
  let store: Store;

  before(async function () {
    dir = scriptFolder();
    instances = await startInstances(2, redisTestUrl(), {
      config: { auth_providers: [{ type: 'command_line', command: metaScript(dir), meta: true }], login_limits: NO_LOGIN_LIMITS },
    });
    store = await openServerStore('redis', dir);
  });
  after(async function () {
    const credential = await store?.findCredential('command_line', null, 'alice');
    if (credential?.userId) await store.removeUser(credential.userId);
    await store?.close();
    await instances?.stop();
  });

  /** Logs in on instance `from`, exchanges the code on `to`, and returns the user `auth/current_user` shows there. */
  async function loginAcross(from: number, to: number): Promise<Record<string, unknown>> {
    const done = await attempt(await instances.open(from), handler, ALICE);
    expect(done['result'], JSON.stringify(done)).to.have.property('type', 'create_entry');
    const tokens = await redeem(await instances.open(to), (done['result'] as Record<string, unknown>)['result']);
    expect(tokens['success'], JSON.stringify(tokens)).to.equal(true);
    const socket = await authenticatedSocket(instances.at(to).url, String((tokens['result'] as Record<string, unknown>)['access_token']));
    try {
      return await socket.result({ type: 'auth/current_user' });
    } finally {
      socket.close();
    }
  }

  it("logs in through the program on one instance, exchanges on the other, and the user has the program's meta", async function () {
    writeMeta(dir, '# from the directory\nname=Alice Liddell\ngroup=system-read-only\nlocal_only=true');
    const current = await loginAcross(0, 1);
    expect(current).to.deep.include({ name: 'Alice Liddell', is_owner: false, is_admin: false });
    const user = await store.getUser(String(current['id']));
    expect(user).to.deep.include({ groupIds: ['system-read-only'], localOnly: true });
  });

  it('re-applies what the program prints at the next login, whichever instance runs it', async function () {
    writeMeta(dir, 'name=Alice P. Liddell\ngroup=system-users\nlocal_only=false');
    const current = await loginAcross(1, 0);
    expect(current['name']).to.equal('Alice P. Liddell');
    expect(await store.getUser(String(current['id']))).to.deep.include({ groupIds: ['system-users'], localOnly: false });
  });
});

describe('command_line provider: one server, hostile and broken programs', function () {
  this.timeout(30_000);
  let dir: string;
  let server: ServerProcess;
  let sleeper: { path: string; pidFiles: string[] };
  const envFile = (): string => join(dir, 'env');
  const clients: RawClient[] = [];
  const open = async (): Promise<RawClient> => {
    const { client } = await RawClient.open(server.url);
    clients.push(client);
    return client;
  };

  before(async function () {
    dir = scriptFolder();
    sleeper = sleeperScript(dir);
    const provider = (id: string, command: string, extra: Record<string, unknown> = {}) => ({ type: 'command_line', id, command, ...extra });
    server = await startServerProcess({
      dir,
      config: {
        auth_providers: [
          provider('meta', metaScript(dir), { meta: true }),
          provider('sleeper', sleeper.path, { timeout_seconds: 1 }),
          provider('env', writeScript(dir, 'env.sh', DUMP_ENV(envFile()))),
          provider('chatty', writeScript(dir, 'chatty.sh', 'echo "could not bind as $username with password $password" >&2; exit 1')),
          provider('flood', writeScript(dir, 'flood.sh', '/usr/bin/yes name=a-very-long-line-of-meta-that-never-ends'), { meta: true }),
        ],
        login_limits: NO_LOGIN_LIMITS,
      },
    });
  });
  afterEach(() => clients.splice(0).forEach((client) => client.close()));
  after(async () => server?.stop());

  const invalidAuth = (reply: Record<string, unknown>) => expect(reply['result'], JSON.stringify(reply)).to.deep.include({ type: 'form', errors: { base: 'invalid_auth' } });

  it('answers invalid_auth when the program exits 1 (wrong password and unknown user alike)', async function () {
    invalidAuth(await attempt(await open(), ['command_line', 'meta'], { username: 'alice', password: 'nope' }));
    invalidAuth(await attempt(await open(), ['command_line', 'meta'], { username: 'mallory', password: 'wonderland' }));
  });

  it('kills a program past timeout_seconds: invalid_auth within 2 s, the program and its child gone, a warning logged', async function () {
    const started = Date.now();
    invalidAuth(await attempt(await open(), ['command_line', 'sleeper'], ALICE));
    expect(Date.now() - started).to.be.within(900, 2000);
    const pids = readPids(sleeper.pidFiles);
    expect(pids).to.have.length(2);
    await eventually(async () => pids.every(processGone), 1000, 'the program and its child exiting');
    // The log line travels through the server's stdout pipe, which the reply over the socket may well overtake.
    const isWarning = (line: Record<string, unknown>): boolean => String(line['msg']).startsWith('login program ran past its timeout');
    await eventually(async () => server.logs.some(isWarning), 2000, 'the timeout warning');
    const warning = server.logs.find(isWarning);
    expect(warning).to.deep.include({ command: sleeper.path, timeout_seconds: 1, level: 40 });
  });

  it('starts the program with nothing in its environment but username and password', async function () {
    const reply = await attempt(await open(), ['command_line', 'env'], { username: ' alice ', password: 'wonderland' });
    expect(reply['result']).to.have.property('type', 'create_entry');
    expect(readEnvDump(envFile())).to.deep.equal({ username: 'alice', password: 'wonderland' });
  });

  it('passes a username with shell metacharacters verbatim, running no shell on it', async function () {
    const marker = join(dir, 'pwned');
    const username = `x"; /usr/bin/touch ${marker}; $(/usr/bin/touch ${marker}) \`/usr/bin/touch ${marker}\` | &`;
    const reply = await attempt(await open(), ['command_line', 'env'], { username, password: "'; exit 0; '" });
    expect(reply['result']).to.have.property('type', 'create_entry');
    expect(readEnvDump(envFile())).to.deep.equal({ username, password: "'; exit 0; '" });
    expect(existsSync(marker)).to.equal(false);
  });

  it('logs what the program writes to stderr, never the password', async function () {
    invalidAuth(await attempt(await open(), ['command_line', 'chatty'], { username: 'alice', password: 'C0rrect-Horse' }));
    await eventually(async () => server.logs.some((line) => line['msg'] === 'login program wrote to stderr'), 2000, 'the stderr log line');
    const line = server.logs.find((entry) => entry['msg'] === 'login program wrote to stderr');
    expect(line?.['stderr']).to.equal('could not bind as alice with password [password redacted]\n');
    expect(JSON.stringify(server.logs)).not.to.include('C0rrect-Horse');
  });

  it('survives a program flooding stdout: each login answers at once and the server does not grow', async function () {
    const rssKib = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1]);
    const before = rssKib();
    for (let i = 0; i < 5; i += 1) {
      const started = Date.now();
      invalidAuth(await attempt(await open(), ['command_line', 'flood'], ALICE));
      // Far below the 10 s timeout: the program is killed once it passes the stdout limit.
      expect(Date.now() - started).to.be.below(3000);
    }
    // `yes` writes tens of MiB a second: buffered, five floods would add hundreds of MiB.
    expect(rssKib() - before).to.be.below(64 * 1024);
  });
});
