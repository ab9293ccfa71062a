/** Whether a user may log in or use a token from an address: active, and local when `local_only` (HA's `async_user_not_allowed_do_auth`). */
import { isLocalAddress } from '../defense/client-address.js';
import { ServiceError } from '../errors.js';
import type { User } from '../store/types.js';

/** Why `user` may not log in from `address` now (HA's wording), or null when it may. */
export function loginBlockedReason(user: User, address: string | null): string | null {
  if (!user.isActive) return 'User is not active';
  // An unknown address is not a local one: a local-only user is refused rather than guessed about.
  if (user.localOnly && !isLocalAddress(address)) return 'User is local only';
  return null;
}

/** Throws `access_denied` ("Login blocked: ...") when the user may not log in from the address. */
export function assertMayLogIn(user: User, address: string | null): void {
  const reason = loginBlockedReason(user, address);
  if (reason !== null) throw new ServiceError('access_denied', `Login blocked: ${reason}`);
}
