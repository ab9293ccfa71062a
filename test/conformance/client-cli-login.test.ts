/** `flowgate login` as a real process against a real server: tokens on stdout, one readable line on stderr when it fails. */
import { expect } from 'chai';
import { join } from 'node:path';
import { authenticatedSocket } from '../helpers/login.js';
import { findFreePort } from '../helpers/redis-server.js';
import { EXAMPLE_CONFIG, runFlowgate } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';

const TWO_PROVIDERS = { auth_providers: [...EXAMPLE_CONFIG.auth_providers, { type: 'password' }] };

function expectOneLine(stderr: string): void {
  expect(stderr.trim().split('\n')).to.have.length(1);
  expect(stderr).not.to.match(/\n\s+at /);
}

describe('flowgate login', function () {
  describe('with the example provider', function () {
    const fixture = useServer(() => ({ config: EXAMPLE_CONFIG }));

    it('prints tokens as JSON on stdout that authenticate a socket', async function () {
      const { code, stdout, stderr } = await runFlowgate(['login', '--url', fixture.server().url], {}, undefined, 'alice\nwonderland\n');
      expect({ code, stderr }).to.deep.equal({ code: 0, stderr: '' });
      const tokens = JSON.parse(stdout) as Record<string, unknown>;
      expect(tokens).to.have.all.keys('access_token', 'token_type', 'refresh_token', 'expires_in');
      (await authenticatedSocket(fixture.server().url, String(tokens['access_token']))).close();
    });

    it('exits 1 with the error in words when the password is wrong and there is no terminal to retry', async function () {
      const { code, stdout, stderr } = await runFlowgate(['login', '--url', fixture.server().url], {}, undefined, 'alice\nnope\n');
      expect({ code, stdout }).to.deep.equal({ code: 1, stdout: '' });
      expect(stderr).to.equal('flowgate login: Wrong username or password.\n');
    });

    it('exits 1 when stdin ends before every field is answered', async function () {
      const { code, stderr } = await runFlowgate(['login', '--url', fixture.server().url], {}, undefined, 'alice\n');
      expect(code).to.equal(1);
      expectOneLine(stderr);
      expect(stderr).to.include('Password');
    });

    it('exits 2 on a provider the server does not have, naming the ones it has', async function () {
      const { code, stderr } = await runFlowgate(['login', '--url', fixture.server().url, '--provider', 'ldap'], {}, undefined, '');
      expect(code).to.equal(2);
      expect(stderr).to.equal('flowgate login: no provider "ldap" on this server; it has: insecure_example\n');
    });
  });

  describe('with several providers', function () {
    const fixture = useServer(() => ({ config: TWO_PROVIDERS }));

    it('asks for --provider when there is no terminal to choose on', async function () {
      const { code, stderr } = await runFlowgate(['login', '--url', fixture.server().url], {}, undefined, 'alice\nwonderland\n');
      expect(code).to.equal(2);
      expectOneLine(stderr);
      expect(stderr).to.include('--provider');
    });

    it('logs in with a password account created by flowgate user add', async function () {
      const config = join(fixture.server().dir, 'flowgate.yaml');
      const added = await runFlowgate(['user', 'add', 'bob', '--name', 'Bob', '--password-stdin', '--config', config], {}, undefined, 'hunter22hunter22\n');
      expect(added.code, added.stderr).to.equal(0);
      const args = ['login', '--url', fixture.server().url, '--provider', 'password', '--client-id', 'https://cli.example/'];
      const { code, stdout, stderr } = await runFlowgate(args, {}, undefined, 'bob\nhunter22hunter22\n');
      expect({ code, stderr }).to.deep.equal({ code: 0, stderr: '' });
      const tokens = JSON.parse(stdout) as Record<string, unknown>;
      (await authenticatedSocket(fixture.server().url, String(tokens['access_token']))).close();
    });
  });

  it('exits 1 with one line when the server cannot be reached', async function () {
    const url = `ws://127.0.0.1:${await findFreePort()}/api/websocket`;
    const { code, stdout, stderr } = await runFlowgate(['login', '--url', url], {}, undefined, '');
    expect({ code, stdout }).to.deep.equal({ code: 1, stdout: '' });
    expectOneLine(stderr);
    expect(stderr).to.include(`Cannot connect to ${url}`);
  });

  it('exits 2 with usage words when --url is missing', async function () {
    const { code, stderr } = await runFlowgate(['login'], {}, undefined, '');
    expect(code).to.equal(2);
    expect(stderr).to.include('--url is required');
  });
});

