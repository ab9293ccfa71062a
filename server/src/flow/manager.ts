/** The generic flow engine: init / step / get / abort over a shared store, one atomic compare-and-set per step. */
import { isRight } from 'fp-ts/lib/Either.js';
import type { AbortResult, CreateEntryResult, FlowResult, FormResult, HandlerKey } from '@flowgate/shared';
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import type { FlowStore, JsonObject, StoredFlow } from '../store/types.js';
import type { AnyFlowHandler, FlowContext } from './handler.js';
import { FlowRecord } from './record.js';
import {
  AbortFlow,
  abort,
  type AbortOutcome,
  type CreateEntryOutcome,
  type FormOutcome,
  type StepEffects,
  type StepOutcome,
} from './results.js';
import { validateInput, type ValidInput } from './schema.js';

/** How long a flow lives from its start unless configured otherwise (Home Assistant's code window is 10 minutes too). */
export const DEFAULT_FLOW_TTL_MS = 10 * 60 * 1000;

export interface FinishedFlow {
  readonly flowId: string;
  readonly handler: HandlerKey;
  readonly context: FlowContext;
}

/**
 * Turns a handler's `create_entry` data into the client-facing result. Called only once the flow's end has committed in the
 * store, so what it creates (a credential, an authorization code) exists for the one step that won.
 */
export type FinishFlow = (flow: FinishedFlow, data: JsonObject) => Promise<Entry>;

/** A finished flow's entry: the client-facing result (an authorization code for login flows). */
export interface Entry {
  readonly kind: 'create_entry';
  readonly result: string;
}

export interface FlowManagerOptions {
  readonly store: FlowStore;
  readonly resolveHandler: (key: HandlerKey) => AnyFlowHandler | undefined;
  readonly finish: FinishFlow;
  readonly ttlMs?: number;
  /** Told of every flow that ends, for logs and metrics. */
  readonly onFinished?: (flow: FinishedFlow, result: CreateEntryResult | AbortResult) => void;
  /** Told of every step's result type (form, create_entry, abort), for metrics. */
  readonly onStep?: (type: FlowResult['type']) => void;
  /** Told when a step's after-commit effect failed (the step itself stands). */
  readonly onEffectError?: (error: unknown) => void;
  readonly now?: () => number;
}

const flowNotFound = (): ServiceError => new ServiceError('not_found', 'No such login flow: it finished, expired or never existed');

export class FlowManager {
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly options: FlowManagerOptions) {
    this.ttlMs = options.ttlMs ?? DEFAULT_FLOW_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  async init(key: HandlerKey, context: FlowContext): Promise<FlowResult> {
    const handler = this.options.resolveHandler(key);
    if (handler === undefined) throw new ServiceError('not_found', `No login handler ${JSON.stringify(key)}`);
    const flowId = randomId();
    const createdAt = this.now();
    const record: FlowRecord = {
      handler: handler.key,
      context: {
        client_id: context.clientId,
        redirect_uri: context.redirectUri,
        remote_address: context.remoteAddress,
        device: context.device ?? null,
      },
      step_id: 'init',
      form: { data_schema: [], errors: null, description_placeholders: null, last_step: null },
      state: handler.initialState(context),
      created_at: createdAt,
    };
    const outcome = await runStep(handler, flowId, record, undefined);
    if (outcome.kind !== 'form') {
      // Nothing was stored yet, so nothing can race this end: it commits as it is.
      await this.runEffects(outcome, 'committed');
      return this.ended(flowId, record, outcome);
    }
    const next = withForm(record, outcome);
    const stored = await this.commit(outcome, () => this.options.store.createFlow(flowId, next as unknown as JsonObject, createdAt + this.ttlMs));
    return this.counted(formResult(flowId, next, stored.expiresAt));
  }

  async step(flowId: string, clientId: string, userInput: Record<string, unknown>): Promise<FlowResult> {
    const { stored, record } = await this.load(flowId, clientId);
    const handler = this.options.resolveHandler(record.handler);
    const check = validateInput(record.form.data_schema, userInput);
    if (!check.ok) return formResult(flowId, { ...record, form: { ...record.form, errors: check.errors } }, stored.expiresAt);
    const outcome: StepOutcome<JsonObject, string> =
      handler === undefined ? abort('unknown_error') : await runStep(handler, flowId, record, check.input);
    if (outcome.kind === 'form') {
      const next = withForm(record, outcome);
      await this.commit(outcome, async () =>
        expectOk(await this.options.store.replaceFlow(flowId, stored.version, next as unknown as JsonObject, stored.expiresAt)),
      );
      return this.counted(formResult(flowId, next, stored.expiresAt));
    }
    await this.commit(outcome, async () => expectOk(await this.options.store.deleteFlow(flowId, stored.version)));
    return this.ended(flowId, record, outcome);
  }

  /** The flow's current form, so a client that reconnected (to any instance) can resume where it was. */
  async get(flowId: string, clientId: string): Promise<FormResult> {
    const { stored, record } = await this.load(flowId, clientId);
    return formResult(flowId, record, stored.expiresAt);
  }

  /** Ends the flow at the client's request; told to `onFinished` as an abort with reason `aborted`. */
  async abort(flowId: string, clientId: string): Promise<void> {
    const { stored, record } = await this.load(flowId, clientId);
    expectOk(await this.options.store.deleteFlow(flowId, stored.version));
    this.options.onFinished?.(
      { flowId, handler: record.handler, context: contextOf(record) },
      { type: 'abort', flow_id: flowId, handler: record.handler, reason: 'aborted', description_placeholders: null },
    );
  }

  private async load(flowId: string, clientId: string): Promise<{ stored: StoredFlow; record: FlowRecord }> {
    const stored = await this.options.store.getFlow(flowId);
    if (stored === null || stored.expiresAt <= this.now()) throw flowNotFound();
    const decoded = FlowRecord.decode(stored.data);
    // A flow of another client is answered exactly like an unknown one, so its existence leaks nothing.
    if (!isRight(decoded) || decoded.right.context.client_id !== clientId) throw flowNotFound();
    return { stored, record: decoded.right };
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
  private async ended(flowId: string, record: FlowRecord, outcome: CreateEntryOutcome | AbortOutcome): Promise<CreateEntryResult | AbortResult> {
    const flow: FinishedFlow = { flowId, handler: record.handler, context: contextOf(record) };
    const result: CreateEntryResult | AbortResult =
      outcome.kind === 'abort'
        ? {
            type: 'abort',
            flow_id: flowId,
            handler: record.handler,
            reason: outcome.reason,
            description_placeholders: outcome.descriptionPlaceholders,
          }
        : { type: 'create_entry', flow_id: flowId, handler: record.handler, result: (await this.options.finish(flow, outcome.data)).result };
    this.options.onFinished?.(flow, result);
    return this.counted(result);
  }

  private counted<R extends FlowResult>(result: R): R {
    this.options.onStep?.(result.type);
    return result;
  }
}

async function runStep(
  handler: AnyFlowHandler,
  flowId: string,
  record: FlowRecord,
  input: ValidInput | undefined,
): Promise<StepOutcome<JsonObject, string>> {
  const step = Object.hasOwn(handler.steps, record.step_id) ? handler.steps[record.step_id] : undefined;
  if (step === undefined) return abort('unknown_error');
  try {
    return await step({ flowId, state: record.state, context: contextOf(record), input });
  } catch (error) {
    if (error instanceof AbortFlow) return abort(error.reason, error.descriptionPlaceholders);
    throw error;
  }
}

function contextOf(record: FlowRecord): FlowContext {
  return {
    clientId: record.context.client_id,
    redirectUri: record.context.redirect_uri,
    remoteAddress: record.context.remote_address,
    device: record.context.device ?? null,
  };
}

function withForm(record: FlowRecord, outcome: FormOutcome<JsonObject, string>): FlowRecord {
  return {
    ...record,
    step_id: outcome.stepId,
    state: outcome.state,
    form: {
      data_schema: outcome.dataSchema,
      errors: outcome.errors,
      description_placeholders: outcome.descriptionPlaceholders,
      last_step: outcome.lastStep,
    },
  };
}

function formResult(flowId: string, record: FlowRecord, expiresAt: number): FormResult {
  return {
    type: 'form',
    flow_id: flowId,
    handler: record.handler,
    step_id: record.step_id,
    data_schema: record.form.data_schema,
    errors: record.form.errors,
    description_placeholders: record.form.description_placeholders,
    last_step: record.form.last_step,
    expires_at: new Date(expiresAt).toISOString(),
  };
}

function expectOk(outcome: 'ok' | 'conflict' | 'not_found'): void {
  if (outcome === 'conflict') throw new ServiceError('conflict', 'Another step of this flow was applied first; get the flow and retry');
  if (outcome === 'not_found') throw flowNotFound();
}
