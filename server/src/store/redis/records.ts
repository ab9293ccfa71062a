/** What each group of Redis records (users.ts, credentials.ts, refresh-tokens.ts) stands on: the client, the key builder, per-user id sets. */
import { redisCall, type FlowgateRedis } from './client.js';
import type { RedisKeys } from './keys.js';

export type Gate = <T>(run: () => Promise<T>) => Promise<T>;

export abstract class RedisRecords {
  protected readonly client: FlowgateRedis;
  protected readonly keys: RedisKeys;

  /** Runs a call once the store is in this code's key layout (layout.ts): nothing reads keys a migration is still moving. */
  private readonly afterLayout: Gate;

  constructor(client: FlowgateRedis, keys: RedisKeys, afterLayout: Gate = (run) => run()) {
    this.client = client;
    this.keys = keys;
    this.afterLayout = afterLayout;
  }

  /** Every call goes through here: it fails fast while the client cannot send, and maps connection failures (client.ts). */
  protected call<T>(call: () => Promise<T>): Promise<T> {
    return this.afterLayout(() => redisCall(call, this.client));
  }

  /** Sets (or, with '', deletes) `key` only while it still holds `expected`: how an index entry is freed by its own record only. */
  protected async compareAndSet(key: string, expected: string, value: string): Promise<boolean> {
    return Number(await this.call(() => this.client.compareAndSet([key], [expected, value]))) === 1;
  }

  /**
   * The records whose ids a per-user set holds, oldest first (then by id). Ids whose record is gone (expired, or removed by a
   * racing call) are skipped; the reads go out together, which node-redis pipelines.
   */
  protected async listMembers<T extends { readonly id: string; readonly createdAt: number }>(
    setKey: string,
    read: (id: string) => Promise<T | null>,
  ): Promise<T[]> {
    const ids = await this.call(() => this.client.sMembers(setKey));
    const records: Array<T | null> = await Promise.all(ids.map(read));
    return records
      .filter((record): record is T => record !== null)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
