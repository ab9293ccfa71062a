/** `flowgate login` as a real process: its device token file, the opt-outs, and one readable line when rate limited. */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { findFreePort } from '../helpers/redis-server.js';
import { runFlowgate } from '../helpers/server-process.js';
import { useServer } from '../helpers/server-fixture.js';

const PASSWORD = 'hunter22hunter22';
const LIMITS = { account_failures: 2, address_failures: 1000 };

/** A private config home per run, so no test reads or writes the real ~/.config. */
function configHome(): { env: NodeJS.ProcessEnv; file: string } {
  const home = mkdtempSync(join(tmpdir(), 'flowgate-cli-home-'));
  return { env: { XDG_CONFIG_HOME: home, FLOWGATE_NO_DEVICE_TOKEN: '' }, file: join(home, 'flowgate', 'device-tokens.json') };
}

describe('flowgate login device tokens', function () {
  // Several process starts per test (each ~0.5 s on a small machine).
  this.timeout(60_000);

  describe('against a real server', function () {
    const fixture = useServer(() => ({ config: { auth_providers: [{ type: 'password' }], login_limits: LIMITS } }));
    const login = (user: string, password: string, env: NodeJS.ProcessEnv, extra: string[] = []) =>
      runFlowgate(['login', '--url', fixture.server().url, '--provider', 'password', ...extra], env, undefined, `${user}\n${password}\n`);

    before(async function () {
      const config = join(fixture.server().dir, 'flowgate.yaml');
      for (const name of ['frank', 'grace']) {
        const added = await runFlowgate(['user', 'add', name, '--password-stdin', '--config', config], {}, undefined, `${PASSWORD}\n`);
        expect(added.code, added.stderr).to.equal(0);
      }
    });

    it('neither reads nor writes a device token file with --no-device-token or FLOWGATE_NO_DEVICE_TOKEN=1', async function () {
      const home = configHome();
      expect((await login('frank', PASSWORD, home.env, ['--no-device-token'])).code).to.equal(0);
      expect((await login('frank', PASSWORD, { ...home.env, FLOWGATE_NO_DEVICE_TOKEN: '1' })).code).to.equal(0);
      expect(existsSync(home.file)).to.equal(false);
    });

    // Needs the server side of issue 9 (device_token in the auth/token reply).
    it('keeps the device token in $XDG_CONFIG_HOME/flowgate/device-tokens.json, readable by its owner only, keyed by the URL', async function () {
      const home = configHome();
      const { code, stderr } = await login('frank', PASSWORD, home.env);
      expect({ code, stderr }).to.deep.equal({ code: 0, stderr: '' });
      const tokens = JSON.parse(readFileSync(home.file, 'utf8')) as Record<string, unknown>;
      expect(Object.keys(tokens)).to.deep.equal([fixture.server().url]);
      expect(tokens[fixture.server().url]).to.be.a('string').and.not.equal('');
      expect(statSync(home.file).mode & 0o777).to.equal(0o600);
    });

    // Needs the server side of issue 9 (device tokens and the per-account limit).
    it('logs in with the kept token while the account is locked, and says the wait in one line without it', async function () {
      const home = configHome();
      expect((await login('grace', PASSWORD, home.env)).code, 'the first login keeps a token').to.equal(0);
      for (let i = 0; i < LIMITS.account_failures; i++) expect((await login('grace', 'guess', home.env, ['--no-device-token'])).code).to.equal(1);
      const refused = await login('grace', PASSWORD, home.env, ['--no-device-token']);
      expect({ code: refused.code, stdout: refused.stdout }).to.deep.equal({ code: 1, stdout: '' });
      expect(refused.stderr).to.match(/^flowgate login: Too many failed attempts\. Try again in \d+ (seconds?|minutes?|hours?)( and \d+ minutes?)?\.\n$/);
      const trusted = await login('grace', PASSWORD, home.env);
      expect({ code: trusted.code, stderr: trusted.stderr }).to.deep.equal({ code: 0, stderr: '' });
    });

    // Needs the server side of issue 9 (a token to save).
    it('warns once on stderr when the token file cannot be written, and still logs in', async function () {
      const home = configHome();
      // The config home is a file, so the flowgate folder cannot be created in it.
      writeFileSync(String(home.env['XDG_CONFIG_HOME']) + '.file', '');
      const env = { ...home.env, XDG_CONFIG_HOME: String(home.env['XDG_CONFIG_HOME']) + '.file' };
      const { code, stdout, stderr } = await login('frank', PASSWORD, env);
      expect(code).to.equal(0);
      expect(JSON.parse(stdout)).to.have.property('access_token');
      expect(stderr).to.match(/^flowgate login: warning: cannot use the device token file .*device-tokens\.json .*FLOWGATE_NO_DEVICE_TOKEN=1.*\n$/);
    });
  });

  describe('against a server that refuses with rate_limited', function () {
    let fake: WebSocketServer | undefined;
    afterEach(() => fake?.close());

    /** Offers the password provider and refuses every login_flow/init with `error`. */
    async function refusingServer(error: Record<string, unknown>): Promise<string> {
      const port = await findFreePort();
      fake = new WebSocketServer({ port, host: '127.0.0.1' });
      fake.on('connection', (socket) => {
        socket.send(JSON.stringify({ type: 'auth_required', ha_version: '2024.1.0', server: 'flowgate', version: '0.1.0', protocol: 1, instance: 'fake' }));
        socket.on('message', (data) => {
          const { id, type } = JSON.parse(data.toString()) as { id: number; type: string };
          if (type === 'auth/providers') socket.send(JSON.stringify({ id, type: 'result', success: true, result: [{ type: 'password', id: null, name: 'Password' }] }));
          else socket.send(JSON.stringify({ id, type: 'result', success: false, error }));
        });
      });
      return `ws://127.0.0.1:${port}/api/websocket`;
    }

    it('exits 1 with one line that says the wait', async function () {
      const url = await refusingServer({ code: 'rate_limited', message: 'Too many failed logins from your address', retry_after: 240 });
      const { code, stdout, stderr } = await runFlowgate(['login', '--url', url], configHome().env, undefined, 'alice\nguess\n');
      expect({ code, stdout, stderr }).to.deep.equal({ code: 1, stdout: '', stderr: 'flowgate login: Too many failed attempts. Try again in 4 minutes.\n' });
    });
  });
});
