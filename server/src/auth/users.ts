/** Users from credentials: found when the credential has one, created from the provider's meta when not (at token exchange, as HA does). */
import { GROUP_ID_USER } from '@flowgate/shared';
import { randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import type { AuthProvider, UserMeta } from '../providers/registry.js';
import type { Credential, User, UserPatch, UserStore } from '../store/types.js';

const accountGone = (): ServiceError => new ServiceError('invalid_grant', 'The account behind this code no longer exists');

/** A new user's group: the one its provider's meta names (command_line's `group=` line), else an ordinary user's. */
const groupsOf = (meta: UserMeta): string[] => [meta.group ?? GROUP_ID_USER];

export async function getOrCreateUser(store: UserStore, provider: AuthProvider, credential: Credential): Promise<User> {
  if (credential.userId !== null) {
    const user = await store.getUser(credential.userId);
    if (user !== null) {
      return provider.refreshUserMeta === true ? refreshMeta(store, user, await provider.userMetaForCredentials(credential)) : user;
    }
    // Named but not there (yet): on Redis Cluster a racing first login claims the credential before it writes the user, so
    // this asks createUserForCredential below, which waits for that user (or answers null for a user that is really gone).
  }
  const meta = await provider.userMetaForCredentials(credential);
  // Created and bound in one atomic step: two exchanges racing for one new credential end with the same user. A login makes an
  // ordinary user (system-users) unless the provider says otherwise, and never the owner, also on an empty store: whoever
  // reached the login page first would own the deployment. Only the operator makes the owner (`flowgate user add`, or
  // `flowgate user promote --owner`); an administrator only by an administrator's (or the operator's) hand.
  const found = await store.createUserForCredential(credential.id, {
    id: randomId(),
    name: meta.name,
    isActive: meta.isActive,
    groupIds: groupsOf(meta),
    localOnly: meta.localOnly ?? false,
    createdAt: Date.now(),
  });
  if (found === null) throw accountGone();
  return found.user;
}

/**
 * HA's `refresh_user_meta`: the provider's latest word on name, group and local_only replaces the user's at each login. The
 * owner stays an administrator whatever the group says (the store keeps it in system-admin).
 */
async function refreshMeta(store: UserStore, user: User, meta: UserMeta): Promise<User> {
  const patch: UserPatch = {
    ...(meta.name === user.name ? {} : { name: meta.name }),
    ...(meta.group === undefined || meta.group === null ? {} : { groupIds: groupsOf(meta) }),
    ...(meta.localOnly === undefined || meta.localOnly === user.localOnly ? {} : { localOnly: meta.localOnly }),
  };
  if (Object.keys(patch).length === 0) return user;
  return (await store.updateUser(user.id, patch)) ?? user;
}
