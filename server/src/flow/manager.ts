/** The generic flow engine: init / step / get / abort over a shared store, one atomic compare-and-set per step. */
import { isRight } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { decodeValid, type AbortResult, type CreateEntryResult, type FlowResult, type FormResult, type HandlerKey, type MenuResult } from '@flowgate/shared';
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import { StoreUnavailableError, type FlowStore, type JsonObject, type StoredFlow } from '../store/types.js';
import type { AnyFlowHandler } from './handler.js';
import { FlowRecord } from './record.js';
import {
  AbortFlow,
  abort,
  type AbortOutcome,
  type CreateEntryOutcome,
  type StepEffects,
  type StepOutcome,
} from './results.js';
import { validateInput, type ValidInput } from './schema.js';
import { shownResult, withShown } from './shown.js';
import { KnownRecords, type KnownRecord } from './known-records.js';

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

/** A flow as of one version: this instance's own write of it, or the store's copy. */
type FlowAt<Context> = KnownRecord<Context>;

/** What a step comes to before anything is written: the form with field errors, or the run step's outcome. */
type Planned =
  | { readonly kind: 'refused'; readonly record: FlowRecord }
  | { readonly kind: 'run'; readonly record: FlowRecord; readonly outcome: StepOutcome<JsonObject, string>; readonly next: FlowRecord | null };

/** Resolves once the store is known to hold the version a step runs on; see FlowHandler.rerunnable. */
type Confirm = () => Promise<void>;
const confirmedAlready: Confirm = async () => undefined;

/** Thrown by a Confirm when the store no longer holds the version: the step is run again on the flow as stored. */
class StaleFlow extends Error {}

/** Whether `confirm` finds the version gone (its other failures, a store that does not answer, are thrown). */
const isStale = (confirm: Confirm): Promise<boolean> =>
  confirm().then(
    () => false,
    (error: unknown) => {
      if (error instanceof StaleFlow) return true;
      throw error;
    },
  );

/** A compare-and-set write's result. */
type WriteOutcome = 'ok' | 'conflict' | 'not_found';

const flowNotFound = (): ServiceError => new ServiceError('not_found', 'No such flow: it finished, expired or never existed');

export interface StepOptions {
  /**
   * Read the flow from the store before running the step, even when this instance knows a version of it: for callers whose
   * steps land on any instance (HTTP requests behind a load balancer), where the version known here is often stale and
   * starting from it would cost a refused compare-and-set first.
   */
  readonly readFirst?: boolean;
}

export class FlowManager<Context> {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly known = new KnownRecords<Context>();

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
    const { outcome, next } = await this.advance(flowId, record, context, undefined, confirmedAlready);
    if (next === null) {
      // Nothing was stored yet, so nothing can race this end: it commits as it is.
      await this.runEffects(outcome.effects, 'committed');
      return this.ended(flowId, record, context, outcome as CreateEntryOutcome | AbortOutcome);
    }
    const { version, expiresAt } = await this.commit(outcome, () =>
      this.options.store.createFlow(flowId, next as unknown as JsonObject, createdAt + this.ttlMs),
    );
    this.known.remember(flowId, { version, expiresAt, record: next, context });
    return this.counted(await this.shown(flowId, next, context, expiresAt));
  }

  /**
   * Applies the client's answer to the flow's current step. On an instance that knows a version of the flow (it wrote or read
   * it last: a socket stays on one instance, so nearly always) the step starts from it without reading the store; see `stepOn`.
   * A flow this instance last found moved on by another one is read first, until a read finds this instance's write current.
   */
  async step(flowId: string, userInput: Record<string, unknown>, admit: Admit<Context>, options: StepOptions = {}): Promise<FlowResult> {
    const reread = async (): Promise<FlowResult> => this.stepOn(flowId, await this.load(flowId, admit), userInput);
    const known = options.readFirst === true ? undefined : this.known.latest(flowId);
    if (known === undefined || known.contested === true || known.expiresAt <= this.now() || !admit(known.context)) return reread();
    return this.stepOn(flowId, known, userInput, reread);
  }

  /**
   * Runs the step on `flow`. With `reread`, `flow` is the version this instance knows, which the store may no longer hold: a write
   * is a compare-and-set from its version, so it lands only if it was current; an answer that writes nothing (field errors, a
   * refusal) is given only once a read shows the version is still current. When the flow moved on elsewhere, the step is run
   * again through `reread` on the flow as stored (the discarded run's effects undone). A race lost while this instance learnt
   * of a later version (a step of its own won, or it read the winner's write) is a conflict, as when both had read the store.
   */
  private async stepOn(flowId: string, flow: FlowAt<Context>, userInput: Record<string, unknown>, reread?: () => Promise<FlowResult>): Promise<FlowResult> {
    // One read at most, shared by the handlers that need the version confirmed and the answers that write nothing.
    const confirm = reread === undefined ? confirmedAlready : this.confirmer(flowId, flow.version);
    let planned: Planned;
    try {
      planned = await this.plan(flowId, flow, userInput, confirm);
    } catch (error) {
      if (reread === undefined) throw error;
      if (error instanceof StaleFlow) return reread();
      // A store that does not answer is the error whatever the version (and asking it again would double the client's wait).
      if (!(error instanceof StoreUnavailableError) && (await isStale(confirm))) return reread();
      throw error;
    }
    if (planned.kind === 'refused') {
      if (reread !== undefined && (await isStale(confirm))) return reread();
      return this.shown(flowId, planned.record, flow.context, flow.expiresAt);
    }
    const { record, outcome, next } = planned;
    const written = await this.commit(outcome, async () => {
      const landed = next === null
        ? await this.options.store.deleteFlow(flowId, flow.version)
        : await this.options.store.replaceFlow(flowId, flow.version, next as unknown as JsonObject, flow.expiresAt);
      // Known at once, before any effect runs, so a step of this instance that lost the race sees that it lost to this one.
      if (landed === 'ok' && next !== null) {
        const { expiresAt, context, contested } = flow;
        this.known.remember(flowId, { version: flow.version + 1, expiresAt, record: next, context, contested: contested === true });
      } else if (landed !== 'conflict') this.known.forget(flowId);
      return landed;
    });
    if (written === 'conflict' && reread !== undefined && !this.knowsLaterThan(flowId, flow.version)) return reread();
    expectOk(written);
    if (next === null) return this.ended(flowId, record, flow.context, outcome as CreateEntryOutcome | AbortOutcome);
    return this.counted(await this.shown(flowId, next, flow.context, flow.expiresAt));
  }

  /** The answer checked against the step's form (or menu) and the step run: what to write, or the form with field errors. */
  private async plan(flowId: string, flow: FlowAt<Context>, userInput: Record<string, unknown>, confirm: Confirm): Promise<Planned> {
    let record = flow.record;
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
      if (!check.ok) return { kind: 'refused', record: { ...record, form: { ...record.form, errors: check.errors } } };
      input = check.input;
    }
    return { kind: 'run', record, ...(await this.advance(flowId, record, flow.context, input, confirm)) };
  }

  /** Confirms, with one read however often it is called, that the store still holds `version` of the flow (else StaleFlow). */
  private confirmer(flowId: string, version: number): Confirm {
    let confirmed: Promise<void> | undefined;
    return () =>
      (confirmed ??= this.options.store.getFlow(flowId).then((stored) => {
        if (stored?.version !== version) throw new StaleFlow();
      }));
  }

  /** Whether this instance knows a version of the flow after `version` (a step of its own won the race, or it read the winner's). */
  private knowsLaterThan(flowId: string, version: number): boolean {
    return (this.known.latest(flowId)?.version ?? version) > version;
  }

  /** The flow's current form or menu, so a client that reconnected (to any instance) can resume where it was. */
  async get(flowId: string, admit: Admit<Context>): Promise<FormResult | MenuResult> {
    const flow = await this.load(flowId, admit);
    // The client is here now: its next step (after a reconnect, say) starts from this version without a read.
    if (flow.contested === true) this.known.remember(flowId, { ...flow, contested: false });
    return this.shown(flowId, flow.record, flow.context, flow.expiresAt);
  }

  /** Ends the flow at the caller's request; told to `onFinished` as an abort with reason `aborted`. */
  async abort(flowId: string, admit: Admit<Context>): Promise<void> {
    const { version, record, context } = await this.load(flowId, admit);
    this.known.forget(flowId);
    expectOk(await this.options.store.deleteFlow(flowId, version));
    this.options.onFinished?.(
      { flowId, handler: record.handler, context },
      { type: 'abort', flow_id: flowId, handler: record.handler, reason: 'aborted', description_placeholders: null },
    );
  }

  /**
   * The flow as stored now; the record known here at that version when there is one (the store's copy is then unread).
   * `contested` says whether the store held a version this instance did not know (another instance moved the flow on).
   */
  private async load(flowId: string, admit: Admit<Context>): Promise<FlowAt<Context>> {
    const stored = await this.options.store.getFlow(flowId);
    if (stored === null || stored.expiresAt <= this.now()) {
      this.known.forget(flowId);
      throw flowNotFound();
    }
    const known = this.known.find(flowId, stored.version);
    const { record, context } = known ?? this.decode(stored);
    // A flow the caller may not see is answered exactly like an unknown one, so its existence leaks nothing.
    if (!admit(context)) throw flowNotFound();
    return { version: stored.version, expiresAt: stored.expiresAt, record, context, contested: known === undefined };
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
    confirm: Confirm,
  ): Promise<{ outcome: StepOutcome<JsonObject, string>; next: FlowRecord | null }> {
    let record = start;
    let input = firstInput;
    const effects: StepEffects[] = [];
    for (let hops = 0; ; hops += 1) {
      const owner = record.owner ?? record.handler;
      const handler = this.options.resolveHandler(owner);
      let outcome: StepOutcome<JsonObject, string>;
      try {
        if (handler?.rerunnable !== true) await confirm();
        outcome = handler === undefined ? abort('unknown_error') : await runStep(handler, flowId, record, context, input);
      } catch (error) {
        // What the steps before this hand-over did is undone: nothing of this run will be written.
        await this.runEffects(allOf(effects), 'discarded');
        throw error;
      }
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
   * Applies the step's write, then its effects: `committed` when the write landed, `discarded` when it did not (refused as
   * `conflict` or `not_found`, or failed, the error then rethrown), so the loser of a race leaves nothing behind.
   */
  private async commit<T>(outcome: StepOutcome<JsonObject, string>, write: () => Promise<T>): Promise<T> {
    let written: T;
    try {
      written = await write();
    } catch (error) {
      await this.runEffects(outcome.effects, 'discarded');
      throw error;
    }
    await this.runEffects(outcome.effects, written === 'conflict' || written === 'not_found' ? 'discarded' : 'committed');
    return written;
  }

  private async runEffects(effects: StepEffects | undefined, which: keyof StepEffects): Promise<void> {
    try {
      await effects?.[which]?.();
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

function expectOk(outcome: WriteOutcome): void {
  if (outcome === 'conflict') throw new ServiceError('conflict', 'Another step of this flow was applied first; get the flow and retry');
  if (outcome === 'not_found') throw flowNotFound();
}
