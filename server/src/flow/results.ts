/** What a flow step returns, and the builders handlers use to say it (`showForm`, `createEntry`, `abort`, `AbortFlow`). */
import type { DataSchema, HandlerKey, StringMap } from '@flowgate/shared';
import type { JsonObject } from '../store/types.js';

/**
 * Work a step wants done only if its outcome is the one the store keeps: a step runs before its compare-and-set, and of two
 * racing steps only one commits (Kratos' post-login hooks; HA runs such work inside the step, which a shared store cannot).
 */
export interface StepEffects {
  /** Runs once the step's compare-and-set committed. A failure is reported, not answered: the step has happened. */
  readonly committed?: () => Promise<void>;
  /** Runs when the step did not commit (another step of the flow won, the flow went away, the store failed): undo reservations. */
  readonly discarded?: () => Promise<void>;
}

interface WithEffects {
  readonly effects?: StepEffects;
}

export interface FormOutcome<State extends JsonObject, StepId extends string> extends WithEffects {
  readonly kind: 'form';
  readonly stepId: StepId;
  readonly dataSchema: DataSchema;
  readonly errors: StringMap | null;
  readonly descriptionPlaceholders: StringMap | null;
  readonly lastStep: boolean | null;
  /** The flow's state after this step; kept in the store, never sent to the client. */
  readonly state: State;
}

export interface CreateEntryOutcome extends WithEffects {
  readonly kind: 'create_entry';
  /** What the flow found (e.g. a username); turned into the client-facing `result` by the manager's finish hook. */
  readonly data: JsonObject;
}

/** Home Assistant's `menu`: the client picks the next step among `menuOptions` (each a step id of the same handler). */
export interface MenuOutcome<State extends JsonObject, StepId extends string> extends WithEffects {
  readonly kind: 'menu';
  readonly stepId: StepId;
  readonly menuOptions: readonly StepId[];
  readonly descriptionPlaceholders: StringMap | null;
  readonly state: State;
}

/**
 * The flow goes on with another handler (a login provider hands it to the MFA handler): the engine runs that handler's `init`
 * step at once, in the same compare-and-set, and dispatches every later step to it. The client-facing `handler` stays the same.
 */
export interface HandOverOutcome extends WithEffects {
  readonly kind: 'hand_over';
  readonly handler: HandlerKey;
  readonly state: JsonObject;
}

export interface AbortOutcome extends WithEffects {
  readonly kind: 'abort';
  readonly reason: string;
  readonly descriptionPlaceholders: StringMap | null;
}

export type StepOutcome<State extends JsonObject, StepId extends string> =
  | FormOutcome<State, StepId>
  | MenuOutcome<State, StepId>
  | HandOverOutcome
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

export function createEntry(data: JsonObject, effects?: StepEffects): CreateEntryOutcome {
  return effects === undefined ? { kind: 'create_entry', data } : { kind: 'create_entry', data, effects };
}

/** The outcome with `effects` added after (committed) or before (discarded) those it already has. */
export function withEffects<O extends StepOutcome<JsonObject, string>>(outcome: O, effects: StepEffects): O {
  const own = outcome.effects;
  if (own === undefined) return { ...outcome, effects };
  return {
    ...outcome,
    effects: {
      // try/finally: one effect failing does not skip the other.
      committed: async () => {
        try {
          await own.committed?.();
        } finally {
          await effects.committed?.();
        }
      },
      discarded: async () => {
        try {
          await effects.discarded?.();
        } finally {
          await own.discarded?.();
        }
      },
    },
  };
}

export function showMenu<State extends JsonObject, StepId extends string>(
  stepId: StepId,
  menuOptions: readonly StepId[],
  state: State,
  descriptionPlaceholders: StringMap | null = null,
): MenuOutcome<State, StepId> {
  return { kind: 'menu', stepId, menuOptions, state, descriptionPlaceholders };
}

export function handOver(handler: HandlerKey, state: JsonObject, effects?: StepEffects): HandOverOutcome {
  return effects === undefined ? { kind: 'hand_over', handler, state } : { kind: 'hand_over', handler, state, effects };
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
