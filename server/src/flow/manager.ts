/** The generic flow engine: init / step / get / abort over a shared store, one atomic compare-and-set per step. */
import { isRight } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { decodeValid, type AbortResult, type CreateEntryResult, type FlowResult, type FormResult, type HandlerKey, type MenuResult } from '@flowgate/shared';
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import type { FlowStore, JsonObject, StoredFlow } from '../store/types.js';
import type { AnyFlowHandler } from './handler.js';
import { FlowRecord } from './record.js';
import {
  AbortFlow,
  abort,
  type AbortOutcome,
  type CreateEntryOutcome,
  type FormOutcome,
  type MenuOutcome,
  type StepEffects,
  type StepOutcome,
} from './results.js';
import { validateInput, type ValidInput } from './schema.js';
import { WrittenRecords } from './written-records.js';

/** How long a flow lives from its start unless configured otherwise (Home Assistant's code window is 10 minutes too). */
export const DEFAULT_FLOW_TTL_MS = 10 * 60 * 1000;
/** Hand-overs one step may chain (provider -> MFA is one); more is a loop between handlers, a bug that must not spin. */
const MAX_HAND_OVERS = 4;

export interface FinishedFlow<Context> {
  readonly flowId: string;
  readonly handler: HandlerKey;
  readonly context: Context;
}

/**
 * Turns a handler's `create_entry` data into the client-facing result. Called only once the flow's end has committed in the
 * store, so what it creates (a credential, an authorization code) exists for the one step that won.
 */
export type FinishFlow<Context> = (flow: FinishedFlow<Context>, data: JsonObject) => Promise<Entry>;

/** A finished flow's entry: the client-facing result (an authorization code for login flows) and, for some flows, data. */
export interface Entry {
  readonly kind: 'create_entry';
  readonly result: string;
  readonly data?: JsonObject;
}

/** Whether the caller may see and step this flow (its client id, its user): a flow it may not is answered as unknown. */
export type Admit<Context> = (context: Context) => boolean;

export interface FlowManagerOptions<Context> {
  readonly store: FlowStore;
  /** Encodes the context into the flow's record and decodes it back; a record whose context does not decode is not found. */
  readonly contextCodec: t.Type<Context, JsonObject, unknown>;
  readonly resolveHandler: (key: HandlerKey) => AnyFlowHandler<Context> | undefined;
  readonly finish: FinishFlow<Context>;
  readonly ttlMs?: number;
  /** Told of every flow that ends (finished, aborted by a step or by the client), for logs, metrics and leases. */
  readonly onFinished?: (flow: FinishedFlow<Context>, result: CreateEntryResult | AbortResult) => void;
  /** Told of every step's result type, for metrics. */
  readonly onStep?: (type: FlowResult['type']) => void;
  /** Told when a step's after-commit effect failed (the step itself stands). */
  readonly onEffectError?: (error: unknown) => void;
  readonly now?: () => number;
}

const flowNotFound = (): ServiceError => new ServiceError('not_found', 'No such flow: it finished, expired or never existed');

export class FlowManager<Context> {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly written = new WrittenRecords<Context>();

  constructor(private readonly options: FlowManagerOptions<Context>) {
    this.ttlMs = options.ttlMs ?? DEFAULT_FLOW_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  async init(key: HandlerKey, context: Context): Promise<FlowResult> {
    const handler = this.options.resolveHandler(key);
    if (handler === undefined) throw new ServiceError('not_found', `No flow handler ${JSON.stringify(key)}`);
    const flowId = randomId();
    const createdAt = this.now();
    const record: FlowRecord = {
      handler: handler.key,
      context: this.options.contextCodec.encode(context),
      step_id: 'init',
      form: { data_schema: [], errors: null, description_placeholders: null, last_step: null },
      state: handler.initialState(context),
      created_at: createdAt,
    };
    const { outcome, next } = await this.advance(flowId, record, context, undefined);
    if (next === null) {
      // Nothing was stored yet, so nothing can race this end: it commits as it is.
      await this.runEffects(outcome, 'committed');
      return this.ended(flowId, record, context, outcome as CreateEntryOutcome | AbortOutcome);
    }
    const stored = await this.commit(outcome, () => this.options.store.createFlow(flowId, next as unknown as JsonObject, createdAt + this.ttlMs));
    this.written.remember(flowId, stored.version, next, context);
    return this.counted(await this.shown(flowId, next, context, stored.expiresAt));
  }

  async step(flowId: string, userInput: Record<string, unknown>, admit: Admit<Context>): Promise<FlowResult> {
    const { stored, record: read, context } = await this.load(flowId, admit);
    let record = read;
    let input: ValidInput | undefined;
    if (record.form.menu_options !== undefined) {
      // A menu's answer names the next step, which is then shown for the first time.
      const choice = userInput['next_step_id'];
      if (typeof choice !== 'string' || !record.form.menu_options.includes(choice) || Object.keys(userInput).length !== 1) {
        throw new ServiceError('invalid_format', `user_input must be {"next_step_id": one of ${JSON.stringify(record.form.menu_options)}}`);
      }
      record = { ...record, step_id: choice };
    } else {
      const check = validateInput(record.form.data_schema, userInput);
      if (!check.ok) return this.shown(flowId, { ...record, form: { ...record.form, errors: check.errors } }, context, stored.expiresAt);
      input = check.input;
    }
    const { outcome, next } = await this.advance(flowId, record, context, input);
    if (next !== null) {
      await this.commit(outcome, async () =>
        expectOk(await this.options.store.replaceFlow(flowId, stored.version, next as unknown as JsonObject, stored.expiresAt)),
      );
      this.written.remember(flowId, stored.version + 1, next, context);
      return this.counted(await this.shown(flowId, next, context, stored.expiresAt));
    }
    this.written.forget(flowId);
    await this.commit(outcome, async () => expectOk(await this.options.store.deleteFlow(flowId, stored.version)));
    return this.ended(flowId, record, context, outcome as CreateEntryOutcome | AbortOutcome);
  }

  /** The flow's current form or menu, so a client that reconnected (to any instance) can resume where it was. */
  async get(flowId: string, admit: Admit<Context>): Promise<FormResult | MenuResult> {
    const { stored, record, context } = await this.load(flowId, admit);
    return this.shown(flowId, record, context, stored.expiresAt);
  }

  /** Ends the flow at the caller's request; told to `onFinished` as an abort with reason `aborted`. */
  async abort(flowId: string, admit: Admit<Context>): Promise<void> {
    const { stored, record, context } = await this.load(flowId, admit);
    this.written.forget(flowId);
    expectOk(await this.options.store.deleteFlow(flowId, stored.version));
    this.options.onFinished?.(
      { flowId, handler: record.handler, context },
      { type: 'abort', flow_id: flowId, handler: record.handler, reason: 'aborted', description_placeholders: null },
    );
  }

  /** The flow as stored now; the record this instance wrote at that version when it has it (the store's copy is then unread). */
  private async load(flowId: string, admit: Admit<Context>): Promise<{ stored: StoredFlow; record: FlowRecord; context: Context }> {
    const stored = await this.options.store.getFlow(flowId);
    if (stored === null || stored.expiresAt <= this.now()) {
      this.written.forget(flowId);
      throw flowNotFound();
    }
    const { record, context } = this.written.find(flowId, stored.version) ?? this.decode(stored);
    // A flow the caller may not see is answered exactly like an unknown one, so its existence leaks nothing.
    if (!admit(context)) throw flowNotFound();
    return { stored, record, context };
  }

  /** The stored record and its context, checked; a record that does not decode is not found. */
  private decode(stored: StoredFlow): { record: FlowRecord; context: Context } {
    const decoded = decodeValid(FlowRecord, stored.data);
    if (!isRight(decoded)) throw flowNotFound();
    const context = decodeValid(this.options.contextCodec, decoded.right.context);
    if (!isRight(context)) throw flowNotFound();
    return { record: decoded.right, context: context.right };
  }

  /**
   * Runs the step the record is at, following hand-overs to other handlers (each starts at its `init`, shown fresh). Returns
   * the outcome and, when the flow goes on, the record to store; the effects of every step run are gathered on the outcome.
   */
  private async advance(
    flowId: string,
    start: FlowRecord,
    context: Context,
    firstInput: ValidInput | undefined,
  ): Promise<{ outcome: StepOutcome<JsonObject, string>; next: FlowRecord | null }> {
    let record = start;
    let input = firstInput;
    const effects: StepEffects[] = [];
    for (let hops = 0; ; hops += 1) {
      const owner = record.owner ?? record.handler;
      const handler = this.options.resolveHandler(owner);
      const outcome = handler === undefined ? abort('unknown_error') : await runStep(handler, flowId, record, context, input);
      if (outcome.effects !== undefined) effects.push(outcome.effects);
      if (outcome.kind === 'hand_over' && hops < MAX_HAND_OVERS) {
        record = { ...record, owner: outcome.handler, step_id: 'init', state: outcome.state };
        input = undefined;
        continue;
      }
      const gathered = { ...(outcome.kind === 'hand_over' ? abort('unknown_error') : outcome), effects: allOf(effects) };
      if (gathered.kind === 'form' || gathered.kind === 'menu') return { outcome: gathered, next: withShown(record, gathered) };
      return { outcome: gathered, next: null };
    }
  }

  /**
   * Applies the step's write, then its effects: `committed` when the write went through, `discarded` (and the write's error)
   * when it did not, so the loser of a race leaves nothing behind.
   */
  private async commit<T>(outcome: StepOutcome<JsonObject, string>, write: () => Promise<T>): Promise<T> {
    let written: T;
    try {
      written = await write();
    } catch (error) {
      await this.runEffects(outcome, 'discarded');
      throw error;
    }
    await this.runEffects(outcome, 'committed');
    return written;
  }

  private async runEffects(outcome: StepOutcome<JsonObject, string>, which: keyof StepEffects): Promise<void> {
    try {
      await outcome.effects?.[which]?.();
    } catch (error) {
      this.options.onEffectError?.(error);
    }
  }

  /** The flow's end, committed: a `create_entry` goes through the finish hook (which issues what the client gets). */
  private async ended(
    flowId: string,
    record: FlowRecord,
    context: Context,
    outcome: CreateEntryOutcome | AbortOutcome,
  ): Promise<CreateEntryResult | AbortResult> {
    const flow: FinishedFlow<Context> = { flowId, handler: record.handler, context };
    let result: CreateEntryResult | AbortResult;
    if (outcome.kind === 'abort') {
      result = {
        type: 'abort',
        flow_id: flowId,
        handler: record.handler,
        reason: outcome.reason,
        description_placeholders: outcome.descriptionPlaceholders,
      };
    } else {
      const entry = await this.options.finish(flow, outcome.data);
      result = { type: 'create_entry', flow_id: flowId, handler: record.handler, result: entry.result, ...(entry.data === undefined ? {} : { data: entry.data }) };
    }
    this.options.onFinished?.(flow, result);
    return this.counted(result);
  }

  /** The form or menu the record is at, with the placeholders its handler works out at each display (never stored). */
  private async shown(flowId: string, record: FlowRecord, context: Context, expiresAt: number): Promise<FormResult | MenuResult> {
    const result = shownResult(flowId, record, expiresAt);
    const describe = this.options.resolveHandler(record.owner ?? record.handler)?.describe;
    if (describe === undefined) return result;
    const described = await describe({ flowId, stepId: record.step_id, state: record.state, context });
    if (described === null) return result;
    return { ...result, description_placeholders: { ...(result.description_placeholders ?? {}), ...described } };
  }

  private counted<R extends FlowResult>(result: R): R {
    this.options.onStep?.(result.type);
    return result;
  }
}

async function runStep<Context>(
  handler: AnyFlowHandler<Context>,
  flowId: string,
  record: FlowRecord,
  context: Context,
  input: ValidInput | undefined,
): Promise<StepOutcome<JsonObject, string>> {
  const step = Object.hasOwn(handler.steps, record.step_id) ? handler.steps[record.step_id] : undefined;
  if (step === undefined) return abort('unknown_error');
  try {
    return await step({ flowId, state: record.state, context, input, createdAt: record.created_at });
  } catch (error) {
    if (error instanceof AbortFlow) return abort(error.reason, error.descriptionPlaceholders);
    throw error;
  }
}

/** Runs every gathered effect in order (each whatever the others do): the steps a hand-over chained commit together. */
function allOf(effects: readonly StepEffects[]): StepEffects {
  if (effects.length <= 1) return effects[0] ?? {};
  const run = async (which: keyof StepEffects): Promise<void> => {
    const failures: unknown[] = [];
    for (const effect of effects) await effect[which]?.().catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw failures[0];
  };
  return { committed: () => run('committed'), discarded: () => run('discarded') };
}

/** The record as stored once `outcome` (a form or a menu) is what the client is shown. */
function withShown(record: FlowRecord, outcome: FormOutcome<JsonObject, string> | MenuOutcome<JsonObject, string>): FlowRecord {
  const base = { ...record, step_id: outcome.stepId, state: outcome.state };
  if (outcome.kind === 'menu') {
    return {
      ...base,
      form: {
        data_schema: [],
        errors: null,
        description_placeholders: outcome.descriptionPlaceholders,
        last_step: null,
        menu_options: [...outcome.menuOptions],
      },
    };
  }
  return {
    ...base,
    form: {
      data_schema: outcome.dataSchema,
      errors: outcome.errors,
      description_placeholders: outcome.descriptionPlaceholders,
      last_step: outcome.lastStep,
    },
  };
}

function shownResult(flowId: string, record: FlowRecord, expiresAt: number): FormResult | MenuResult {
  const expires = new Date(expiresAt).toISOString();
  if (record.form.menu_options !== undefined) {
    return {
      type: 'menu',
      flow_id: flowId,
      handler: record.handler,
      step_id: record.step_id,
      menu_options: record.form.menu_options,
      description_placeholders: record.form.description_placeholders,
      expires_at: expires,
    };
  }
  return {
    type: 'form',
    flow_id: flowId,
    handler: record.handler,
    step_id: record.step_id,
    data_schema: record.form.data_schema,
    errors: record.form.errors,
    description_placeholders: record.form.description_placeholders,
    last_step: record.form.last_step,
    expires_at: expires,
  };
}

function expectOk(outcome: 'ok' | 'conflict' | 'not_found'): void {
  if (outcome === 'conflict') throw new ServiceError('conflict', 'Another step of this flow was applied first; get the flow and retry');
  if (outcome === 'not_found') throw flowNotFound();
}
