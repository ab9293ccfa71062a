/** docker-compose.yml and deploy/haproxy.cfg describe one deployment: the same services, ports, health check, no stickiness. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { HAPROXY_CFG } from '../helpers/haproxy.js';

const COMPOSE = fileURLToPath(new URL('../../docker-compose.yml', import.meta.url));
const FLOWGATE_YAML = fileURLToPath(new URL('../../deploy/flowgate.yaml', import.meta.url));

interface Service {
  command?: string[];
  expose?: string[];
  ports?: string[];
  healthcheck?: { test?: string[] };
  volumes?: string[];
  environment?: Record<string, string>;
  networks?: Record<string, { ipv4_address?: string } | null>;
}

// The instances share one definition through a YAML merge key (<<: *flowgate), which the yaml package applies only on request.
const compose = parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  networks?: Record<string, { ipam?: { config?: Array<{ subnet?: string }> } }>;
};
const flowgateConfig = parse(readFileSync(FLOWGATE_YAML, 'utf8')) as { http?: { proxy_protocol?: boolean; trusted_proxies?: string[] } };
const haproxy = readFileSync(HAPROXY_CFG, 'utf8');
/** The config's lines without comments, so a word in a comment ("No cookie") is not read as a directive. */
const directives = haproxy
  .split('\n')
  .map((line) => line.replace(/#.*/, '').trim())
  .filter((line) => line !== '');
const flowgateServices = Object.keys(compose.services).filter((name) => /^flowgate\d+$/.test(name));
const servers = directives
  .filter((line) => line.startsWith('server '))
  .map((line) => {
    const [, name, address] = line.split(/\s+/);
    const [host, port] = String(address).split(':');
    return { name, host, port };
  });
const option = (args: string[], name: string): string | undefined => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};

describe('Deployment files (docker-compose.yml, deploy/haproxy.cfg)', function () {
  it('runs three Flowgate instances', function () {
    expect(flowgateServices).to.have.length(3);
  });

  it('names every Flowgate service as an haproxy server, and nothing else', function () {
    expect(servers.map((server) => server.name).sort()).to.deep.equal([...flowgateServices].sort());
    expect(servers.every((server) => server.host === server.name)).to.equal(true);
  });

  it('points haproxy at the port the instances listen on and expose', function () {
    for (const name of flowgateServices) {
      const service = compose.services[name]!;
      const port = option(service.command ?? [], '--port');
      expect(port, name).to.be.a('string');
      expect(service.expose, name).to.include(port);
      expect(servers.find((server) => server.name === name)?.port, name).to.equal(port);
    }
  });

  it('publishes the haproxy frontend port from the haproxy service', function () {
    const bind = directives.find((line) => line.startsWith('bind '));
    const port = bind?.match(/:(\d+)\b/)?.[1];
    expect(compose.services['haproxy']?.ports?.some((mapping) => mapping.endsWith(`:${port}`))).to.equal(true);
    expect(compose.services['haproxy']?.volumes?.some((volume) => volume.startsWith('./deploy/haproxy.cfg:'))).to.equal(true);
  });

  it('routes by readiness (/readyz) in haproxy and checks liveness (/healthz) in compose', function () {
    expect(directives.some((line) => /^http-check send .*\buri \/readyz\b/.test(line))).to.equal(true);
    for (const name of flowgateServices) {
      expect(compose.services[name]?.healthcheck?.test?.join(' '), name).to.match(/\/healthz\b/);
    }
  });

  it('balances round-robin with no stickiness', function () {
    expect(directives).to.include('balance roundrobin');
    expect(directives.filter((line) => /^(cookie|stick|stick-table|hash-type|appsession)\b/.test(line))).to.deep.equal([]);
    expect(directives.some((line) => /\bcookie\b/.test(line))).to.equal(false);
  });

  it('sends PROXY v2 to every instance, health checks included, and the instances trust exactly haproxy for it', function () {
    const defaultServer = directives.find((line) => line.startsWith('default-server ')) ?? '';
    expect(defaultServer.split(/\s+/)).to.include.members(['send-proxy-v2', 'check-send-proxy']);
    expect(flowgateConfig.http?.proxy_protocol).to.equal(true);
    const haproxyAddress = compose.services['haproxy']?.networks?.['default']?.ipv4_address;
    expect(haproxyAddress).to.be.a('string');
    expect(flowgateConfig.http?.trusted_proxies).to.deep.equal([haproxyAddress]);
    // The fixed address must lie in the compose network's fixed subnet, or Docker refuses to start haproxy.
    const subnet = compose.networks?.['default']?.ipam?.config?.[0]?.subnet ?? '';
    expect(String(haproxyAddress).split('.').slice(0, 3)).to.deep.equal(subnet.split('/')[0]?.split('.').slice(0, 3));
    for (const name of flowgateServices) {
      expect(compose.services[name]?.volumes?.some((volume) => volume.startsWith('./deploy/flowgate.yaml:')), name).to.equal(true);
    }
  });

  it('gives every instance the same secret_key, from the environment, refusing to start without one', function () {
    const keys = flowgateServices.map((name) => compose.services[name]?.environment?.['FLOWGATE_SECRET_KEY']);
    expect(new Set(keys)).to.have.length(1);
    expect(keys[0]).to.match(/^\$\{FLOWGATE_SECRET_KEY:\?.*openssl rand -base64 32\}$/);
  });

  it('gives every instance the same Redis, the compose redis service, which persists with AOF', function () {
    const stores = flowgateServices.map((name) => option(compose.services[name]?.command ?? [], '--store'));
    expect(new Set(stores)).to.deep.equal(new Set(['redis://redis:6379']));
    expect(compose.services['redis']?.command?.join(' ')).to.match(/--appendonly yes/);
  });
});
