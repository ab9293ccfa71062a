/** A second process on a test's SQLite file (as `flowgate user add` would be next to a running server): node --import tsx sqlite-peer.ts FILE */
import { openStore } from '../../server/src/store/open.js';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: sqlite-peer.ts FILE');
const logger = { info: () => {}, warn: (obj: object, msg: string) => console.error(msg, obj) };
const store = await openStore(`sqlite://${file}`, { dataDir: '/nonexistent', logger });
// Writes while the parent writes to the same table: any lost write shows in the parent's count of users.
for (let i = 0; i < 200; i++) await store.createUser({ id: `peer-${i}`, name: 'peer', isActive: true, groupIds: ['system-users'], localOnly: false, createdAt: Date.now() });
await store.createUser({ id: 'from-peer', name: 'peer', isActive: true, groupIds: ['system-users'], localOnly: false, createdAt: Date.now() });
await store.publish('revocations', 'from-peer');
const flow = await store.getFlow('from-parent');
await store.close();
process.stdout.write(JSON.stringify({ flowVersion: flow?.version ?? null }));
