/**
 * Stores written before groups existed keep working after the upgrade: a user's old admin flag becomes membership of
 * system-admin (and no flag, system-users), on SQLite through the schema migration and on Redis when the record is read.
 */
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { randomId } from '../../server/src/crypto.js';
import { redisKeys } from '../../server/src/store/redis/keys.js';
import { MIGRATIONS } from '../../server/src/store/sqlite/schema.js';
import { openStore } from '../../server/src/store/open.js';
import { redisTestUrl, silentLogger } from '../helpers/stores.js';

describe('Users written before groups existed', function () {
  it('become system-admin or system-users members when an old SQLite file is migrated', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'flowgate-upgrade-'));
    const file = join(dir, 'flowgate.db');
    // The file as the previous Flowgate left it: every migration before the one that added groups (later ones came after it).
    const groups = MIGRATIONS.findIndex((migration) => migration.includes('ADD COLUMN group_ids'));
    const old = new Database(file);
    for (const migration of MIGRATIONS.slice(0, groups)) old.exec(migration);
    old.pragma(`user_version = ${groups}`);
    const insert = old.prepare('INSERT INTO users (id, name, is_owner, is_admin, is_active, created_at) VALUES (?, ?, ?, ?, ?, ?)');
    insert.run('owner', 'Olive', 1, 1, 1, 1);
    insert.run('admin', 'Ada', 0, 1, 1, 2);
    insert.run('plain', 'Pat', 0, 0, 0, 3);
    old.close();
    const store = await openStore(`sqlite:${file}`, { dataDir: dir, logger: silentLogger });
    try {
      expect(await store.getUser('owner')).to.deep.include({ isOwner: true, isAdmin: true, groupIds: ['system-admin'], localOnly: false });
      expect(await store.getUser('admin')).to.deep.include({ isAdmin: true, groupIds: ['system-admin'] });
      expect(await store.getUser('plain')).to.deep.include({ isAdmin: false, isActive: false, groupIds: ['system-users'], localOnly: false });
      expect(await store.updateUser('admin', { groupIds: ['system-users'] })).to.deep.include({ isAdmin: false });
    } finally {
      await store.close();
    }
  });

  it('read as system-admin or system-users members from an old Redis hash, until an update writes groups', async function () {
    const prefix = `test-${randomId(6)}`;
    const keys = redisKeys(prefix);
    const raw = createClient({ url: redisTestUrl() });
    await raw.connect();
    const store = await openStore(redisTestUrl(), { dataDir: tmpdir(), logger: silentLogger, keyPrefix: prefix });
    try {
      // The fields the previous Flowgate's createUser script wrote.
      await raw.hSet(keys.user('admin'), { id: 'admin', name: 'Ada', admin: '1', active: '1', owner: '0', created: '2' });
      await raw.hSet(keys.user('plain'), { id: 'plain', name: 'Pat', admin: '0', active: '1', owner: '0', created: '3' });
      expect(await store.getUser('admin')).to.deep.include({ isAdmin: true, groupIds: ['system-admin'], localOnly: false });
      expect(await store.getUser('plain')).to.deep.include({ isAdmin: false, groupIds: ['system-users'] });
      expect(await store.updateUser('plain', { groupIds: ['system-admin'], localOnly: true })).to.deep.include({ isAdmin: true, localOnly: true });
      expect(await store.getUser('plain')).to.deep.include({ isAdmin: true, groupIds: ['system-admin'] });
    } finally {
      await Promise.all([store.close(), raw.quit()]);
    }
  });
});
