import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../server/src/config/config.js';

function withConfigFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-config-'));
  const path = join(dir, 'flowgate.yaml');
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', function () {
  it('uses defaults without a config file, with the data folder in the working directory', function () {
    const config = loadConfig({ env: {}, cwd: '/srv/app' });
    expect(config).to.deep.include({ port: 8123, host: '0.0.0.0', storeUrl: undefined, configPath: null, dataDir: '/srv/app/flowgate-data' });
  });

  it('reads a Home Assistant-shaped file and puts the data folder beside it', function () {
    const path = withConfigFile(
      'port: 9000\nstore: redis://localhost:6379\nauth_providers:\n  - type: insecure_example\n    users:\n      - {username: a, password: b, name: A}\n',
    );
    const config = loadConfig({ configPath: path, env: {}, cwd: '/' });
    expect(config.port).to.equal(9000);
    expect(config.storeUrl).to.equal('redis://localhost:6379');
    expect(config.dataDir).to.equal(join(path, '..', 'flowgate-data'));
    expect(config.authProviders).to.deep.equal([{ type: 'insecure_example', users: [{ username: 'a', password: 'b', name: 'A' }] }]);
  });

  it('lets flags win over the environment, and the environment over the file', function () {
    const path = withConfigFile('port: 9000\nstore: sqlite:file.db\n');
    const fromEnv = loadConfig({ configPath: path, env: { FLOWGATE_PORT: '9001', FLOWGATE_STORE: 'redis://r:1' }, cwd: '/' });
    expect([fromEnv.port, fromEnv.storeUrl]).to.deep.equal([9001, 'redis://r:1']);
    const fromFlags = loadConfig({ configPath: path, port: '9002', storeUrl: 'redis://f:2', env: { FLOWGATE_PORT: '9001' }, cwd: '/' });
    expect([fromFlags.port, fromFlags.storeUrl]).to.deep.equal([9002, 'redis://f:2']);
  });

  it('stops on an unknown key, naming its path', function () {
    const path = withConfigFile('prot: 9000\n');
    expect(() => loadConfig({ configPath: path, env: {}, cwd: '/' })).to.throw(ConfigError, /prot: unknown key/);
  });

  it('stops on a mistyped key inside a provider, naming its full path', function () {
    const path = withConfigFile('auth_providers:\n  - type: insecure_example\n    users:\n      - {username: a, password: 5}\n');
    expect(() => loadConfig({ configPath: path, env: {}, cwd: '/' })).to.throw(
      ConfigError,
      /auth_providers\[0\]\.users\[0\]\.password: expected string, got 5/,
    );
  });

  it('stops on an unknown provider type', function () {
    const path = withConfigFile('auth_providers:\n  - type: ldap\n');
    expect(() => loadConfig({ configPath: path, env: {}, cwd: '/' })).to.throw(ConfigError, /auth_providers\[0\]\.type: unknown provider type "ldap"/);
  });

  it('stops on a bad port from the environment', function () {
    expect(() => loadConfig({ env: { FLOWGATE_PORT: 'eighty' }, cwd: '/' })).to.throw(ConfigError, /FLOWGATE_PORT must be a port number/);
  });

  it('stops on a file that is not YAML, and on a missing file', function () {
    expect(() => loadConfig({ configPath: withConfigFile('a: [\n'), env: {}, cwd: '/' })).to.throw(ConfigError, /not valid YAML/);
    expect(() => loadConfig({ configPath: '/nonexistent/flowgate.yaml', env: {}, cwd: '/' })).to.throw(ConfigError, /Cannot read the config file/);
  });
});

describe('README', function () {
  it('shows a configuration example that the server accepts', function () {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = /## Configuration[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example, 'a yaml block under ## Configuration').to.be.a('string');
    const config = loadConfig({ configPath: withConfigFile(example ?? ''), env: {}, cwd: '/' });
    expect(config.authProviders.map((p) => p.type)).to.deep.equal(['password', 'insecure_example']);
  });
});
