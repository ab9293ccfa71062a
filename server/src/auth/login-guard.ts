/**
 * Puts every provider's login steps behind the brute-force limits: the attempt is reserved before the provider checks anything
 * (a refused attempt costs no password hash), and settled by the step's outcome only once that outcome committed in the store.
 */
import type { TrustedDevice } from '../defense/device-tokens.js';
import type { LoginDefense } from '../defense/login-limits.js';
import { withEffects, type AnyFlowHandler, type Step } from '../flow/index.js';
import type { AuthProvider } from '../providers/registry.js';
import type { JsonObject } from '../store/types.js';

/** Form errors that mean "the secret was wrong" (HA's keys): these count as failed attempts. */
const FAILURE_ERRORS: ReadonlySet<string> = new Set(['invalid_auth', 'invalid_code']);

/** The key per-account counters and device tokens are bound to: the provider and the account's normalised name. */
export function accountKey(provider: Pick<AuthProvider, 'type' | 'id'>, account: string): string {
  return JSON.stringify([provider.type, provider.id, account]);
}

/** The device the flow's context carries, when the auth layer put one there at `login_flow/init`. */
function deviceOf(context: { readonly device?: TrustedDevice | null }): TrustedDevice | null {
  return context.device ?? null;
}

export function guardLoginFlow(provider: AuthProvider, defense: LoginDefense): AnyFlowHandler {
  const handler = provider.loginFlow;
  const guard =
    (step: Step<JsonObject, string>): Step<JsonObject, string> =>
    async (args) => {
      if (args.input === undefined) return step(args);
      const username = provider.loginAccount?.(args.input) ?? null;
      const attempt = await defense.begin({
        address: args.context.remoteAddress,
        account: username === null ? null : accountKey(provider, username),
        provider: provider.type,
        username,
        device: deviceOf(args.context),
      });
      let outcome;
      try {
        outcome = await step(args);
      } catch (error) {
        await attempt.settle('release').catch(() => undefined);
        throw error;
      }
      const error = outcome.kind === 'form' ? (outcome.errors?.['base'] ?? '') : '';
      const settlement = outcome.kind === 'create_entry' ? 'success' : FAILURE_ERRORS.has(error) ? 'failure' : 'release';
      return withEffects(outcome, { committed: () => attempt.settle(settlement, error), discarded: () => attempt.settle('release') });
    };
  const steps = Object.fromEntries(Object.entries(handler.steps).map(([id, step]) => [id, guard(step)]));
  return { ...handler, steps: steps as AnyFlowHandler['steps'] };
}
