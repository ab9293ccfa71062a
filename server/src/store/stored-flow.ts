/** A flow as a backend reads it back, its record parsed only when first asked for. */
import type { JsonObject, StoredFlow } from './types.js';

/**
 * The flow engine keeps the records its instance wrote (flow/written-records.ts) and, finding the same version in the store,
 * never reads `data`: the JSON is parsed (and checked by `parse`, which throws on a corrupt record) on first use, once.
 */
export function readFlow(id: string, version: number, json: string, expiresAt: number, parse: (json: string) => JsonObject): StoredFlow {
  let data: JsonObject | undefined;
  return {
    id,
    version,
    expiresAt,
    get data(): JsonObject {
      data ??= parse(json);
      return data;
    },
  };
}
