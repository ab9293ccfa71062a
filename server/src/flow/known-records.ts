/**
 * The flow records this instance knows, by flow id and version: the last one it wrote or read of each flow. A version is
 * written once (each write is a compare-and-set from the one before it), so the same id and version is the same record on
 * every instance. A step starts from the record known here without reading the store (its own compare-and-set tells whether
 * another instance moved the flow on meanwhile); a read that finds the version known here takes the record from here instead
 * of parsing and decoding it again.
 */
import type { FlowRecord } from './record.js';

/**
 * Records kept at most. A socket stays on one instance, so nearly every step of a flow finds its own last write; 10,000 records
 * of ~1 KB bound this at ~10 MB however many flows clients start (past it the oldest are decoded from the store again).
 */
const MAX_KNOWN_RECORDS = 10_000;

export interface KnownRecord<Context> {
  readonly version: number;
  /** When the flow expires (fixed at its start, so the same for all its versions). */
  readonly expiresAt: number;
  readonly record: FlowRecord;
  readonly context: Context;
  /**
   * Set when the step that wrote this version had found the flow moved on by another instance: a flow that changes
   * instances is read first on its next step here (a refused compare-and-set would cost a round trip more than the read),
   * until a read finds that the version this instance wrote is still the current one.
   */
  readonly contested?: boolean;
}

export class KnownRecords<Context> {
  private readonly entries = new Map<string, KnownRecord<Context>>();

  constructor(private readonly capacity = MAX_KNOWN_RECORDS) {}

  /**
   * Keeps `version` of the flow, as written or read here. The record is shared by the steps that read it back: the engine copies
   * what it changes, and what handlers are given (the state and the context) is frozen, so a handler that changed it in place
   * would throw rather than change what the next step finds. (Freezing the whole record cost ~6 us per step.)
   */
  remember(flowId: string, known: KnownRecord<Context>): void {
    // A read that was overtaken by a later write of this instance's own is older news: the later version stays.
    if ((this.entries.get(flowId)?.version ?? 0) > known.version) return;
    this.entries.delete(flowId);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    deepFreeze(known.record.state);
    deepFreeze(known.context);
    this.entries.set(flowId, known);
  }

  /** The last version of the flow this instance wrote or read (and still keeps); the store may hold a later one. */
  latest(flowId: string): KnownRecord<Context> | undefined {
    return this.entries.get(flowId);
  }

  /** The record of `version` of the flow, if that is the version this instance knows. */
  find(flowId: string, version: number): KnownRecord<Context> | undefined {
    const entry = this.entries.get(flowId);
    return entry?.version === version ? entry : undefined;
  }

  forget(flowId: string): void {
    this.entries.delete(flowId);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const member of Object.values(value)) deepFreeze(member);
  return Object.freeze(value);
}
