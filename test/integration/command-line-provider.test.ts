/** The command_line provider on real stores with real programs: HA's protocol (env, exit status, meta) and Flowgate's limits. */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { AuthManager } from '../../server/src/auth/manager.js';
import { getOrCreateUser } from '../../server/src/auth/users.js';
import { loadConfig } from '../../server/src/config/config.js';
import {
  commandLineProvider,
  MAX_STDERR_LOG_BYTES,
  parseMeta,
  REDACTED,
  redactedStderr,
  type CommandLineConfig,
} from '../../server/src/providers/command-line.js';
import type { AuthProvider, ProviderLogger } from '../../server/src/providers/provider.js';
import { VerifyGate } from '../../server/src/providers/verify-gate.js';
import type { Store, User } from '../../server/src/store/types.js';
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
import { eventually } from '../helpers/instances.js';
import { testServerSecret } from '../helpers/server-secret.js';
import { BACKENDS, freshStore } from '../helpers/stores.js';

const CLIENT_ID = 'https://app.example/';
const HANDLER: [string, null] = ['command_line', null];

/** Every line a provider logged, with its fields. */
class RecordingLogger implements ProviderLogger {
  readonly lines: Array<{ level: 'warn' | 'info'; msg: string; fields: Record<string, unknown> }> = [];
  warn(fields: object, msg: string): void {
    this.lines.push({ level: 'warn', msg, fields: fields as Record<string, unknown> });
  }
  info(fields: object, msg: string): void {
    this.lines.push({ level: 'info', msg, fields: fields as Record<string, unknown> });
  }
  text(): string {
    return JSON.stringify(this.lines, (_key, value: unknown) => (value instanceof Error ? value.message : value));
  }
}

describe('command_line config', function () {
  function load(provider: Record<string, unknown>) {
    const dir = scriptFolder();
    const path = join(dir, 'flowgate.yaml');
    writeFileSync(path, stringify({ auth_providers: [{ type: 'command_line', ...provider }] }));
    return () => loadConfig({ configPath: path, env: {}, cwd: dir });
  }

  it('takes HA defaults for args, meta and the name, and 10 s as the timeout', function () {
    const [provider] = load({ command: '/usr/local/bin/check-login' })().authProviders;
    expect(provider).to.deep.equal({ type: 'command_line', command: '/usr/local/bin/check-login' });
    const created = commandLineProvider.create(provider as CommandLineConfig, { store: null as unknown as Store });
    expect(created).to.deep.include({ type: 'command_line', id: null, name: 'Command Line Authentication', refreshUserMeta: false });
  });

  it('refuses a command that is not an absolute path, naming the key', function () {
    expect(load({ command: 'check-login' })).to.throw(/auth_providers\[0\]\.command.*absolute path/);
  });

  it('refuses a timeout that is not a positive number of seconds, or is past the maximum', function () {
    expect(load({ command: '/bin/true', timeout_seconds: 0 })).to.throw(/timeout_seconds/);
    expect(load({ command: '/bin/true', timeout_seconds: 100000 })).to.throw(/timeout_seconds/);
  });

  it('refuses an unknown key, so a typo is not ignored', function () {
    expect(load({ command: '/bin/true', metadata: true })).to.throw(/unknown key/);
  });
});

describe('parseMeta', function () {
  it('reads name, group and local_only lines as HA does: comments, blanks and other keys skipped, later lines winning', function () {
    const stdout = Buffer.from('# a comment\n  name = Bob \nno equals sign\nshell=/bin/sh\nname=Alice Liddell\r\ngroup= system-admin\nlocal_only=true\n');
    expect(parseMeta(stdout)).to.deep.equal({ name: 'Alice Liddell', group: 'system-admin', local_only: true });
  });

  it('takes local_only as true only for exactly "true"', function () {
    expect(parseMeta(Buffer.from('local_only=True\n'))).to.deep.equal({ local_only: false });
    expect(parseMeta(Buffer.from('local_only=yes\n'))).to.deep.equal({ local_only: false });
  });

  it('skips a line that is not UTF-8, an unknown group and an overlong name, telling of the last two', function () {
    const told: string[] = [];
    const stdout = Buffer.concat([Buffer.from('name=\xff\xfe\n', 'latin1'), Buffer.from(`group=wizards\nname=${'x'.repeat(2000)}\n`)]);
    expect(parseMeta(stdout, (key) => told.push(key))).to.deep.equal({});
    expect(told).to.deep.equal(['group', 'name']);
  });
});

describe('redactedStderr', function () {
  it('replaces every occurrence of the password', function () {
    expect(redactedStderr(Buffer.from('got s3cret, s3cret again'), false, 's3cret')).to.equal(`got ${REDACTED}, ${REDACTED} again`);
  });

  it('drops the start of a password cut off by the capture limit', function () {
    const text = `${'.'.repeat(MAX_STDERR_LOG_BYTES - 3)}s3c`;
    const logged = redactedStderr(Buffer.from(text), true, 's3cret');
    expect(logged).to.equal('.'.repeat(MAX_STDERR_LOG_BYTES - 3));
  });
});

for (const backend of BACKENDS) {
  describe(`command_line provider (${backend} store)`, function () {
    this.timeout(20000);
    let store: Store;
    let dir: string;
    let logger: RecordingLogger;

    beforeEach(async function () {
      store = await freshStore(backend);
      dir = scriptFolder();
      logger = new RecordingLogger();
    });
    afterEach(async () => store.close());

    function setUp(config: Omit<CommandLineConfig, 'type'>, gate?: VerifyGate): { auth: AuthManager; provider: AuthProvider } {
      const provider = commandLineProvider.create(
        { type: 'command_line', ...config },
        { store, logger, ...(gate === undefined ? {} : { verifyGate: gate }) },
      );
      return { auth: new AuthManager({ store, serverSecret: testServerSecret(), providers: [provider] }), provider };
    }

    async function attempt(auth: AuthManager, username: string, password: string): Promise<any> {
      const form = await auth.startLogin(HANDLER, { clientId: CLIENT_ID, redirectUri: null, remoteAddress: '127.0.0.1', deviceToken: null });
      return auth.loginStep(String(form.flow_id), CLIENT_ID, { username, password });
    }

    /** Logs in and exchanges the code as the token endpoint does: the user, created or refreshed from the credential. */
    async function loginUser(auth: AuthManager, provider: AuthProvider, username = 'alice', password = 'wonderland'): Promise<User> {
      const done = await attempt(auth, username, password);
      expect(done.type, JSON.stringify(done)).to.equal('create_entry');
      const code = await store.takeCode(String(done.result), CLIENT_ID);
      const credential = await store.getCredential(String(code?.['credential_id']));
      if (credential === null) throw new Error('the code names no credential');
      return getOrCreateUser(store, provider, credential);
    }

    describe('#loginFlow', function () {
      it('logs in when the program exits 0, making a user named by its username without meta', async function () {
        const { auth, provider } = setUp({ command: writeScript(dir, 'yes.sh', 'echo name=Ignored; exit 0') });
        const user = await loginUser(auth, provider);
        expect(user.name).to.equal('alice');
      });

      it('answers one invalid_auth for a refusal (exit 1), a missing program and one that may not be run', async function () {
        const notExecutable = join(dir, 'plain.sh');
        writeFileSync(notExecutable, '#!/bin/sh\nexit 0\n');
        for (const command of [writeScript(dir, 'no.sh', 'exit 1'), join(dir, 'missing'), notExecutable]) {
          const { auth } = setUp({ command });
          const reply = await attempt(auth, 'alice', 'wonderland');
          expect(reply, command).to.deep.include({ type: 'form', step_id: 'init', errors: { base: 'invalid_auth' } });
        }
        expect(await store.listUsers()).to.deep.equal([]);
        const reasons = logger.lines.filter((l) => l.msg.startsWith('login program could not be started')).map((l) => l.fields['error_code']);
        expect(reasons).to.deep.equal(['ENOENT', 'EACCES']);
      });

      it('refuses a program killed by a signal', async function () {
        const { auth } = setUp({ command: writeScript(dir, 'killed.sh', 'kill -9 $$') });
        expect((await attempt(auth, 'alice', 'wonderland')).errors).to.deep.equal({ base: 'invalid_auth' });
      });

      it('gives the program exactly username and password in its environment, and its args on the command line', async function () {
        const envFile = join(dir, 'env');
        const argsFile = join(dir, 'args');
        const command = writeScript(dir, 'env.sh', `${DUMP_ENV(envFile)}\nfor a in "$@"; do echo "$a"; done > "${argsFile}"`);
        const { auth } = setUp({ command, args: ['--realm', 'home lab'] });
        expect((await attempt(auth, '  alice  ', 'p@ss word')).type).to.equal('create_entry');
        expect(readEnvDump(envFile)).to.deep.equal({ username: 'alice', password: 'p@ss word' });
        expect(readFileSync(argsFile, 'utf8')).to.equal('--realm\nhome lab\n');
      });

      it('passes a username full of shell metacharacters verbatim: no shell ever reads it', async function () {
        const envFile = join(dir, 'env');
        const marker = join(dir, 'pwned');
        const { auth } = setUp({ command: writeScript(dir, 'env.sh', DUMP_ENV(envFile)) });
        const username = `a'; touch ${marker}; echo "$(id)" \`id\` | & > <`;
        expect((await attempt(auth, username, '$HOME;*')).type).to.equal('create_entry');
        expect(readEnvDump(envFile)).to.deep.equal({ username, password: '$HOME;*' });
        expect(() => readFileSync(marker)).to.throw(/ENOENT/);
      });

      it('answers invalid_auth for a NUL byte no program can be given, logging no password', async function () {
        const { auth } = setUp({ command: writeScript(dir, 'yes.sh', 'exit 0') });
        expect((await attempt(auth, 'alice', 'wonder\0land')).errors).to.deep.equal({ base: 'invalid_auth' });
        expect(logger.text()).not.to.include('wonder');
      });

      it('kills the program and its children past timeout_seconds, refusing the login and saying why', async function () {
        const { path, pidFiles } = sleeperScript(dir);
        const { auth } = setUp({ command: path, timeout_seconds: 1 });
        const started = Date.now();
        const reply = await attempt(auth, 'alice', 'wonderland');
        expect(Date.now() - started).to.be.within(900, 2000);
        expect(reply.errors).to.deep.equal({ base: 'invalid_auth' });
        const pids = readPids(pidFiles);
        expect(pids).to.have.length(2);
        // SIGKILL is delivered at once, but the kernel needs a moment to tear a process down.
        await eventually(async () => pids.every(processGone), 1000, 'the program and its child exiting');
        expect(logger.lines).to.deep.include.members([
          {
            level: 'warn',
            msg: 'login program ran past its timeout (1 s) and was killed; the login is refused',
            fields: { command: path, username: 'alice', timeout_seconds: 1 },
          },
        ]);
      });

      it('does not wait for a child the program left running once it exited 0', async function () {
        const { auth } = setUp({ command: writeScript(dir, 'daemon.sh', '/bin/sleep 30 &\nexit 0'), timeout_seconds: 5 });
        const started = Date.now();
        expect((await attempt(auth, 'alice', 'wonderland')).type).to.equal('create_entry');
        expect(Date.now() - started).to.be.below(2000);
      });

      it('kills a program whose stdout passes the limit and refuses the login, reading no more of it', async function () {
        const { auth } = setUp({ command: writeScript(dir, 'flood.sh', '/usr/bin/yes name=x'), meta: true, timeout_seconds: 10 });
        const started = Date.now();
        expect((await attempt(auth, 'alice', 'wonderland')).errors).to.deep.equal({ base: 'invalid_auth' });
        expect(Date.now() - started).to.be.below(3000);
        expect(logger.lines.map((line) => line.msg)).to.include('login program printed more than 65536 bytes and was killed; the login is refused');
      });

      it('never reads stdout without meta: a flood there costs nothing and the exit status decides', async function () {
        const command = writeScript(dir, 'flood.sh', '/usr/bin/head -c 20000000 /dev/zero; exit 0');
        const { auth } = setUp({ command });
        expect((await attempt(auth, 'alice', 'wonderland')).type).to.equal('create_entry');
      });

      it('logs the program stderr with every occurrence of the password redacted', async function () {
        const command = writeScript(dir, 'chatty.sh', 'echo "checking $username with $password (again: $password)" >&2; exit 1');
        const { auth } = setUp({ command });
        await attempt(auth, 'alice', 'Tr0ub4dor&3');
        expect(logger.text()).not.to.include('Tr0ub4dor');
        const line = logger.lines.find((l) => l.msg === 'login program wrote to stderr');
        expect(line?.fields['stderr']).to.equal(`checking alice with ${REDACTED} (again: ${REDACTED})\n`);
      });

      it('keeps only the start of a stderr flood, still redacted', async function () {
        const command = writeScript(dir, 'noisy.sh', '/usr/bin/yes "$password" | /usr/bin/head -c 1000000 >&2; exit 1');
        const { auth } = setUp({ command });
        await attempt(auth, 'alice', 'hunter2');
        const line = logger.lines.find((l) => l.msg === 'login program wrote to stderr');
        expect(String(line?.fields['stderr'])).to.match(/^(\[password redacted\]\n)+/);
        expect(String(line?.fields['stderr']).length).to.be.at.most(MAX_STDERR_LOG_BYTES);
        expect(line?.fields['stderr_truncated']).to.equal(true);
        expect(logger.text()).not.to.include('hunter');
      });

      it('runs programs through the verify gate: past its queue, a login is refused with unavailable', async function () {
        const { auth } = setUp({ command: writeScript(dir, 'slow.sh', '/bin/sleep 1; exit 0') }, new VerifyGate(1, 0));
        const first = attempt(auth, 'alice', 'wonderland');
        await new Promise((resolve) => setTimeout(resolve, 200));
        const second = await attempt(auth, 'bob', 'builder').then(
          () => null,
          (error: unknown) => error,
        );
        expect(second).to.have.property('code', 'unavailable');
        expect((await first).type).to.equal('create_entry');
      });
    });

    describe('meta', function () {
      it("applies the program's name, group and local_only to the user it creates", async function () {
        await store.createUser({ id: 'owner', name: 'Owner', isActive: true, groupIds: ['system-admin'], localOnly: false, createdAt: 1 });
        const { auth, provider } = setUp({ command: metaScript(dir), meta: true });
        writeMeta(dir, 'name=Alice Liddell\ngroup=system-read-only\nlocal_only=true');
        const user = await loginUser(auth, provider);
        expect(user).to.deep.include({ name: 'Alice Liddell', groupIds: ['system-read-only'], localOnly: true, isAdmin: false });
      });

      it('keeps the latest meta in the credential and re-applies it at the next login', async function () {
        const { auth, provider } = setUp({ command: metaScript(dir), meta: true });
        const first = await loginUser(auth, provider);
        expect(first.name).to.equal('Alice Liddell');
        writeMeta(dir, 'name=Alice Pleasance Liddell\nlocal_only=true');
        const second = await loginUser(auth, provider);
        expect(second).to.deep.include({ id: first.id, name: 'Alice Pleasance Liddell', localOnly: true });
        const credential = await store.findCredential('command_line', null, 'alice');
        expect(credential?.data).to.deep.equal({ username: 'alice', meta: { name: 'Alice Pleasance Liddell', local_only: true } });
      });

      it('leaves an existing user its name and local_only when the program prints none (HA)', async function () {
        const { auth, provider } = setUp({ command: metaScript(dir), meta: true });
        const first = await loginUser(auth, provider);
        await store.updateUser(first.id, { name: 'Renamed by an admin', localOnly: true });
        writeMeta(dir, '# nothing to say');
        expect(await loginUser(auth, provider)).to.deep.include({ name: 'Renamed by an admin', localOnly: true });
      });

      it('refuses a wrong password through the same program with invalid_auth', async function () {
        const { auth } = setUp({ command: metaScript(dir), meta: true });
        expect((await attempt(auth, 'alice', 'nope')).errors).to.deep.equal({ base: 'invalid_auth' });
        expect((await attempt(auth, 'mallory', 'wonderland')).errors).to.deep.equal({ base: 'invalid_auth' });
      });
    });
  });
}
