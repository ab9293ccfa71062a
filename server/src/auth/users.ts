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
    // A login makes an ordinary user (Home Assistant's system-users); the store makes the first user ever the owner, and the owner
    // an administrator. Anyone else becomes one only by an administrator's hand (`flowgate user add --admin`).
    isAdmin: false,
    isActive: meta.isActive,
    createdAt: Date.now(),
  });
  if (found === null) throw new ServiceError('invalid_grant', 'The account behind this code no longer exists');
  return found.user;
}
