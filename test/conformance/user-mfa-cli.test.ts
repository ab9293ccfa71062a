/** `flowgate user mfa list|reset` as a process, on the store of a running server: what a user set up, and turning it off. */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { exampleUsers, setUpRecovery, setUpTotp, signedInSocket, type ExampleUser } from '../helpers/mfa.js';
import { RawClient } from '../helpers/raw-client.js';
import { TEST_CLIENT_ID } from '../helpers/login.js';
import { runFlowgate, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const CONFIG = {
  auth_providers: [{ type: 'password', argon2: { memory_kib: 1024, time_cost: 1 } }],
  mfa_modules: [{ type: 'totp' }, { type: 'recovery', name: 'Backup codes' }],
};
const PASSWORD: [string, null] = ['password', null];
const [ALICE] = exampleUsers('alice') as [ExampleUser];

describe('flowgate user mfa (process)', function () {
  let dir: string;
  let configPath: string;
  let server: ServerProcess;

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'flowgate-user-mfa-'));
    configPath = join(dir, 'flowgate.yaml');
    writeFileSync(configPath, stringify(CONFIG));
    server = await startServerProcess({ config: CONFIG, dir });
    expect((await user(['add', ALICE.username, '--password-stdin'], `${ALICE.password}\n`)).code).to.equal(0);
  });
  afterEach(async () => server?.stop());

  const user = (args: string[], input?: string) => runFlowgate(['user', ...args, '--config', configPath], {}, dir, input);

  /** Sets up both modules for alice through the running server. */
  async function setUpBoth(): Promise<void> {
    const socket = await signedInSocket(server.url, ALICE, PASSWORD);
    try {
      await setUpTotp(socket);
      await setUpRecovery(socket);
    } finally {
      socket.close();
    }
  }

  /** The step a password login of alice comes to after the password: `mfa`/`select_mfa_module`, or `create_entry`. */
  async function afterPassword(): Promise<string> {
    const { client } = await RawClient.open(server.url);
    try {
      const form = await client.result({ type: 'login_flow/init', handler: PASSWORD, client_id: TEST_CLIENT_ID });
      const next = await client.result({ type: 'login_flow/step', flow_id: form['flow_id'], client_id: TEST_CLIENT_ID, user_input: { username: ALICE.username, password: ALICE.password } });
      return String(next['type'] === 'form' ? next['step_id'] : next['type']);
    } finally {
      client.close();
    }
  }

  describe('list', function () {
    it('lists the modules the user set up, by id with their configured names', async function () {
      await setUpBoth();
      const result = await user(['mfa', 'list', 'ALICE']);
      expect(result).to.deep.equal({ code: 0, stdout: 'MODULE    NAME\nrecovery  Backup codes\ntotp      Authenticator app\n', stderr: '' });
    });

    it('says so when the user has set up nothing', async function () {
      expect(await user(['mfa', 'list', 'alice'])).to.deep.equal({ code: 0, stdout: '"alice" has no two-factor methods set up.\n', stderr: '' });
    });

    it('refuses an unknown user in one line, with exit code 1', async function () {
      expect(await user(['mfa', 'list', 'mallory'])).to.deep.equal({ code: 1, stdout: '', stderr: 'flowgate: No user "mallory"\n' });
    });
  });

  describe('reset', function () {
    it('turns off one module: the login then asks for the other one only', async function () {
      await setUpBoth();
      expect(await afterPassword()).to.equal('select_mfa_module');
      const result = await user(['mfa', 'reset', 'alice', 'totp']);
      expect(result).to.deep.equal({ code: 0, stdout: 'Turned off Authenticator app (totp) for "alice".\n', stderr: '' });
      expect((await user(['mfa', 'list', 'alice'])).stdout).to.equal('MODULE    NAME\nrecovery  Backup codes\n');
      expect(await afterPassword()).to.equal('mfa');
    });

    it('turns off every module without a MODULE_ID: the login then needs the password only', async function () {
      await setUpBoth();
      const result = await user(['mfa', 'reset', 'alice']);
      expect(result).to.deep.equal({
        code: 0,
        stdout: 'Turned off Backup codes (recovery), Authenticator app (totp) for "alice". Their next login asks for the password only.\n',
        stderr: '',
      });
      expect(await afterPassword()).to.equal('create_entry');
    });

    it('refuses a module the user has not set up, naming the ones set up, with exit code 1', async function () {
      const socket = await signedInSocket(server.url, ALICE, PASSWORD);
      await setUpRecovery(socket);
      socket.close();
      const result = await user(['mfa', 'reset', 'alice', 'totp']);
      expect(result).to.deep.equal({ code: 1, stdout: '', stderr: 'flowgate: "alice" has no two-factor method "totp" set up (set up: recovery)\n' });
    });

    it('answers a usage error with exit code 2 for extra arguments or an unknown subcommand', async function () {
      const extra = await user(['mfa', 'reset', 'alice', 'totp', 'more']);
      expect(extra).to.deep.equal({ code: 2, stdout: '', stderr: 'flowgate: Expected USERNAME [MODULE_ID]. Run "flowgate user --help" for usage.\n' });
      const unknown = await user(['mfa', 'wipe', 'alice']);
      expect(unknown).to.deep.equal({ code: 2, stdout: '', stderr: 'flowgate: Unknown user mfa command "wipe": use list or reset\n' });
    });
  });
});
