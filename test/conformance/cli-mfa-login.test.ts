/** `flowgate login` with MFA against a real server: the code asked after the password, the module choice, a wrong code. */
import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { runLogin } from '@flowgate/cli';
import { authenticatedSocket } from '../helpers/login.js';
import { type ExampleUser, exampleUsers, mfaConfig, nextTotpCode, setUpRecovery, setUpTotp, setUpTotpOverSocket, signedInSocket } from '../helpers/mfa.js';
import { runFlowgate } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';

const USERS = exampleUsers('ada', 'brian', 'cleo');
const [ADA, BRIAN, CLEO] = USERS as [ExampleUser, ExampleUser, ExampleUser];
const WAIT_MS = 5_000;

/** `flowgate login` in this process on a stand-in terminal (isTTY): what it writes to stderr, and a way to type answers. */
function loginOnTerminal(url: string) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let screen = '';
  let seen = 0;
  stderr.on('data', (chunk: Buffer) => (screen += chunk.toString()));
  let out = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = runLogin(['--url', url, '--no-device-token'], { stdin, stdout, stderr, isTTY: true, env: {} });
  /** Waits for `text` to appear after everything waited for so far. */
  async function waitFor(text: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const at = screen.indexOf(text, seen);
      if (at >= 0) {
        seen = at + text.length;
        return;
      }
      if (Date.now() > deadline) throw new Error(`${JSON.stringify(text)} did not appear; the screen so far:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  /** Waits for the prompt `text`, then types `line` and Enter. */
  async function answer(text: string, line: string): Promise<void> {
    await waitFor(text);
    stdin.write(`${line}\r`);
  }
  return { waitFor, answer, exited, screen: () => screen, stdout: () => out };
}

describe('flowgate login with MFA', function () {
  const fixture = useServer(() => ({ config: mfaConfig(USERS, [{ type: 'totp' }, { type: 'recovery' }]) }));
  const url = () => fixture.server().url;

  it('reads the TOTP code as the line after the password and prints tokens that authenticate a socket', async function () {
    const secret = await setUpTotpOverSocket(url(), ADA);
    const input = `${ADA.username}\n${ADA.password}\n${nextTotpCode(secret)}\n`;
    const { code, stdout, stderr } = await runFlowgate(['login', '--url', url(), '--no-device-token'], {}, undefined, input);
    expect({ code, stderr }).to.deep.equal({ code: 0, stderr: '' });
    const tokens = JSON.parse(stdout) as Record<string, unknown>;
    (await authenticatedSocket(url(), String(tokens['access_token']))).close();
  });

  it('exits 1 with the wrong code in words when there is no terminal to ask again', async function () {
    await setUpTotpOverSocket(url(), BRIAN);
    const input = `${BRIAN.username}\n${BRIAN.password}\n000000\n`;
    const { code, stdout, stderr } = await runFlowgate(['login', '--url', url(), '--no-device-token'], {}, undefined, input);
    expect({ code, stdout }).to.deep.equal({ code: 1, stdout: '' });
    expect(stderr).to.equal('flowgate login: The code is not valid. Check it and try again.\n');
  });

  it('on a terminal lists the modules by name, says which one the code is from, and asks again after a wrong code', async function () {
    const socket = await signedInSocket(url(), CLEO);
    const secret = await setUpTotp(socket);
    await setUpRecovery(socket);
    socket.close();
    const terminal = loginOnTerminal(url());
    await terminal.answer('Username:', CLEO.username);
    await terminal.answer('Password:', CLEO.password);
    await terminal.waitFor('Two-factor authentication: choose how to confirm it is you.\n  1) Authenticator app\n  2) Recovery codes\n');
    await terminal.answer('Two-factor method:', '1');
    await terminal.waitFor('Two-factor authentication: enter the code from Authenticator app.\n');
    await terminal.answer('Code:', '000000');
    await terminal.waitFor('The code is not valid. Check it and try again.\n');
    await terminal.answer('Code:', nextTotpCode(secret));
    expect(await terminal.exited, terminal.screen()).to.equal(0);
    expect(terminal.screen()).to.include('Logged in as Cleo.');
    // Hidden input: the wrong code was not echoed.
    expect(terminal.screen()).not.to.include('000000');
    expect(JSON.parse(terminal.stdout())).to.have.property('access_token');
  });
});
