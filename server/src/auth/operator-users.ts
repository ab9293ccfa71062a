/**
 * What only the operator on the server's machine does to users (`flowgate user add --owner`, `flowgate user promote`): make the
 * owner, make an administrator, and find a user by the username of any of its logins. No socket command reaches this: a login
 * never makes the owner, and an administrator never makes one either.
 */
import { GROUP_ID_ADMIN } from '@flowgate/shared';
import { ServiceError } from '../errors.js';
import type { Audit } from '../observability/audit.js';
import { PASSWORD_PROVIDER_TYPE } from '../providers/password.js';
import type { Store, User } from '../store/types.js';
import { normalizeUsername } from '../usernames.js';
import type { Actor, UserAdmin } from './user-admin.js';

/** A configured provider's handler key: whose logins `findUser` looks through. */
export interface ProviderKey {
  readonly type: string;
  readonly id: string | null;
}

/** The roles `promote` gives. */
export interface Promotion {
  readonly owner: boolean;
  readonly admin: boolean;
}

const whoIs = (user: User): string => `"${user.name}" (user ${user.id})`;

const ownerExists = (owner: User | null): ServiceError =>
  new ServiceError(
    'not_allowed',
    `${owner === null ? 'Another user' : whoIs(owner)} is the owner already, and there is one owner: ` +
      'another can be made the owner only once that user is removed',
  );

export class OperatorUsers {
  constructor(
    private readonly store: Store,
    private readonly admin: UserAdmin,
    private readonly audit: Audit,
  ) {}

  /** The owner, or null while there is none (never elected, or removed by the operator since). */
  async owner(): Promise<User | null> {
    return (await this.store.listUsers()).find((user) => user.isOwner) ?? null;
  }

  /** Refuses while there is an owner: `flowgate user add --owner` asks before it creates anything. */
  async assertNoOwner(): Promise<void> {
    const owner = await this.owner();
    if (owner !== null) throw ownerExists(owner);
  }

  /**
   * The user `name` means, in this order: the user of a login whose username is `name` with any of `providers` (or the password
   * provider), compared folded as password and command_line usernames are and also as given (insecure_example's); else the one
   * user whose display name is `name`, folded alike (unless `byDisplayName` is false: `flowgate user remove`, where a display
   * name is too loose a match); else the user whose id is `name`. Several users for one name: refused, naming their ids, each
   * of which then names its user alone.
   */
  async findUser(name: string, providers: readonly ProviderKey[], byDisplayName = true): Promise<User> {
    const keys = new Map([{ type: PASSWORD_PROVIDER_TYPE, id: null }, ...providers].map((p) => [JSON.stringify([p.type, p.id]), p]));
    const subjects = [...new Set([normalizeUsername(name), name])];
    const credentials = await Promise.all([...keys.values()].flatMap((p) => subjects.map((subject) => this.store.findCredential(p.type, p.id, subject))));
    const byLogin = new Set(credentials.flatMap((credential) => (credential?.userId == null ? [] : [credential.userId])));
    const users = await this.store.listUsers();
    const folded = normalizeUsername(name);
    const candidates =
      byLogin.size > 0
        ? users.filter((user) => byLogin.has(user.id))
        : users.filter((user) => byDisplayName && normalizeUsername(user.name) === folded).concat(users.filter((user) => user.id === name));
    const [only, ...others] = [...new Set(candidates)];
    if (only === undefined) throw new ServiceError('user_not_found', `No user "${name}"`);
    if (others.length > 0) {
      throw new ServiceError('not_allowed', `"${name}" names several users: ${[only, ...others].map(whoIs).join(', ')}; give the user's id instead`);
    }
    return only;
  }

  /**
   * Makes the user the owner (refused while another user is: there is one owner) and/or an administrator (a member of
   * system-admin; the owner always is). Returns the user as it is now.
   */
  async promote(user: User, roles: Promotion, actor: Actor): Promise<User> {
    if (roles.owner && !user.isOwner) {
      const outcome = await this.store.makeOwner(user.id);
      if (outcome === 'not_found') throw new ServiceError('user_not_found', `No user "${user.name}"`);
      if (outcome === 'owner_exists') throw ownerExists(await this.owner());
      this.audit('user_updated', { user_id: user.id, address: actor.address, by: actor.userId, via: actor.via, is_admin: true, changed: 'is_owner' });
    }
    const current = (await this.store.getUser(user.id)) ?? user;
    if (roles.admin && !current.groupIds.includes(GROUP_ID_ADMIN)) {
      await this.admin.update(user.id, { groupIds: [...current.groupIds, GROUP_ID_ADMIN] }, actor);
    }
    const promoted = await this.store.getUser(user.id);
    if (promoted === null) throw new ServiceError('user_not_found', `No user "${user.name}"`);
    return promoted;
  }
}
