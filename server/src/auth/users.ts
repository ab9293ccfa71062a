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
  const created = await store.createUser({
    id: randomId(),
    name: meta.name,
    // Users created from a login are administrators of their own account, as Home Assistant's admin group default.
    isAdmin: true,
    isActive: meta.isActive,
    createdAt: Date.now(),
  });
  if (await store.linkCredential(credential.id, created.id)) return created;
  // Another exchange linked this credential first: use its user and drop ours.
  await store.removeUser(created.id);
  const linked = await store.getCredential(credential.id);
  if (linked?.userId == null) throw new ServiceError('conflict', 'The account was being created by another login at the same moment; log in again');
  const user = await store.getUser(linked.userId);
  if (user === null) throw new ServiceError('conflict', 'The account was being created by another login at the same moment; log in again');
  return user;
}
