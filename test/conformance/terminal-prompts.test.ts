/**
 * `flowgate login` and `flowgate user add|passwd` on a real pseudo-terminal (util-linux `script` gives the command a pty):
 * what a person sees on the screen, what is echoed and what is not, and what the commands leave behind.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensureDebianPackage } from '../helpers/debian.js';
import { authenticatedSocket } from '../helpers/login.js';
import { EXAMPLE_CONFIG, FLOWGATE_BIN, runFlowgate, startServerProcess, testConfigHome, type ServerProcess } from '../helpers/server-process.js';

const PASSWORD_CONFIG = { auth_providers: [{ type: 'password', argon2: { memory_kib: 1024, time_cost: 1 } }] };
const WAIT_MS = 5_000;
const ESC = '\u001b';

interface Terminal {
  /** Waits for `text` to appear after everything waited for so far; fails with the screen so far after WAIT_MS. */
  waitFor(text: string): Promise<void>;
  /** Waits for the prompt `text`, then types `line` and Enter, as a person would. */
  answer(text: string, line: string): Promise<void>;
  /** Waits for the prompt `text`, then presses Ctrl-C. */
  interrupt(text: string): Promise<void>;
  /** Everything the terminal received, escape sequences included. */
  transcript(): string;
  /** The command's exit status (script -e passes it on). */
  readonly exited: Promise<number | null>;
  kill(): void;
}

const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/** Runs `flowgate ARGS` with a pty as stdin, stdout and stderr; with `stdoutFile`, stdout goes to that file instead. */
function startInTerminal(script: string, args: string[], stdoutFile?: string): Terminal {
  const command = [process.execPath, FLOWGATE_BIN, ...args].map(quote).join(' ') + (stdoutFile === undefined ? '' : ` > ${quote(stdoutFile)}`);
  const child = spawn(script, ['-qfec', command, '/dev/null'], {
    env: { ...process.env, SHELL: '/bin/sh', TERM: 'xterm-256color', XDG_CONFIG_HOME: testConfigHome() },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let transcript = '';
  let seen = 0;
  child.stdout.on('data', (chunk: Buffer) => (transcript += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (transcript += chunk.toString()));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const waitFor = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const at = transcript.indexOf(text, seen);
        if (at < 0) return;
        seen = at + text.length;
        done();
        resolve();
      };
      const fail = (why: string) => (): void => {
        done();
        reject(new Error(`${JSON.stringify(text)} did not appear (${why}); the screen so far:\n${screen(transcript).join('\n')}`));
      };
      const timer = setTimeout(fail(`waited ${WAIT_MS} ms`), WAIT_MS);
      const onClose = fail('the command ended');
      const done = (): void => {
        clearTimeout(timer);
        child.stdout.off('data', check);
        child.off('close', onClose);
      };
      child.stdout.on('data', check);
      child.once('close', onClose);
      check();
    });
  return {
    waitFor,
    async answer(text, line) {
      await waitFor(text);
      child.stdin.write(`${line}\r`);
    },
    async interrupt(text) {
      await waitFor(text);
      child.stdin.write('\u0003');
    },
    transcript: () => transcript,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}

/** The lines a terminal shows for `transcript`: enough of a VT100 for readline (cursor column, clear to the end). */
function screen(transcript: string): string[] {
  const lines = [''];
  let row = 0;
  let col = 0;
  for (const token of transcript.match(new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]|[^]`, 'g')) ?? []) {
    const line = lines[row] ?? '';
    if (token === '\r') col = 0;
    else if (token === '\n') lines[++row] ??= '';
    else if (token.startsWith(ESC)) {
      const n = Number(token.slice(2, -1) || '1');
      const op = token.slice(-1);
      if (op === 'G') col = n - 1;
      else if (op === 'C') col += n;
      else if (op === 'D') col = Math.max(0, col - n);
      else if (op === 'A') row = Math.max(0, row - n);
      else if (op === 'J' || op === 'K') {
        lines[row] = line.slice(0, col);
        if (op === 'J') lines.length = row + 1;
      }
    } else if (token >= ' ') {
      lines[row] = line.padEnd(col).slice(0, col) + token + line.slice(col + 1);
      col += 1;
    }
  }
  const shown = lines.map((l) => l.trimEnd());
  while (shown.at(-1) === '') shown.pop();
  return shown;
}

function expectTokens(file: string): Record<string, unknown> {
  const tokens = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  expect(tokens).to.have.all.keys('access_token', 'refresh_token', 'token_type', 'expires_in');
  expect(tokens).to.deep.include({ token_type: 'Bearer' });
  expect(tokens['expires_in']).to.be.a('number');
  return tokens;
}

describe('terminal prompts (on a real pty)', function () {
  let script: string;
  let dir: string;
  const terminals: Terminal[] = [];
  const servers: ServerProcess[] = [];
  const run = (args: string[], stdoutFile?: string): Terminal => {
    const terminal = startInTerminal(script, args, stdoutFile);
    terminals.push(terminal);
    return terminal;
  };

  before(function () {
    this.timeout(180_000); // Only a machine without util-linux's script installs it (Debian's bsdutils) here.
    script = ensureDebianPackage('script', 'bsdutils');
  });

  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'flowgate-tty-'));
  });

  /** A server with the example config, and `flowgate login` against it on a terminal, its stdout going to tokensFile. */
  async function exampleLogin(): Promise<{ server: ServerProcess; login: Terminal; tokensFile: string }> {
    const server = await startServerProcess({ config: EXAMPLE_CONFIG });
    servers.push(server);
    const tokensFile = join(dir, 'tokens.json');
    return { server, login: run(['login', '--url', server.url], tokensFile), tokensFile };
  }

  afterEach(async function () {
    terminals.splice(0).forEach((t) => t.kill());
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('flowgate login shows each prompt, echoes the username but not the password, asks again after a wrong password', async function () {
    const { server, login, tokensFile } = await exampleLogin();
    await login.answer('Username: ', 'alice');
    await login.answer('Password: ', 'not-the-password');
    await login.waitFor('Wrong username or password.');
    await login.answer('Username: ', 'alice');
    await login.answer('Password: ', 'wonderland');
    expect(await login.exited, login.transcript()).to.equal(0);
    expect(screen(login.transcript())).to.deep.equal([
      'Username: alice',
      'Password:',
      'Wrong username or password.',
      'Username: alice',
      'Password:',
      'Logged in as Alice Liddell.',
    ]);
    expect(login.transcript()).not.to.include('not-the-password').and.not.to.include('wonderland');
    const tokens = expectTokens(tokensFile);
    (await authenticatedSocket(server.url, String(tokens['access_token']))).close();
  });

  it('flowgate login stops on Ctrl-C with one line of its own, printing no tokens', async function () {
    const { login, tokensFile } = await exampleLogin();
    await login.answer('Username: ', 'alice');
    await login.interrupt('Password: ');
    expect(await login.exited, login.transcript()).to.equal(1);
    expect(screen(login.transcript())).to.deep.equal(['Username: alice', 'Password:', 'flowgate login: Cancelled.']);
    expect(readFileSync(tokensFile, 'utf8')).to.equal('');
  });

  it('flowgate user add hides the password and refuses a confirmation that does not match, in one line', async function () {
    const config = join(dir, 'flowgate.yaml');
    writeFileSync(config, stringify(PASSWORD_CONFIG));
    const add = run(['user', 'add', 'bob', '--config', config]);
    await add.answer('Password: ', 'first-try-secret');
    await add.answer('Password (again): ', 'second-try-secret');
    expect(await add.exited, add.transcript()).to.equal(1);
    expect(screen(add.transcript())).to.deep.equal(['Password:', 'Password (again):', 'flowgate: The passwords do not match']);
    expect(add.transcript()).not.to.include('try-secret');
    expect((await runFlowgate(['user', 'list', '--config', config])).stdout).to.include('No users yet');
  });

  it('flowgate user add and passwd take hidden passwords that a server on the same store then accepts', async function () {
    const config = join(dir, 'flowgate.yaml');
    writeFileSync(config, stringify(PASSWORD_CONFIG));
    const add = run(['user', 'add', 'bob', '--name', 'Bob the Builder', '--config', config]);
    await add.answer('Password: ', 'can-we-fix-it');
    await add.answer('Password (again): ', 'can-we-fix-it');
    expect(await add.exited, add.transcript()).to.equal(0);
    expect(screen(add.transcript())).to.deep.equal(['Password:', 'Password (again):', 'Added user "bob" (owner, admin).']);

    const passwd = run(['user', 'passwd', 'bob', '--config', config]);
    await passwd.answer('Password: ', 'yes-we-can');
    await passwd.answer('Password (again): ', 'yes-we-can');
    expect(await passwd.exited, passwd.transcript()).to.equal(0);
    expect(screen(passwd.transcript())).to.deep.equal(['Password:', 'Password (again):', 'Changed the password of "bob".']);
    expect(add.transcript() + passwd.transcript()).not.to.include('can-we-fix-it').and.not.to.include('yes-we-can');

    const server = await startServerProcess({ config: PASSWORD_CONFIG, dir });
    servers.push(server);
    const tokensFile = join(dir, 'tokens.json');
    const login = run(['login', '--url', server.url, '--provider', 'password'], tokensFile);
    await login.answer('Username: ', 'bob');
    await login.answer('Password: ', 'can-we-fix-it'); // The password before passwd: refused.
    await login.waitFor('Wrong username or password.');
    await login.answer('Username: ', 'bob');
    await login.answer('Password: ', 'yes-we-can');
    expect(await login.exited, login.transcript()).to.equal(0);
    expect(screen(login.transcript()).at(-1)).to.equal('Logged in as Bob the Builder.');
    expect(login.transcript()).not.to.include('can-we-fix-it').and.not.to.include('yes-we-can');
    (await authenticatedSocket(server.url, String(expectTokens(tokensFile)['access_token']))).close();
  });
});
