/** `/metrics` of a real flowgate process: the instruments and their labels, what moves them, and who may scrape them where. */
import { expect } from 'chai';
import { eventually } from '../helpers/instances.js';
import { loginTokens } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { findFreePort } from '../helpers/redis-server.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const TOKEN = 'scrape-me-4c1b7e0d9a';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** The samples of a Prometheus text scrape (what Prometheus itself reads), without the HELP/TYPE comments. */
function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match === null) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

function value(scrape: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return scrape.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

async function scrape(url: string, token = TOKEN): Promise<Sample[]> {
  const response = await fetch(url, bearer(token));
  expect(response.status).to.equal(200);
  return samples(await response.text());
}

describe('GET /metrics', function () {
  this.timeout(20_000);

  describe('on the public port with metrics.token', function () {
    let server: ServerProcess;
    const metricsUrl = () => `${server.httpUrl}/metrics`;
    before(async function () {
      server = await startServerProcess({ config: { ...EXAMPLE_CONFIG, metrics: { token: TOKEN } } });
    });
    after(async function () {
      await server.stop();
    });

    it('answers 401 without a token and with a wrong one', async function () {
      for (const init of [{}, bearer('scrape-me-4c1b7e0d9b'), bearer(''), { headers: { authorization: TOKEN } }]) {
        const response = await fetch(metricsUrl(), init);
        expect(response.status).to.equal(401);
        expect(response.headers.get('www-authenticate')).to.match(/^Bearer/);
        expect(await response.text()).not.to.contain('flowgate_');
      }
    });

    it('serves every instrument in the Prometheus text format with the token, and the default process metrics', async function () {
      const response = await fetch(metricsUrl(), bearer(TOKEN));
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      for (const [name, type] of [
        ['flowgate_login_attempts_total', 'counter'],
        ['flowgate_lockouts_total', 'counter'],
        ['flowgate_sockets', 'gauge'],
        ['flowgate_flow_steps_total', 'counter'],
        ['flowgate_mfa_codes_total', 'counter'],
        ['flowgate_store_errors_total', 'counter'],
        ['flowgate_command_duration_seconds', 'histogram'],
        ['process_cpu_user_seconds_total', 'counter'],
        ['nodejs_heap_size_used_bytes', 'gauge'],
      ]) {
        expect(text, name).to.contain(`# TYPE ${name} ${type}\n`);
      }
      const scraped = samples(text);
      for (const kind of ['address', 'account', 'device', 'ban']) expect(value(scraped, 'flowgate_lockouts_total', { kind }), kind).to.be.a('number');
      for (const type of ['form', 'create_entry', 'abort', 'menu']) expect(value(scraped, 'flowgate_flow_steps_total', { type }), type).to.be.a('number');
      for (const state of ['unauthenticated', 'authenticated']) expect(value(scraped, 'flowgate_sockets', { state }), state).to.be.a('number');
      for (const purpose of ['login', 'setup']) {
        for (const result of ['sent', 'refused', 'failed']) expect(value(scraped, 'flowgate_mfa_codes_total', { purpose, result }), `${purpose} ${result}`).to.equal(0);
      }
      expect(value(scraped, 'flowgate_store_errors_total')).to.equal(0);
    });

    it('moves the sockets gauge when a socket opens, authenticates and closes', async function () {
      const sockets = async () => {
        const scraped = await scrape(metricsUrl());
        return [value(scraped, 'flowgate_sockets', { state: 'unauthenticated' }), value(scraped, 'flowgate_sockets', { state: 'authenticated' })];
      };
      const login = (await RawClient.open(server.url)).client;
      const tokens = await loginTokens(login);
      login.close();
      await eventually(async () => (await sockets())[0] === 0, 5_000, 'the login socket to be gone');
      const { client } = await RawClient.open(server.url);
      expect(await sockets()).to.deep.equal([1, 0]);
      client.send({ type: 'auth', access_token: tokens.access_token });
      expect(await client.next()).to.deep.include({ type: 'auth_ok' });
      expect(await sockets()).to.deep.equal([0, 1]);
      client.close();
      await eventually(async () => (await sockets())[1] === 0, 5_000, 'the gauge to drop');
      expect(await sockets()).to.deep.equal([0, 0]);
    });

    it('counts a ping in the command duration histogram, and never labels a command type a client made up', async function () {
      const pings = async () => value(await scrape(metricsUrl()), 'flowgate_command_duration_seconds_count', { command: 'ping' }) ?? 0;
      const before = await pings();
      const { client } = await RawClient.open(server.url);
      expect(await client.command({ type: 'ping' })).to.deep.include({ type: 'pong' });
      expect((await client.command({ type: 'made/up_command' }))['success']).to.equal(false);
      client.close();
      expect(await pings()).to.equal(before + 1);
      const scraped = await scrape(metricsUrl());
      expect(value(scraped, 'flowgate_command_duration_seconds_bucket', { command: 'ping', le: '+Inf' })).to.equal(before + 1);
      expect(scraped.filter((s) => s.labels['command'] === 'made/up_command')).to.deep.equal([]);
    });
  });

  describe('on a separate listener with metrics.port', function () {
    let server: ServerProcess;
    let metricsPort: number;
    before(async function () {
      metricsPort = await findFreePort();
      server = await startServerProcess({ config: { ...EXAMPLE_CONFIG, metrics: { port: metricsPort } } });
    });
    after(async function () {
      await server.stop();
    });

    it('serves /metrics there without a token, bound to loopback by default', async function () {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(response.status).to.equal(200);
      expect(await response.text()).to.contain('# TYPE flowgate_sockets gauge');
      const listening = server.logs.find((line) => line['msg'] === 'metrics listening');
      expect(listening).to.deep.include({ host: '127.0.0.1', port: metricsPort });
    });

    it('serves nothing but /metrics on that listener', async function () {
      expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).to.equal(404);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/`)).status).to.equal(404);
    });

    it('answers 404 for /metrics on the public port when no token is configured', async function () {
      expect((await fetch(`${server.httpUrl}/metrics`)).status).to.equal(404);
      expect((await fetch(`${server.httpUrl}/metrics`, bearer(TOKEN))).status).to.equal(404);
    });
  });

  describe('flowgate_store_errors_total', function () {
    it('counts the store calls that failed while the store is unreachable', async function () {
      const server = await startServerProcess({
        config: { ...EXAMPLE_CONFIG, metrics: { token: TOKEN } },
        store: `redis://127.0.0.1:${await findFreePort()}`,
      });
      try {
        const { client } = await RawClient.open(server.url);
        const reply = (await client.command({ type: 'login_flow/init', handler: ['insecure_example', null], client_id: 'https://a.example/' })) as any;
        expect(reply.error.code).to.equal('unavailable');
        client.close();
        expect(value(await scrape(`${server.httpUrl}/metrics`), 'flowgate_store_errors_total')).to.be.at.least(1);
      } finally {
        await server.stop();
      }
    });
  });
});
