/**
 * Two small holes of the MFA setup, attacked on real `flowgate serve` processes: codes e-mailed in clear to an SMTP server
 * that offers no TLS (a real smtp-server without STARTTLS), and the text of an internal error answered to the client (a real
 * Redis whose settings key was damaged, so the store itself fails).
 */
import { expect } from 'chai';
import { createClient } from 'redis';
import { eventually } from '../helpers/instances.js';
import { startSmtpServer, type SmtpReceiver } from '../helpers/mail-and-webhook.js';
import { exampleUsers, signedInSocket } from '../helpers/mfa.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

type Reply = Record<string, any>;
const USERS = exampleUsers('ada', 'bea');
const [ADA, BEA] = USERS as [(typeof USERS)[number], (typeof USERS)[number]];

const logged = (server: ServerProcess, msg: string) => server.logs.filter((entry) => entry['msg'] === msg);

describe('notify over SMTP without TLS', function () {
  this.timeout(30_000);
  let smtp: SmtpReceiver;
  const servers: ServerProcess[] = [];
  const serve = async (smtpConfig: Record<string, unknown>): Promise<ServerProcess> => {
    const server = await startServerProcess({
      config: { auth_providers: [{ type: 'insecure_example', users: USERS }], mfa_modules: [{ type: 'notify', smtp: smtpConfig }] },
    });
    servers.push(server);
    return server;
  };
  /** The setup of `ada`'s e-mail target: what the step that sends the code answers. */
  async function sendSetupCode(server: ServerProcess): Promise<Reply> {
    const socket = await signedInSocket(server.url, ADA);
    try {
      const started: Reply = await socket.result({ type: 'auth/setup_mfa', mfa_module_id: 'notify' });
      return await socket.command({ type: 'auth/setup_mfa', flow_id: started['flow_id'], user_input: { target: 'ada@example.test' } });
    } finally {
      socket.close();
    }
  }

  beforeEach(async function () {
    // No STARTTLS offered, no credentials asked: a relay that would take the code in clear.
    smtp = await startSmtpServer();
  });
  afterEach(async function () {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
    await smtp.stop();
  });

  it('refuses to send a code in clear when the config does not allow it, and logs why', async function () {
    const { allow_plaintext: _allowed, ...plain } = smtp.config();
    const server = await serve(plain);
    const answer = await sendSetupCode(server);
    expect(answer['result']).to.include({ type: 'abort', reason: 'unknown_error' });
    expect(smtp.messages).to.have.length(0);
    // The log line may reach the test a moment after the answer.
    await eventually(async () => logged(server, 'an MFA code message was not delivered').length > 0, 5000, 'the log line');
    const [line] = logged(server, 'an MFA code message was not delivered');
    expect(JSON.stringify(line?.['err'])).to.match(/STARTTLS/);
  });

  it('sends in clear with smtp.allow_plaintext: true', async function () {
    const server = await serve(smtp.config({ allow_plaintext: true }));
    const answer = await sendSetupCode(server);
    expect(answer['result']).to.include({ type: 'form', step_id: 'setup' });
    expect(smtp.messages.map((mail) => mail.rcptTo)).to.deep.equal([['ada@example.test']]);
  });

  it('refuses to start with allow_plaintext and a password, which would go in clear', async function () {
    const started = serve(smtp.config({ allow_plaintext: true, user: 'flowgate', password: 'mail-password' }));
    const failure = await started.then(
      () => null,
      (error: unknown) => error,
    );
    expect(String(failure)).to.match(/smtp: allow_plaintext would send the password in clear/);
  });
});

describe('auth/depose_mfa when the store fails inside', function () {
  this.timeout(30_000);
  const redis = usePrivateRedis();
  let server: ServerProcess;
  before(async function () {
    server = await startServerProcess({
      store: redis().url,
      config: { auth_providers: [{ type: 'insecure_example', users: USERS }], mfa_modules: [{ type: 'recovery' }] },
    });
  });
  after(async function () {
    await server?.stop();
  });

  it('answers a sentence of its own, and keeps the internal error (a Redis reply) for the log', async function () {
    const socket = await signedInSocket(server.url, BEA);
    try {
      const started: Reply = await socket.result({ type: 'auth/setup_mfa', mfa_module_id: 'recovery' });
      await socket.result({ type: 'auth/setup_mfa', flow_id: started['flow_id'], user_input: {} });
      // The user's settings key turned into something the store's commands cannot work on.
      const client = createClient({ url: redis().url });
      await client.connect();
      try {
        const [key, ...others] = await client.keys('*:mfa:*');
        expect(key, 'the one user with MFA has one settings key').to.be.a('string');
        expect(others).to.deep.equal([]);
        await client.set(key!, 'damaged');
      } finally {
        await client.quit();
      }
      const refused: Reply = await socket.command({ type: 'auth/depose_mfa', mfa_module_id: 'recovery' });
      expect(refused['success']).to.equal(false);
      expect(refused['error']).to.deep.equal({
        code: 'disable_failed',
        message: "MFA module recovery could not be turned off; try again later, or ask the administrator to look at the server's log",
      });
      await eventually(async () => /WRONGTYPE/.test(JSON.stringify(server.logs)), 5000, 'the cause in the log');
    } finally {
      socket.close();
    }
  });
});
