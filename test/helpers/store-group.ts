/** Opens, for each test of a contract suite, several stores on the same data (as that many server instances have), then closes them. */
import type { Store } from '../../server/src/store/types.js';

/** `count` stores on one Redis key prefix or one SQLite file. */
export type OpenStoreGroup = (count: number) => Promise<Store[]>;

/** Stores opened per test, so races can run across instances' connections, not just within one client. */
export const STORES_PER_TEST = 4;

export interface StoreGroup {
  /** Every store of the current test; `stores[0]` is `store`. */
  readonly stores: Store[];
  readonly store: Store;
}

/** Registers the hooks and answers the current test's stores (read them inside tests and hooks only). */
export function useStoreGroup(openGroup: OpenStoreGroup): StoreGroup {
  let stores: Store[] = [];
  beforeEach(async function () {
    stores = await openGroup(STORES_PER_TEST);
  });
  afterEach(async function () {
    await Promise.all(stores.map((s) => s.close()));
  });
  return {
    get stores() {
      return stores;
    },
    get store() {
      const first = stores[0];
      if (first === undefined) throw new Error('no store: read it inside a test');
      return first;
    },
  };
}
