/**
 * The conformance kit (`flowgate-conformance`, the built bin) as a process: it passes against Flowgate on the embedded store, on
 * Redis and behind haproxy with three instances, skips only what it was not given, and blames the right case of a broken server.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startBrokenServer, type BrokenServer } from '../helpers/broken-server.js';
import { BEHIND_HAPROXY, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { findFreePort } from '../helpers/redis-server.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { runFlowgate, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const KIT_BIN = fileURLToPath(new URL('../../conformance/bin/flowgate-conformance.js', import.meta.url));
const PROTOCOL_MD = fileURLToPath(new URL('../../docs/protocol.md', import.meta.url));

/** The password provider with argon2 cheap enough for tests (the kit logs in a dozen times per run). */
const CONFIG = { auth_providers: [{ type: 'password', argon2: { memory_kib: 1024, time_cost: 1, parallelism: 1 } }] };
/** The first user added is the owner and an administrator; the second is neither. */
const ADMIN = { username: 'alice', password: 'down-the-rabbit-hole' };
const USER = { username: 'bob', password: 'bob-the-builder' };
/** A full run covers every group; fewer passes than this means cases went missing. */
const MIN_PASSES = 70;

interface KitRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface JsonReport {
  stats: { tests: number; passes: number; pending: number; failures: number };
  passes: Array<{ title: string; fullTitle: string }>;
  pending: Array<{ title: string }>;
  failures: Array<{ title: string; err: { message: string } }>;
}

function runKit(args: string[]): Promise<KitRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KIT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function runJson(args: string[]): Promise<{ run: KitRun; report: JsonReport }> {
  const run = await runKit([...args, '--reporter', 'json']);
  let report: JsonReport;
  try {
    report = JSON.parse(run.stdout) as JsonReport;
  } catch {
    throw new Error(`the kit's json output does not parse (exit ${run.code}): ${run.stdout.slice(0, 500)} ${run.stderr.slice(0, 500)}`);
  }
  return { run, report };
}

/** Every option the kit takes, for a server whose users ADMIN and USER exist. */
function fullArgs(url: string, httpUrl: string): string[] {
  return [
    '--url', url, '--http', httpUrl, '--provider', 'password',
    '--username', USER.username, '--password', USER.password,
    '--admin-username', ADMIN.username, '--admin-password', ADMIN.password,
  ];
}

/** A temporary folder with the config, and the two users added with `flowgate user add` (on `store`, or the embedded one there). */
async function prepareUsers(store?: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-kit-'));
  const configPath = join(dir, 'flowgate.yaml');
  writeFileSync(configPath, stringify(CONFIG));
  for (const account of [ADMIN, USER]) {
    const args = ['user', 'add', account.username, '--password-stdin', '--config', configPath, ...(store === undefined ? [] : ['--store', store])];
    const added = await runFlowgate(args, {}, dir, `${account.password}\n`);
    expect(added.code, added.stderr).to.equal(0);
  }
  return dir;
}

function expectAllPassed(run: KitRun, report: JsonReport): void {
  const failures = report.failures.map((f) => `${f.title}: ${f.err.message}`);
  expect(failures.length, `failed cases:\n${failures.join('\n')}\n${run.stderr}`).to.equal(0);
  expect(run.code).to.equal(0);
  expect(report.stats.passes).to.be.greaterThan(MIN_PASSES);
  expect(report.stats.pending, 'every prerequisite was given').to.equal(0);
}

/** `Heading > Subheading` paths of docs/protocol.md (backticks dropped), with bold paragraph labels such as `**Id rules.**`. */
function protocolSections(): Set<string> {
  const sections = new Set<string>();
  const stack: string[] = [];
  for (const line of readFileSync(PROTOCOL_MD, 'utf8').split('\n')) {
    const heading = /^(#{2,4}) (.+)$/.exec(line);
    const bold = /^\*\*([^*]+?)\.\*\*/.exec(line);
    if (heading !== null) {
      const depth = heading[1]!.length - 2;
      stack.length = depth;
      stack.push(heading[2]!.replace(/`/g, ''));
      sections.add(stack.join(' > '));
    } else if (bold !== null && stack.length > 0) {
      sections.add([...stack, bold[1]!].join(' > '));
    }
  }
  return sections;
}

describe('flowgate-conformance (the kit as a process)', function () {
  this.timeout(120_000);

  describe('#arguments', function () {
    it('exits 2 with a one-line error naming the problem when --url is missing or an option is unknown', async function () {
      for (const args of [[], ['--url', 'ws://127.0.0.1:1/api/websocket', '--bogus'], ['--url', 'http://127.0.0.1:1/'], ['--url', 'ws://h/', '--username', 'u']]) {
        const run = await runKit(args);
        expect(run.code, args.join(' ')).to.equal(2);
        expect(run.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
        expect(run.stderr).to.match(/^flowgate-conformance: .+ \(see --help\)\n$/);
      }
    });

    it('prints its usage with --help and exits 0', async function () {
      const run = await runKit(['--help']);
      expect(run.code).to.equal(0);
      expect(run.stdout).to.contain('Usage: flowgate-conformance --url ws://HOST:PORT/api/websocket');
      expect(run.stdout).to.contain('--reporter spec|tap|json');
    });
  });

  describe('against Flowgate on the embedded store', function () {
    let server: ServerProcess | undefined;
    before(async function () {
      const dir = await prepareUsers();
      server = await startServerProcess({ dir, config: CONFIG });
    });
    after(async function () {
      await server?.stop();
    });

    it('passes every case, each title citing a section docs/protocol.md has', async function () {
      const { run, report } = await runJson(fullArgs(server!.url, server!.httpUrl));
      expectAllPassed(run, report);
      const sections = protocolSections();
      for (const { title } of report.passes) {
        const cited = /\[protocol\.md: ([^\]]+)\]/.exec(title)?.[1];
        expect(cited, `the citation of "${title}"`).to.be.a('string');
        expect(sections, `"${title}" cites a section docs/protocol.md does not have`).to.include(cited);
      }
    });

    it('skips exactly the cases whose options were not given, saying which options they need', async function () {
      const { run, report } = await runJson(['--url', server!.url]);
      expect(run.code).to.equal(0);
      expect(report.stats.failures).to.equal(0);
      expect(report.stats.pending).to.be.greaterThan(0);
      expect(report.stats.passes + report.stats.pending).to.equal(report.stats.tests);
      for (const { title } of report.pending) expect(title).to.match(/\(skipped: needs --(provider|admin-username|http)\b[^)]*\)$/);
      for (const { title } of report.passes) expect(title).to.not.contain('skipped');
      const { report: full } = await runJson(fullArgs(server!.url, server!.httpUrl));
      expect(full.stats.tests, 'the same cases, all run').to.equal(report.stats.tests);
    });

    it('prints the reason of a skipped case in the human-readable output', async function () {
      const run = await runKit(['--url', server!.url, '--grep', 'wrong password']);
      expect(run.code).to.equal(0);
      expect(run.stdout).to.match(/- answers a wrong password .+ \(skipped: needs --provider, --username and --password\)/);
    });
  });

  describe('against Flowgate on Redis', function () {
    const redis = usePrivateRedis();
    let server: ServerProcess | undefined;
    before(async function () {
      const dir = await prepareUsers(redis().url);
      server = await startServerProcess({ dir, config: CONFIG, store: redis().url });
    });
    after(async function () {
      await server?.stop();
    });

    it('passes every case', async function () {
      const { run, report } = await runJson(fullArgs(server!.url, server!.httpUrl));
      expectAllPassed(run, report);
    });
  });

  describe('against three Flowgate instances behind haproxy', function () {
    const redis = usePrivateRedis();
    let instances: Instances | undefined;
    let haproxy: RunningHaproxy | undefined;
    let port: number;
    before(async function () {
      await prepareUsers(redis().url);
      instances = await startInstances(3, redis().url, { config: { ...CONFIG, http: BEHIND_HAPROXY } });
      port = await findFreePort();
      haproxy = await startHaproxy(port, instances.all.map((instance) => instance.port));
    });
    after(async function () {
      await haproxy?.stop();
      await instances?.stop();
    });

    it('passes every case', async function () {
      const { run, report } = await runJson(fullArgs(haproxy!.url, `http://127.0.0.1:${port}`));
      expectAllPassed(run, report);
    });
  });

  describe('against a broken server (one that answers a repeated id with success)', function () {
    let server: ServerProcess | undefined;
    let broken: BrokenServer | undefined;
    before(async function () {
      const dir = await prepareUsers();
      server = await startServerProcess({ dir, config: CONFIG });
      broken = await startBrokenServer(server.url);
    });
    after(async function () {
      await broken?.stop();
      await server?.stop();
    });

    it('exits 1, failing exactly the id-rule cases, and names the case and its protocol section', async function () {
      const { run, report } = await runJson(['--url', broken!.url]);
      expect(run.code).to.equal(1);
      expect(report.failures.map((f) => f.title)).to.deep.equal([
        'answers id_reuse to an id that does not increase, and keeps serving [protocol.md: Commands and results (both phases) > Id rules]',
        'consumes the id of a valid envelope even when the command is refused [protocol.md: Commands and results (both phases) > Id rules]',
      ]);
      expect(report.failures[0]!.err.message).to.contain('expected the error "id_reuse", got {"id":5,"type":"result","success":true');
      expect(report.stats.passes).to.be.greaterThan(30);
    });

    it('says so in the human-readable output', async function () {
      const run = await runKit(['--url', broken!.url, '--grep', 'Id rules']);
      expect(run.code).to.equal(1);
      expect(run.stdout).to.match(/1\) .*answers id_reuse to an id that does not increase, and keeps serving \[protocol\.md: Commands and results \(both phases\) > Id rules\]/s);
      expect(run.stdout).to.contain('2 failing');
    });

    it('writes TAP that a TAP consumer reads: the version line first, a plan, and not ok for the failures', async function () {
      const run = await runKit(['--url', broken!.url, '--reporter', 'tap']);
      expect(run.code).to.equal(1);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines[0]).to.equal('TAP version 13');
      const plan = lines.find((line) => /^1\.\.\d+$/.test(line));
      expect(plan, 'the plan line').to.be.a('string');
      const results = lines.filter((line) => /^(not )?ok \d+ /.test(line));
      expect(results).to.have.length(Number(plan!.slice(3)));
      const failed = results.filter((line) => line.startsWith('not ok'));
      expect(failed).to.have.length(2);
      expect(failed[0]).to.match(/^not ok \d+ .*answers id_reuse to an id that does not increase.*\[protocol\.md: Commands and results \(both phases\) > Id rules\]$/);
      expect(results.filter((line) => line.endsWith('# SKIP -')).length).to.be.greaterThan(0);
    });
  });
});
