/**
 * The flow records this instance wrote, by flow id and version: a step reads the flow back from the store (another instance
 * may have moved it), and when the store still holds the version this instance wrote, the record is taken from here instead of
 * being parsed and decoded again. A version is written once (each write is a compare-and-set from the one before it), so the
 * same id and version is the same record on every instance.
 */
import type { FlowRecord } from './record.js';

/**
 * Records kept at most. A socket stays on one instance, so nearly every step of a flow finds its own last write; 10,000 records
 * of ~1 KB bound this at ~10 MB however many flows clients start (past it the oldest are decoded from the store again).
 */
const MAX_WRITTEN_RECORDS = 10_000;

export interface WrittenRecord<Context> {
  readonly record: FlowRecord;
  readonly context: Context;
}

export class WrittenRecords<Context> {
  private readonly entries = new Map<string, WrittenRecord<Context> & { readonly version: number }>();

  constructor(private readonly capacity = MAX_WRITTEN_RECORDS) {}

  /**
   * Keeps what was written as `version` of the flow. The record is shared by the steps that read it back: the engine copies
   * what it changes, and what handlers are given (the state and the context) is frozen, so a handler that changed it in place
   * would throw rather than change what the next step finds. (Freezing the whole record cost ~6 us per step.)
   */
  remember(flowId: string, version: number, record: FlowRecord, context: Context): void {
    this.entries.delete(flowId);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    deepFreeze(record.state);
    this.entries.set(flowId, { version, record, context: deepFreeze(context) });
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
