/**
 * Puts every provider's login steps behind the brute-force limits: the attempt is reserved before the provider checks anything
 * (a refused attempt costs no password hash), and settled by the step's outcome only once that outcome committed in the store.
 */
import type { LoginDefense } from '../defense/login-limits.js';
import { withEffects, type AnyFlowHandler, type Step, type StepArgs } from '../flow/index.js';
import type { AuthProvider } from '../providers/registry.js';
import type { JsonObject } from '../store/types.js';
import type { LoginContext } from './login-context.js';

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
      return withEffects(outcome, { committed: () => attempt.settle(settlement, error), discarded: () => attempt.settle('release') });
    };
  const steps = Object.fromEntries(Object.entries(handler.steps).map(([id, step]) => [id, guard(step)]));
  return { ...handler, steps: steps as AnyFlowHandler<LoginContext>['steps'] };
}
