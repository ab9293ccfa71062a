/**
 * The flow records this instance wrote, by flow id and version. A version is written once (each write is a compare-and-set
 * from the one before it), so the same id and version is the same record on every instance. A step starts from this
 * instance's last write without reading the store (its own compare-and-set tells whether another instance moved the flow on
 * meanwhile); a read that finds the version this instance wrote takes the record from here instead of parsing and decoding it.
 */
import type { FlowRecord } from './record.js';

/**
 * Records kept at most. A socket stays on one instance, so nearly every step of a flow finds its own last write; 10,000 records
 * of ~1 KB bound this at ~10 MB however many flows clients start (past it the oldest are decoded from the store again).
 */
const MAX_WRITTEN_RECORDS = 10_000;

export interface WrittenRecord<Context> {
  readonly version: number;
  /** When the flow expires (fixed at its start, so the same for all its versions). */
  readonly expiresAt: number;
  readonly record: FlowRecord;
  readonly context: Context;
}

export class WrittenRecords<Context> {
  private readonly entries = new Map<string, WrittenRecord<Context>>();

  constructor(private readonly capacity = MAX_WRITTEN_RECORDS) {}

  /**
   * Keeps what was written as `version` of the flow. The record is shared by the steps that read it back: the engine copies
   * what it changes, and what handlers are given (the state and the context) is frozen, so a handler that changed it in place
   * would throw rather than change what the next step finds. (Freezing the whole record cost ~6 us per step.)
   */
  remember(flowId: string, written: WrittenRecord<Context>): void {
    this.entries.delete(flowId);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    deepFreeze(written.record.state);
    deepFreeze(written.context);
    this.entries.set(flowId, written);
  }

  /** The last version of the flow this instance wrote (and still keeps); the store may hold a later one. */
  latest(flowId: string): WrittenRecord<Context> | undefined {
    return this.entries.get(flowId);
  }

  /** The record written as `version` of the flow, if this instance wrote it (and still keeps it). */
  find(flowId: string, version: number): WrittenRecord<Context> | undefined {
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
