/**
 * Puts every provider's login steps behind the brute-force limits: the attempt is reserved before the provider checks anything
 * (a refused attempt costs no password hash), and settled by the step's outcome only once that outcome committed in the store.
 * A right secret of a user who may not log in from the flow's address is answered, and counted, as a wrong one.
 */
import type { LoginDefense } from '../defense/login-limits.js';
import { withEffects, type AnyFlowHandler, type Step, type StepArgs, type StepOutcome } from '../flow/index.js';
import type { AuthProvider } from '../providers/registry.js';
import type { Credential, JsonObject, UserStore } from '../store/types.js';
import type { LoginContext } from './login-context.js';
import { loginBlockedReason } from './user-access.js';

/** Form errors that mean "the secret was wrong" (HA's keys): these count as failed attempts. */
const FAILURE_ERRORS: ReadonlySet<string> = new Set(['invalid_auth', 'invalid_code']);

/** The key per-account counters and device tokens are bound to: the provider and the account's normalised name. */
export function accountKey(provider: Pick<AuthProvider, 'type' | 'id'>, account: string): string {
  return JSON.stringify([provider.type, provider.id, account]);
}

/** Who a step of a guarded handler attempts to log in as: the account key and the username as typed (null: none named). */
export type AccountOf = (args: StepArgs<JsonObject, LoginContext>) => { readonly account: string; readonly username: string } | null;

/** A provider's steps name their account in their answer (the username field). */
export function providerAccount(provider: AuthProvider): AccountOf {
  return ({ input }) => {
    const username = input === undefined ? null : (provider.loginAccount?.(input) ?? null);
    return username === null ? null : { account: accountKey(provider, username), username };
  };
}

/** Why a form refused a right secret (its user may not log in from here): for the audit log only, the client sees `failure`. */
const blockedReasons = new WeakMap<StepOutcome<JsonObject, string>, string>();

/** Entries whose user refuseBlockedLogins found allowed to log in: the finish need not read that user again. */
const admittedEntries = new WeakSet<JsonObject>();

/** Whether refuseBlockedLogins already checked the user of this entry (the object a step's `create_entry` carried). */
export const admittedAtStep = (entry: JsonObject): boolean => admittedEntries.has(entry);

/** The existing credential a step's `create_entry` data proves, read only (null: a new one, or none to find). */
export type ProvenCredential = (entry: JsonObject) => Promise<Credential | null>;

/**
 * `handler`'s steps, with the right secret of a known user who may not log in from the flow's address (deactivated, or local
 * only and the address is not local) answered exactly as a wrong one: the step's form again, its error `failure`. Neither the
 * answer nor the limits then tell that the secret was right: guardLoginFlow counts it as the failure it looks like (never as
 * the success that would clear the address's counters), and audits why. Put below the MFA hand-over, so that a blocked user
 * is not asked for a second factor either. A step with no form to show again keeps its outcome (the finish refuses it).
 */
export function refuseBlockedLogins(
  handler: AnyFlowHandler<LoginContext>,
  failure: 'invalid_auth' | 'invalid_code',
  proven: ProvenCredential,
  users: Pick<UserStore, 'getUser'>,
): AnyFlowHandler<LoginContext> {
  const refuse =
    (step: Step<JsonObject, string, LoginContext>): Step<JsonObject, string, LoginContext> =>
    async (args) => {
      const outcome = await step(args);
      if (args.input === undefined || outcome.kind !== 'create_entry') return outcome;
      const credential = await proven(outcome.data);
      const user = credential?.userId == null ? null : await users.getUser(credential.userId);
      if (user === null) return outcome;
      if (loginBlockedReason(user, args.context.remoteAddress) === null) {
        admittedEntries.add(outcome.data);
        return outcome;
      }
      const shown = await step({ ...args, input: undefined });
      if (shown.kind !== 'form') return outcome;
      // What the right answer would have done after its commit (record the login, re-hash) is not done for a refused one.
      await outcome.effects?.discarded?.();
      const refused = { ...shown, errors: { ...(shown.errors ?? {}), base: failure } };
      blockedReasons.set(refused, user.isActive ? 'user_local_only' : 'user_inactive');
      return refused;
    };
  const steps = Object.fromEntries(Object.entries(handler.steps).map(([id, step]) => [id, refuse(step)]));
  return { ...handler, steps: steps as AnyFlowHandler<LoginContext>['steps'] };
}

/**
 * `handler`'s steps behind the limits: each answer is an attempt of `accountOf` from the flow's address and device. `kind`
 * names the handler for logs and metrics (the provider type, or `mfa`).
 */
export function guardLoginFlow(
  handler: AnyFlowHandler<LoginContext>,
  kind: string,
  accountOf: AccountOf,
  defense: LoginDefense,
): AnyFlowHandler<LoginContext> {
  const guard =
    (step: Step<JsonObject, string, LoginContext>): Step<JsonObject, string, LoginContext> =>
    async (args) => {
      if (args.input === undefined) return step(args);
      const named = accountOf(args);
      const attempt = await defense.begin({
        address: args.context.remoteAddress,
        account: named?.account ?? null,
        provider: kind,
        username: named?.username ?? null,
        device: args.context.device,
      });
      let outcome;
      try {
        outcome = await step(args);
      } catch (error) {
        await attempt.settle('release').catch(() => undefined);
        throw error;
      }
      // The wrong code that used up an MFA module's retries is a failure too; a hand-over (right password, MFA next) is neither.
      const error = outcome.kind === 'form' ? (outcome.errors?.['base'] ?? '') : outcome.kind === 'abort' ? outcome.reason : '';
      const failed = (outcome.kind === 'form' && FAILURE_ERRORS.has(error)) || (outcome.kind === 'abort' && error === 'too_many_retry');
      const settlement = outcome.kind === 'create_entry' ? 'success' : failed ? 'failure' : 'release';
      const reason = blockedReasons.get(outcome) ?? error;
      return withEffects(outcome, { committed: () => attempt.settle(settlement, reason), discarded: () => attempt.settle('release') });
    };
  const steps = Object.fromEntries(Object.entries(handler.steps).map(([id, step]) => [id, guard(step)]));
  return { ...handler, steps: steps as AnyFlowHandler<LoginContext>['steps'] };
}
