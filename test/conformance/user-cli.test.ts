/** The built `flowgate user` command as a process: add, list, passwd, remove, its one-line errors, and a live server. */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { verifyPassword } from '../../server/src/providers/password.js';
import { openStore } from '../../server/src/store/open.js';
import { RawClient } from '../helpers/raw-client.js';
import { authenticatedSocket, loginCode } from '../helpers/login.js';
import { runFlowgate, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { silentLogger } from '../helpers/stores.js';

const CONFIG = { auth_providers: [{ type: 'password', argon2: { memory_kib: 1024, time_cost: 1 } }] };
const CLIENT_ID = 'https://dashboard.example/';

describe('flowgate user (process)', function () {
  let dir: string;
  let configPath: string;

  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'flowgate-user-'));
    configPath = join(dir, 'flowgate.yaml');
    writeFileSync(configPath, stringify(CONFIG));
  });

  const user = (args: string[], input?: string) => runFlowgate(['user', ...args, '--config', configPath], {}, dir, input);

  /** The stored hash of a user, read from the embedded store beside the config, to check what passwd wrote. */
  async function storedHash(username: string): Promise<string> {
    const store = await openStore(undefined, { dataDir: join(dir, 'flowgate-data'), logger: silentLogger });
    try {
      return String((await store.findCredential('password', null, username))?.data['password_hash']);
    } finally {
      await store.close();
    }
  }

  it('adds the first user as owner and admin, the password read from one line of stdin', async function () {
    const result = await user(['add', 'alice', '--name', 'Alice Liddell', '--password-stdin'], 'down-the-rabbit-hole\n');
    expect(result).to.deep.equal({ code: 0, stdout: 'Added user "alice" (owner, admin).\n', stderr: '' });
  });

  it('lists users in an aligned table', async function () {
    await user(['add', 'alice', '--name', 'Alice Liddell', '--password-stdin'], 'down-the-rabbit-hole\n');
    await user(['add', 'Bob', '--password-stdin'], 'bob-the-builder\n');
    const result = await user(['list']);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal(
      [
        'USERNAME  NAME           OWNER  ADMIN  ACTIVE',
        'alice     Alice Liddell  yes    yes    yes',
        'bob       bob            no     no     yes',
        '',
      ].join('\n'),
    );
  });

  it('changes a password with passwd, reading only the first line of stdin', async function () {
    await user(['add', 'alice', '--password-stdin'], 'down-the-rabbit-hole\n');
    const result = await user(['passwd', 'ALICE', '--password-stdin'], 'looking-glass\nignored\n');
    expect(result).to.deep.include({ code: 0, stdout: 'Changed the password of "alice".\n' });
    const hash = await storedHash('alice');
    expect(await verifyPassword(hash, 'looking-glass')).to.equal(true);
    expect(await verifyPassword(hash, 'down-the-rabbit-hole')).to.equal(false);
  });

  it('removes a user', async function () {
    await user(['add', 'alice', '--password-stdin'], 'down-the-rabbit-hole\n');
    const removed = await user(['remove', 'alice']);
    expect(removed).to.deep.include({ code: 0, stdout: 'Removed user "alice".\n' });
    expect((await user(['list'])).stdout).to.not.contain('alice');
  });

  it('refuses a duplicate normalized username in one line, with exit code 1', async function () {
    await user(['add', 'alice', '--password-stdin'], 'down-the-rabbit-hole\n');
    const result = await user(['add', '  ALICE ', '--password-stdin'], 'other-password\n');
    expect(result).to.deep.equal({ code: 1, stdout: '', stderr: 'flowgate: A user "alice" already exists\n' });
  });

  it('refuses to remove an unknown user in one line, with exit code 1', async function () {
    const result = await user(['remove', 'mallory']);
    expect(result).to.deep.equal({ code: 1, stdout: '', stderr: 'flowgate: No user "mallory"\n' });
  });

  it('refuses to change the password of an unknown user in one line, with exit code 1', async function () {
    const result = await user(['passwd', 'mallory', '--password-stdin'], 'x\n');
    expect(result).to.deep.equal({ code: 1, stdout: '', stderr: 'flowgate: No user "mallory"\n' });
  });

  it('refuses an empty password', async function () {
    const result = await user(['add', 'alice', '--password-stdin'], '\n');
    expect(result).to.deep.equal({ code: 1, stdout: '', stderr: 'flowgate: The password must not be empty\n' });
  });

  it('asks for --password-stdin in one line when there is no terminal to prompt on', async function () {
    const result = await user(['add', 'alice']);
    expect(result.code).to.equal(2);
    expect(result.stderr.trim().split('\n')).to.have.length(1);
    expect(result.stderr).to.match(/^flowgate: .*--password-stdin/);
  });

  it('takes no password as an argument', async function () {
    const result = await user(['add', 'alice', 'wonderland'], 'down-the-rabbit-hole\n');
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/^flowgate: Expected USERNAME\./);
    expect((await user(['list'])).stdout).to.not.contain('alice');
  });

  it('finds the config through FLOWGATE_CONFIG', async function () {
    await runFlowgate(['user', 'add', 'alice', '--password-stdin'], { FLOWGATE_CONFIG: configPath }, tmpdir(), 'down-the-rabbit-hole\n');
    expect((await user(['list'])).stdout).to.contain('alice');
  });

  describe('with a server running on the same store', function () {
    let server: ServerProcess;

    beforeEach(async function () {
      server = await startServerProcess({ config: CONFIG, dir });
    });
    afterEach(async () => server.stop());

    it('logs how to create the first user when there is none', async function () {
      const deadline = Date.now() + 5000;
      const hint = () => server.logs.find((entry) => String(entry['msg']).startsWith('No users yet'));
      while (hint() === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(hint()).to.deep.include({
        level: 40,
        msg: 'No users yet: create the first one, who becomes the owner, with  npx flowgate user add <username>',
      });
    });

    it('lets a user added by the command log in at once', async function () {
      const added = await user(['add', 'alice', '--password-stdin'], 'down-the-rabbit-hole\n');
      expect(added.code).to.equal(0);
      const { client } = await RawClient.open(server.url);
      try {
        const form = await client.result({ type: 'login_flow/init', handler: ['password', null], client_id: CLIENT_ID });
        const reply = (await client.command({
          type: 'login_flow/step',
          flow_id: form['flow_id'],
          client_id: CLIENT_ID,
          user_input: { username: 'Alice', password: 'down-the-rabbit-hole' },
        })) as any;
        expect(reply.success).to.equal(true);
        expect(reply.result.type).to.equal('create_entry');
      } finally {
        client.close();
      }
    });
    it('closes the sockets of a user removed by the command', async function () {
      expect((await user(['add', 'bob', '--password-stdin'], 'bob-the-builder\n')).code).to.equal(0);
      const { client } = await RawClient.open(server.url);
      try {
        const code = await loginCode(client, ['password', null], { username: 'bob', password: 'bob-the-builder' }, CLIENT_ID);
        const tokens = await client.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: CLIENT_ID });
        const socket = await authenticatedSocket(server.url, String(tokens['access_token']));
        const started = Date.now();
        expect((await user(['remove', 'bob'])).code).to.equal(0);
        expect(await socket.closed).to.deep.equal({ code: 4001, reason: 'token_revoked' });
        // A bound, not a measurement: the command's own start-up (a Node process) is part of the elapsed time.
        expect(Date.now() - started).to.be.below(10_000);
      } finally {
        client.close();
      }
    });
  });
});
