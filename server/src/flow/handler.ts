/** The contract a flow handler implements: an initial state and a typed map of steps, the first one named `init`. */
import type { HandlerKey, StringMap } from '@flowgate/shared';
import type { JsonObject } from '../store/types.js';
import type { StepOutcome } from './results.js';
import type { ValidInput } from './schema.js';

/**
 * What a step gets. `context` is the flow's owner's value (who started it, for a login flow), kept with the flow so every
 * instance sees the same; the engine stores it and hands it back, never looks inside.
 */
export interface StepArgs<State extends JsonObject, Context> {
  readonly flowId: string;
  readonly state: State;
  readonly context: Context;
  /** Undefined when the step is shown for the first time; else the user's answer, already checked against the form. */
  readonly input: ValidInput | undefined;
  /** When the flow started (ms since the epoch): Home Assistant measures an MFA login's expiry from it. */
  readonly createdAt: number;
}

export type Step<State extends JsonObject, StepId extends string, Context = unknown> = (
  args: StepArgs<State, Context>,
) => Promise<StepOutcome<State, StepId>>;

export interface FlowHandler<State extends JsonObject = JsonObject, StepId extends string = string, Context = unknown> {
  readonly key: HandlerKey;
  initialState(context: Context): State;
  /** Every step by id; `init` runs first. The stored step id is looked up here, never turned into a method name. */
  readonly steps: { readonly [Id in StepId | 'init']: Step<State, StepId | 'init', Context> };
  /**
   * Placeholders worked out each time the current form is shown (after a step, and on every `get`), and never stored with the
   * flow: for what must not sit in the store in clear while the flow lives, such as a TOTP secret its state keeps sealed.
   */
  readonly describe?: (args: DescribeArgs<State, StepId | 'init', Context>) => Promise<StringMap | null>;
  /**
   * True when a run of any step may be thrown away and run again: before its outcome commits, it changes nothing that its
   * `discarded` effect does not undo, sends nothing, and costs little. The engine may then run it on the version of the flow
   * this instance knows, before the store confirms that version is current (the compare-and-set does). Unset, the engine
   * confirms the version with a read first: a TOTP check that marks its code used, a code sent by mail or a password hash
   * must not run on a version that turns out to be gone.
   */
  readonly rerunnable?: boolean;
}

export interface DescribeArgs<State extends JsonObject, StepId extends string, Context> {
  readonly flowId: string;
  readonly stepId: StepId;
  readonly state: State;
  readonly context: Context;
}

/** Erases a handler's state and step types for the manager, which only moves its state in and out of the store. */
export type AnyFlowHandler<Context = unknown> = FlowHandler<JsonObject, string, Context>;

export function defineFlowHandler<State extends JsonObject, StepId extends string, Context = unknown>(
  handler: FlowHandler<State, StepId, Context>,
): AnyFlowHandler<Context> {
  return handler as unknown as AnyFlowHandler<Context>;
}
