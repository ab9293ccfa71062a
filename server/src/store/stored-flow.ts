/** A flow as a backend reads it back, its record parsed only when first asked for. */
import type { JsonObject, StoredFlow } from './types.js';

/**
 * The flow engine keeps the records its instance wrote (flow/known-records.ts) and, finding the same version in the store,
 * never reads `data`: the JSON is parsed (and checked by `parse`, which throws on a corrupt record) on first use, once.
 * A class, not an object literal with a getter: V8 builds those on a slow path, which cost ~6 us per read here.
 */
class ReadFlow implements StoredFlow {
  #json: string;
  #parse: (json: string) => JsonObject;
  #data: JsonObject | undefined;

  constructor(
    readonly id: string,
    readonly version: number,
    json: string,
    readonly expiresAt: number,
    parse: (json: string) => JsonObject,
  ) {
    this.#json = json;
    this.#parse = parse;
  }

  get data(): JsonObject {
    this.#data ??= this.#parse(this.#json);
    return this.#data;
  }

  toJSON(): StoredFlow {
    return { id: this.id, version: this.version, data: this.data, expiresAt: this.expiresAt };
  }
}
// Enumerable like the other fields, so that a flow read back compares as the plain object it stands for (deep equality walks
// inherited enumerable keys) and logs whole (toJSON). A spread copies own fields only, so it would drop `data`.
Object.defineProperty(ReadFlow.prototype, 'data', { enumerable: true });

export function readFlow(id: string, version: number, json: string, expiresAt: number, parse: (json: string) => JsonObject): StoredFlow {
  return new ReadFlow(id, version, json, expiresAt, parse);
}
