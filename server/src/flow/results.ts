/** What a flow step returns, and the builders handlers use to say it (`showForm`, `createEntry`, `abort`, `AbortFlow`). */
import type { DataSchema, StringMap } from '@flowgate/shared';
import type { JsonObject } from '../store/types.js';

export interface FormOutcome<State extends JsonObject, StepId extends string> {
  readonly kind: 'form';
  readonly stepId: StepId;
  readonly dataSchema: DataSchema;
  readonly errors: StringMap | null;
  readonly descriptionPlaceholders: StringMap | null;
  readonly lastStep: boolean | null;
  /** The flow's state after this step; kept in the store, never sent to the client. */
  readonly state: State;
}

export interface CreateEntryOutcome {
  readonly kind: 'create_entry';
  /** What the flow found (e.g. a username); turned into the client-facing `result` by the manager's finish hook. */
  readonly data: JsonObject;
}

export interface AbortOutcome {
  readonly kind: 'abort';
  readonly reason: string;
  readonly descriptionPlaceholders: StringMap | null;
}

export type StepOutcome<State extends JsonObject, StepId extends string> =
  | FormOutcome<State, StepId>
  | CreateEntryOutcome
  | AbortOutcome;

export interface ShowFormOptions {
  errors?: StringMap | null;
  descriptionPlaceholders?: StringMap | null;
  lastStep?: boolean | null;
}

export function showForm<State extends JsonObject, StepId extends string>(
  stepId: StepId,
  dataSchema: DataSchema,
  state: State,
  options: ShowFormOptions = {},
): FormOutcome<State, StepId> {
  return {
    kind: 'form',
    stepId,
    dataSchema,
    state,
    errors: options.errors ?? null,
    descriptionPlaceholders: options.descriptionPlaceholders ?? null,
    lastStep: options.lastStep ?? null,
  };
}

export function createEntry(data: JsonObject): CreateEntryOutcome {
  return { kind: 'create_entry', data };
}

export function abort(reason: string, descriptionPlaceholders: StringMap | null = null): AbortOutcome {
  return { kind: 'abort', reason, descriptionPlaceholders };
}

/** Thrown from inside a step (at any depth) to end the flow with an abort result, as Home Assistant's `AbortFlow`. */
export class AbortFlow extends Error {
  override readonly name = 'AbortFlow';
  constructor(
    readonly reason: string,
    readonly descriptionPlaceholders: StringMap | null = null,
  ) {
    super(`Flow aborted: ${reason}`);
  }
}
