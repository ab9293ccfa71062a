/**
 * The upgrade that folds stored command_line usernames (issue 20, point 3), on both real backends: records written as the
 * previous version wrote them (subjects as typed) into a real SQLite file and a real Redis, then the migration a starting
 * server runs. Of two credentials that fold alike the older is kept, the other is removed with the sessions it opened, and
 * each removal is logged.
 */
import BetterSqlite3 from 'better-sqlite3';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { randomId } from '../../server/src/crypto.js';
import { openStore } from '../../server/src/store/open.js';
import { redisKeys } from '../../server/src/store/redis/keys.js';
import { MIGRATIONS } from '../../server/src/store/sqlite/schema.js';
import type { RefreshToken, Store, StoreLogger } from '../../server/src/store/types.js';
import { redisTestUrl } from '../helpers/stores.js';

interface LogLine {
  readonly level: 'info' | 'warn';
  readonly msg: string;
}

function recordingLogger(): StoreLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { lines, info: (_obj, msg) => lines.push({ level: 'info', msg }), warn: (_obj, msg) => lines.push({ level: 'warn', msg }) };
}

/**
 * What the previous version left: per credential its provider id, subject as typed and user, oldest first. alice's two
 * spellings are two users (the attack: `ALICE` made a user of its own); dave's newer spelling holds the folded subject; bob's
 * only credential just needs folding; alice of the `ldap` provider is another provider's account and stays apart.
 */
const OLD = [
  { key: 'alice', providerId: null, subject: 'Alice', user: 'u-alice' },
  { key: 'dave', providerId: null, subject: 'Dave', user: 'u-dave' },
  { key: 'bob', providerId: null, subject: 'BOB', user: 'u-bob' },
  { key: 'ldapAlice', providerId: 'ldap', subject: 'ALICE', user: 'u-ldap-alice' },
  { key: 'shout', providerId: null, subject: 'ALICE', user: 'u-shout' },
  { key: 'daveFolded', providerId: null, subject: 'dave', user: 'u-dave-2' },
] as const;
type Key = (typeof OLD)[number]['key'];

/** A live session opened by a credential. */
const token = (id: string, userId: string, credentialId: string): RefreshToken => ({
  id,
  userId,
  clientId: 'https://app.example/',
  clientName: null,
  type: 'normal',
  tokenHash: createHash('sha256').update(`secret-${id}`).digest('hex'),
  keySalt: `salt-${id}`,
  accessTokenTtlMs: 1_800_000,
  credentialId,
  createdAt: 1_000,
  loggedInAt: 1_000,
  lastUsedAt: null,
  lastUsedIp: null,
  expireAt: Date.now() + 3_600_000,
});

/** The checks both backends must pass, given the ids their old credentials had and the log the migration wrote. */
async function expectFolded(store: Store, ids: Record<Key, string>, lines: readonly LogLine[]): Promise<void> {
  const find = async (subject: string, providerId: string | null = null) => (await store.findCredential('command_line', providerId, subject))?.id ?? null;
  // The older spelling is kept, under the folded subject, and the others find nothing but it.
  expect(await find('alice')).to.equal(ids.alice);
  expect(await find('ALICE')).to.equal(null);
  expect(await find('Alice')).to.equal(null);
  expect((await store.getCredential(ids.alice))?.userId).to.equal('u-alice');
  expect(await store.getCredential(ids.shout)).to.equal(null);
  // The older one is kept even when the newer one held the folded subject already.
  expect(await find('dave')).to.equal(ids.dave);
  expect(await store.getCredential(ids.daveFolded)).to.equal(null);
  expect(await find('bob')).to.equal(ids.bob);
  expect(await find('alice', 'ldap')).to.equal(ids.ldapAlice);
  // The dropped logins' sessions end; their users stay, without that login; the kept ones' sessions go on.
  expect(await store.getRefreshToken('t-shout')).to.equal(null);
  expect(await store.getRefreshToken('t-dave-2')).to.equal(null);
  expect((await store.getRefreshToken('t-alice'))?.userId).to.equal('u-alice');
  expect(await store.getUser('u-shout')).to.not.equal(null);
  expect(await store.listCredentials('u-shout')).to.deep.equal([]);
  // One warning per dropped credential, naming it, its user, and the one kept.
  const warnings = lines.filter((line) => line.level === 'warn' && line.msg.includes('compared without case'));
  expect(warnings).to.have.length(2);
  const shout = warnings.find((line) => line.msg.includes(ids.shout));
  expect(shout?.msg).to.include('"ALICE"').and.include('u-shout').and.include(`"Alice" (credential ${ids.alice}, user u-alice), which is kept as "alice"`);
  expect(warnings.find((line) => line.msg.includes(ids.daveFolded))?.msg).to.include('u-dave-2').and.include(ids.dave);
}

describe('Folding stored command_line usernames', function () {
  this.timeout(20_000);

  it('on SQLite: keeps the older of two credentials that fold alike, drops the other with its sessions, and logs it', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-fold-'));
    const file = join(dir, 'flowgate.db');
    const fold = MIGRATIONS.findIndex((migration) => migration.includes('keyed by the folded username'));
    expect(fold, 'the migration that folds subjects').to.be.greaterThan(0);
    const old = new BetterSqlite3(file);
    for (const migration of MIGRATIONS.slice(0, fold)) old.exec(migration);
    old.pragma(`user_version = ${fold}`);
    const ids = Object.fromEntries(OLD.map(({ key }) => [key, `c-${key}`])) as Record<Key, string>;
    OLD.forEach(({ key, providerId, subject, user }, at) => {
      old.prepare('INSERT INTO users (id, name, is_owner, is_admin, is_active, created_at) VALUES (?, ?, 0, 0, 1, ?)').run(user, subject, at);
      old
        .prepare(`INSERT INTO credentials (id, provider_type, provider_id, provider_key, subject, data, user_id, created_at) VALUES (?, 'command_line', ?, ?, ?, ?, ?, ?)`)
        .run(ids[key], providerId, JSON.stringify(providerId), subject, JSON.stringify({ username: subject }), user, 1_000 + at);
    });
    const insertToken = old.prepare(
      `INSERT INTO refresh_tokens (id, user_id, client_id, type, token_hash, key_salt, access_token_ttl_ms, credential_id, created_at, expire_at)
       VALUES (?, ?, 'https://app.example/', 'normal', ?, ?, 1800000, ?, 1000, ?)`,
    );
    for (const [id, user, key] of [['t-alice', 'u-alice', 'alice'], ['t-shout', 'u-shout', 'shout'], ['t-dave-2', 'u-dave-2', 'daveFolded']] as const) {
      const t = token(id, user, ids[key]);
      insertToken.run(t.id, t.userId, t.tokenHash, t.keySalt, t.credentialId, t.expireAt);
    }
    old.close();

    const logger = recordingLogger();
    const store = await openStore(`sqlite:${file}`, { dataDir: dir, logger });
    try {
      await expectFolded(store, ids, logger.lines);
    } finally {
      await store.close();
    }
  });

  it('on Redis: keeps the older of two credentials that fold alike, drops the other with its sessions, and logs it', async function () {
    const keyPrefix = `fold-${randomId(6)}`;
    const options = { dataDir: tmpdir(), keyPrefix };
    // The records the previous layout wrote: this version's keys, with the subjects as typed.
    const writer = await openStore(redisTestUrl(), { ...options, logger: recordingLogger() });
    const ids = {} as Record<Key, string>;
    try {
      for (const { key, providerId, subject, user } of OLD) {
        const credential = await writer.getOrCreateCredential('command_line', providerId, subject, { username: subject });
        ids[key] = credential.id;
        await writer.createUserForCredential(credential.id, { id: user, name: subject, isActive: true, groupIds: ['system-users'], localOnly: false, createdAt: Date.now() });
        // Creation times a few ms apart, so "older" is the order above.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await writer.createRefreshToken(token('t-alice', 'u-alice', ids.alice), 10);
      await writer.createRefreshToken(token('t-shout', 'u-shout', ids.shout), 10);
      await writer.createRefreshToken(token('t-dave-2', 'u-dave-2', ids.daveFolded), 10);
    } finally {
      await writer.close();
    }
    const raw = createClient({ url: redisTestUrl() });
    await raw.connect();
    try {
      await raw.set(redisKeys(keyPrefix).layoutVersion(), '2');
    } finally {
      await raw.quit();
    }

    const logger = recordingLogger();
    const store = await openStore(redisTestUrl(), { ...options, logger });
    try {
      await store.listUsers(); // the first directory call waits for the migration
      await expectFolded(store, ids, logger.lines);
    } finally {
      await store.close();
    }
  });
});
