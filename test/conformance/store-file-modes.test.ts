/**
 * The embedded store's files are its owner's only: a real server process on a fresh folder creates flowgate-data/ 0700 and
 * the database (with its -wal and -shm files) and the key files 0600, even under a umask that lets the group write.
 */
import { expect } from 'chai';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loginTokens } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/** Group-writable, world-readable: what many desktop accounts run with (and what would make SQLite's files 0664 and 0775). */
const PERMISSIVE_UMASK = 0o002;
/** TOTP makes the server create its key file in flowgate-data/ at start. */
const CONFIG = { ...EXAMPLE_CONFIG, mfa_modules: [{ type: 'totp' }] };

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8).padStart(3, '0');

describe('The embedded store\u2019s files (real server process)', function () {
  this.timeout(30_000);
  let server: ServerProcess;

  before(async function () {
    if (process.platform === 'win32') this.skip();
    // The child inherits the umask at spawn, which startServerProcess does before its first await.
    const previous = process.umask(PERMISSIVE_UMASK);
    const starting = startServerProcess({ config: CONFIG });
    process.umask(previous);
    server = await starting;
    // A login writes to the database, so its write-ahead log and shared-memory files exist too.
    const { client } = await RawClient.open(server.url);
    await loginTokens(client);
    client.close();
  });
  after(async () => server?.stop());

  it('creates flowgate-data/ 0700 and every file in it 0600: the database, its -wal and -shm, and the key files', function () {
    const folder = join(server.dir, 'flowgate-data');
    expect(modeOf(folder)).to.equal('700');
    const files = readdirSync(folder);
    expect(files).to.include.members(['flowgate.db', 'flowgate.db-wal', 'flowgate.db-shm']);
    expect(files.some((name) => name.endsWith('.key')), `a key file among ${files.join(', ')}`).to.equal(true);
    expect(Object.fromEntries(files.map((name) => [name, modeOf(join(folder, name))]))).to.deep.equal(Object.fromEntries(files.map((name) => [name, '600'])));
  });
});
