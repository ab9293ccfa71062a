/**
 * The embedded store's deployment and its server secret (issue 20, point 5): `flowgate-data/secret.key` generated once (0600)
 * and kept, a copy of the SQLite file signing nothing, and the tokens of a file from before (keys in clear) revoked at start.
 */
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { createHash, createSecretKey, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { MIGRATIONS } from '../../server/src/store/sqlite/schema.js';
import { loginTokens, TEST_CLIENT_ID } from '../helpers/login.js';
import { authAnswer, forgedAccessToken } from '../helpers/forged-tokens.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

async function tokensOf(server: ServerProcess) {
  const { client } = await RawClient.open(server.url);
  try {
    return await loginTokens(client);
  } finally {
    client.close();
  }
}

describe('The embedded store and secret_key', function () {
  this.timeout(60_000);
  const servers: ServerProcess[] = [];
  afterEach(async function () {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });
  const start = async (dir: string): Promise<ServerProcess> => {
    const server = await startServerProcess({ dir });
    servers.push(server);
    return server;
  };

  it('generates flowgate-data/secret.key (0600) on the first start, and the tokens it signs outlive a restart', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-secret-'));
    const first = await start(dir);
    const file = join(dir, 'flowgate-data', 'secret.key');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const key = readFileSync(file, 'utf8');
    expect(Buffer.from(key.trim(), 'base64')).to.have.length(32);
    const tokens = await tokensOf(first);
    await first.stop();
    const second = await start(dir);
    expect(await authAnswer(second, tokens.access_token)).to.equal('auth_ok');
    expect(readFileSync(file, 'utf8')).to.equal(key);
  });

  it('refuses an access token signed with anything the SQLite file holds for the token', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-secret-'));
    const server = await start(dir);
    const tokens = await tokensOf(server);
    const iss = String(decodeJwt(tokens.access_token).iss);
    const copy = new Database(join(dir, 'flowgate-data', 'flowgate.db'), { readonly: true });
    const row = copy.prepare('SELECT * FROM refresh_tokens WHERE id = ?').get(iss) as Record<string, unknown>;
    copy.close();
    expect(row, 'the token row').to.be.an('object');
    let tried = 0;
    for (const value of Object.values(row).filter((v): v is string => typeof v === 'string' && v.length >= 16)) {
      for (const key of [Buffer.from(value, 'utf8'), ...(/^[0-9a-f]+$/.test(value) ? [Buffer.from(value, 'hex')] : [])]) {
        expect(await authAnswer(server, await forgedAccessToken(iss, key)), value.slice(0, 20)).to.equal('auth_invalid');
        tried += 1;
      }
    }
    expect(tried).to.be.above(2);
    expect(await authAnswer(server, tokens.access_token)).to.equal('auth_ok');
  });

  it('revokes, at start, the tokens of a file that kept their keys in clear, with one warning counting them', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-secret-'));
    mkdirSync(join(dir, 'flowgate-data'));
    // The file as the previous Flowgate left it: every migration before the one that derives the keys.
    const derived = MIGRATIONS.findIndex((migration) => migration.includes('DROP COLUMN jwt_key'));
    const old = new Database(join(dir, 'flowgate-data', 'flowgate.db'));
    for (const migration of MIGRATIONS.slice(0, derived)) old.exec(migration);
    old.pragma(`user_version = ${derived}`);
    const [userId, tokenId, jwtKey, secret] = ['u-alice', randomBytes(16).toString('hex'), randomBytes(64).toString('hex'), randomBytes(64).toString('hex')];
    old.prepare('INSERT INTO users (id, name, is_owner, is_admin, is_active, created_at) VALUES (?, ?, 1, 1, 1, ?)').run(userId, 'Alice', Date.now());
    old.prepare(
      `INSERT INTO refresh_tokens (id, user_id, client_id, client_name, type, token_hash, jwt_key, access_token_ttl_ms, credential_id,
         created_at, last_used_at, last_used_ip, expire_at) VALUES (?, ?, ?, NULL, 'normal', ?, ?, 1800000, NULL, ?, NULL, NULL, ?)`,
    ).run(tokenId, userId, TEST_CLIENT_ID, createHash('sha256').update(secret).digest('hex'), jwtKey, Date.now(), Date.now() + 86_400_000);
    old.close();
    // What the previous Flowgate signed with that token's stored key: it worked until the upgrade.
    const oldAccessToken = await forgedAccessToken(tokenId, createSecretKey(Buffer.from(jwtKey, 'utf8')));

    const server = await start(dir);
    const warnings = server.logs.filter((line) => String(line['msg']).startsWith('store migrated'));
    expect(warnings.map((line) => [line['level'], line['msg']])).to.deep.equal([
      [40, 'store migrated: revoked 1 refresh tokens stored with their signing key in clear (before secret_key): their users log in again'],
    ]);
    expect(await authAnswer(server, oldAccessToken)).to.equal('auth_invalid');
    const { client } = await RawClient.open(server.url);
    const refreshed = await client.command({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: secret, client_id: TEST_CLIENT_ID });
    client.close();
    expect(refreshed['success'], JSON.stringify(refreshed)).to.equal(false);
  });
});
