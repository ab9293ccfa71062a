/** The contract a flow handler implements: an initial state and a typed map of steps, the first one named `init`. */
import type { HandlerKey } from '@flowgate/shared';
import type { JsonObject } from '../store/types.js';
import type { StepOutcome } from './results.js';
import type { ValidInput } from './schema.js';

/** What the flow knows about who started it; kept with the flow so any instance sees the same. */
export interface FlowContext {
  readonly clientId: string;
  readonly redirectUri: string | null;
  readonly remoteAddress: string | null;
  /**
   * A device the caller vouched for when the flow started (the auth layer's device token check), kept for the flow's later
   * steps. Carried, never interpreted, by the engine.
   */
  readonly device?: { readonly id: string; readonly account: string } | null;
}

export interface StepArgs<State extends JsonObject> {
  readonly flowId: string;
  readonly state: State;
  readonly context: FlowContext;
  /** Undefined when the step is shown for the first time; else the user's answer, already checked against the form. */
  readonly input: ValidInput | undefined;
}

export type Step<State extends JsonObject, StepId extends string> = (
  args: StepArgs<State>,
) => Promise<StepOutcome<State, StepId>>;

export interface FlowHandler<State extends JsonObject = JsonObject, StepId extends string = string> {
  readonly key: HandlerKey;
  initialState(context: FlowContext): State;
  /** Every step by id; `init` runs first. The stored step id is looked up here, never turned into a method name. */
  readonly steps: { readonly [Id in StepId | 'init']: Step<State, StepId | 'init'> };
}

/** Erases a handler's type parameters for the manager, which only moves its state in and out of the store. */
export type AnyFlowHandler = FlowHandler<JsonObject, string>;

export function defineFlowHandler<State extends JsonObject, StepId extends string>(
  handler: FlowHandler<State, StepId>,
): AnyFlowHandler {
  return handler as unknown as AnyFlowHandler;
}
