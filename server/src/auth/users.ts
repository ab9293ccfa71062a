/** Users from credentials: found when the credential has one, created from the provider's meta when not (at token exchange, as HA does). */
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import type { AuthProvider } from '../providers/registry.js';
import type { Credential, User, UserStore } from '../store/types.js';

export async function getOrCreateUser(store: UserStore, provider: AuthProvider, credential: Credential): Promise<User> {
  if (credential.userId !== null) {
    const user = await store.getUser(credential.userId);
    if (user === null) throw new ServiceError('invalid_grant', 'The account behind this code no longer exists');
    return user;
  }
  const meta = await provider.userMetaForCredentials(credential);
  // Created and bound in one atomic step: two exchanges racing for one new credential end with the same user.
  const found = await store.createUserForCredential(credential.id, {
    id: randomId(),
    name: meta.name,
    // Users created from a login are administrators of their own account, as Home Assistant's admin group default.
    isAdmin: true,
    isActive: meta.isActive,
    createdAt: Date.now(),
  });
  if (found === null) throw new ServiceError('invalid_grant', 'The account behind this code no longer exists');
  return found.user;
}
