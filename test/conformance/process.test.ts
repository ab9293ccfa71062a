/** The flowgate command as a process: config errors, an unreachable store, and a graceful drain on SIGTERM. */
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient } from '../helpers/raw-client.js';
import { runFlowgate, startServerProcess } from '../helpers/server-process.js';

/** A port nothing listens on (bound then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

describe('flowgate serve (process)', function () {
  it('stops on an unknown config key with exit code 2 and one line naming it', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-cli-'));
    writeFileSync(join(dir, 'flowgate.yaml'), 'auth_providers:\n  - type: insecure_example\n    users: []\n    userz: []\n');
    const { code, stdout, stderr } = await runFlowgate(['serve', '--config', join(dir, 'flowgate.yaml'), '--port', '0']);
    expect(code).to.equal(2);
    expect(stdout).to.equal('');
    expect(stderr.trim().split('\n')).to.have.length(1);
    expect(stderr).to.match(/^flowgate: Invalid config file .*: auth_providers\[0\]\.userz: unknown key/);
  });

  it('refuses an unknown option and an unknown command without a stack trace', async function () {
    const option = await runFlowgate(['serve', '--prot', '1']);
    expect(option.code).to.equal(2);
    expect(option.stderr).to.match(/^flowgate: Unknown option '--prot'/);
    const command = await runFlowgate(['srve']);
    expect(command.code).to.equal(2);
    expect(command.stderr.trim()).to.equal('flowgate: Unknown command "srve". Run "flowgate --help" to see the commands.');
  });

  it('refuses an unsupported store URL in one line', async function () {
    const { code, stderr } = await runFlowgate(['serve', '--store', 'mysql://db/flowgate', '--port', '0']);
    expect(code).to.equal(1);
    expect(stderr.trim().split('\n')).to.have.length(1);
    expect(stderr).to.contain('mysql://db/flowgate');
  });

  it('stays up while Redis is unreachable, answering unavailable and failing its readiness check', async function () {
    const server = await startServerProcess({ store: `redis://127.0.0.1:${await deadPort()}` });
    try {
      const { client } = await RawClient.open(server.url);
      const reply = (await client.command({ type: 'login_flow/init', handler: ['insecure_example', null], client_id: 'https://a/' })) as any;
      expect(reply.error.code).to.equal('unavailable');
      expect(await client.command({ type: 'ping' })).to.deep.include({ type: 'pong' });
      expect((await fetch(`${server.httpUrl}/healthz`)).status).to.equal(200);
      expect((await fetch(`${server.httpUrl}/readyz`)).status).to.equal(503);
      client.close();
      expect(server.child.exitCode).to.equal(null);
    } finally {
      await server.stop();
    }
  });

  it('closes an auth it cannot check while Redis is unreachable with 1013, not auth_invalid', async function () {
    const server = await startServerProcess({ store: `redis://127.0.0.1:${await deadPort()}` });
    try {
      const { client } = await RawClient.open(server.url);
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('a'.repeat(32))
        .setIssuedAt().setExpirationTime('30m').sign(new TextEncoder().encode('any key'));
      client.send({ type: 'auth', access_token: token });
      expect(await client.closed).to.deep.equal({ code: 1013, reason: 'store unavailable' });
    } finally {
      await server.stop();
    }
  });

  it('drains on SIGTERM: closes sockets with 1012 and exits 0', async function () {
    const server = await startServerProcess();
    const { client } = await RawClient.open(server.url);
    expect(await client.command({ type: 'ping' })).to.deep.include({ type: 'pong' });
    const exitCode = await server.stop('SIGTERM');
    expect(await client.closed).to.deep.equal({ code: 1012, reason: 'service restart' });
    expect(exitCode).to.equal(0);
  });
});
