/**
 * command_line usernames are one account however they are cased (issue 20, point 3), attacked black-box: two real instances on
 * one real Redis, a real login program that compares usernames without case (as an LDAP bind does), raw frames. An attacker
 * holding alice's password types `ALICE` to get a user of its own, with no second factor, that outlives alice's deactivation.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../server/src/store/open.js';
import type { Store } from '../../server/src/store/types.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { scriptFolder, writeScript } from '../helpers/login-scripts.js';
import { authenticatedSocket, TEST_CLIENT_ID } from '../helpers/login.js';
import { nextTotpCode, setUpTotp, signedInSocket } from '../helpers/mfa.js';
import type { RawClient } from '../helpers/raw-client.js';
import { redeem, usePrivateRedis } from '../helpers/scale.js';
import { silentLogger } from '../helpers/stores.js';

const HANDLER: [string, null] = ['command_line', null];
type Reply = Record<string, any>;

/**
 * Accepts alice, bob and carol in any case, each with the password `<name>-password`, and writes the username it was given to
 * `typed` in its folder. No PATH: every tool by its absolute path.
 */
function caseBlindProgram(dir: string): string {
  return writeScript(
    dir,
    'check-login.sh',
    `printf '%s' "$username" > "${join(dir, 'typed')}"
lower=$(printf '%s' "$username" | /usr/bin/tr '[:upper:]' '[:lower:]')
case "$lower" in alice|bob|carol) [ "$password" = "$lower-password" ] && exit 0 ;; esac
exit 1`,
  );
}

describe('command_line: case variants of one username, two instances on one Redis', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let dir: string;
  let instances: Instances;
  let store: Store;

  before(async function () {
    dir = scriptFolder();
    instances = await startInstances(2, redis().url, {
      config: { auth_providers: [{ type: 'command_line', command: caseBlindProgram(dir) }], mfa_modules: [{ type: 'totp' }] },
    });
    store = await openStore(redis().url, { dataDir: tmpdir(), logger: silentLogger });
  });
  after(async function () {
    await store?.close();
    await instances?.stop();
  });

  /** One password step on instance `at` as `username` (the password is the program's, whatever the case typed). */
  async function passwordStep(at: number, username: string): Promise<{ client: RawClient; reply: Reply }> {
    const client = await instances.open(at);
    const form = await client.result({ type: 'login_flow/init', handler: HANDLER, client_id: TEST_CLIENT_ID });
    const password = `${username.trim().toLowerCase()}-password`;
    const reply = await client.command({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: { username, password } });
    return { client, reply };
  }

  /** The user id `auth/current_user` shows on instance `at` for a socket signed in with `tokens`. */
  async function currentUserId(at: number, tokens: Reply): Promise<string> {
    const socket = await authenticatedSocket(instances.at(at).url, String(tokens['result']['access_token']));
    try {
      return String((await socket.result({ type: 'auth/current_user' }))['id']);
    } finally {
      socket.close();
    }
  }

  it("logs ALICE in as the user alice made, asking for alice's second factor, and gives the program ALICE as typed", async function () {
    const socket = await signedInSocket(instances.at(0).url, { username: 'alice', password: 'alice-password', name: 'alice' }, HANDLER);
    const aliceId = String((await socket.result({ type: 'auth/current_user' }))['id']);
    const secret = await setUpTotp(socket);
    socket.close();

    const { client, reply } = await passwordStep(1, 'ALICE');
    expect(readFileSync(join(dir, 'typed'), 'utf8')).to.equal('ALICE');
    expect(reply['result'], JSON.stringify(reply)).to.deep.include({ type: 'form', step_id: 'mfa', errors: null });
    const done = await client.result({ type: 'login_flow/step', flow_id: reply['result'].flow_id, client_id: TEST_CLIENT_ID, user_input: { code: nextTotpCode(secret) } });
    expect(done['type'], JSON.stringify(done)).to.equal('create_entry');
    expect(await currentUserId(0, await redeem(await instances.open(0), done['result']))).to.equal(aliceId);
    const credentials = await store.listCredentials(aliceId);
    expect(credentials.map((c) => [c.providerType, c.subject])).to.deep.equal([['command_line', 'alice']]);
    expect((await store.listUsers()).filter((user) => user.name.toLowerCase() === 'alice')).to.have.length(1);
  });

  it('gives the same user to Bob, BOB and bob, named as first typed', async function () {
    const ids: string[] = [];
    for (const [at, username] of [[0, 'Bob'], [1, 'BOB'], [0, ' bob ']] as const) {
      const { reply } = await passwordStep(at, username);
      expect(reply['result']?.type, JSON.stringify(reply)).to.equal('create_entry');
      ids.push(await currentUserId(1 - at, await redeem(await instances.open(1 - at), reply['result'].result)));
    }
    expect(new Set(ids).size).to.equal(1);
    expect(await store.getUser(ids[0]!)).to.deep.include({ name: 'Bob' });
  });

  it('refuses CAROL once carol is deactivated, with the answer of a wrong password', async function () {
    const { reply: first } = await passwordStep(0, 'carol');
    const carolId = await currentUserId(1, await redeem(await instances.open(1), first['result'].result));
    expect(await store.updateUser(carolId, { isActive: false })).to.deep.include({ isActive: false });

    for (const [at, username] of [[1, 'CAROL'], [0, 'Carol'], [1, 'carol']] as const) {
      const { reply } = await passwordStep(at, username);
      expect(reply, `${username} on instance ${at}`).to.deep.include({ success: true });
      expect(reply['result']).to.deep.include({ type: 'form', step_id: 'init', errors: { base: 'invalid_auth' } });
    }
    expect((await store.listUsers()).filter((user) => user.name.toLowerCase() === 'carol')).to.have.length(1);
  });
});
