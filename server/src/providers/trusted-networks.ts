/** `trusted_networks`: passwordless logins as an existing user, from listed networks only (Home Assistant's provider). */
import * as t from 'io-ts';
import { GroupId, MAX_OPAQUE_ID_LENGTH, boundedString } from '@flowgate/shared';
import { closedObject } from '../codec.js';
import { ConfigError } from '../config/config.js';
import { addressRanges, type AddressRanges } from '../defense/client-address.js';
import { ServiceError } from '../errors.js';
import { abort, createEntry, defineFlowHandler, field, showForm } from '../flow/index.js';
import type { Credential, JsonObject, User } from '../store/types.js';
import type { AuthProvider, ProviderDependencies, ProviderFactory, ProviderLoginContext } from './provider.js';

export const TRUSTED_NETWORKS_PROVIDER_TYPE = 'trusted_networks';
/** Home Assistant's DEFAULT_TITLE. */
const DEFAULT_NAME = 'Trusted Networks';
/** The abort reason of a login from anywhere else, HA's. */
export const NOT_ALLOWED = 'not_allowed';
/** The login form's one field: the id of the user to log in as (HA's `user`). */
export const USER_FIELD = 'user';

/** True when `entry` is one IP address or CIDR range (the same parser the ranges are built with, so the two never disagree). */
function isAddressOrRange(entry: string): boolean {
  try {
    addressRanges([entry], 'entry');
    return true;
  } catch (error) {
    if (error instanceof ConfigError) return false;
    throw error;
  }
}

const Network = t.refinement(t.string, isAddressOrRange, 'an IP address or a CIDR range (such as 192.168.1.5 or 192.168.1.0/24)');

/**
 * `{group: <id>}`: every member of the group. HA's schema takes one id while its tests give a list; both are accepted here, and
 * the ids are HA's closed set, so a misspelt group fails the config rather than silently matching nobody.
 */
const GroupEntry = closedObject('trusted user group', { group: t.union([GroupId, t.array(GroupId)]) }, {});
/** A user id, as `config/auth/list` shows it. */
const TrustedUser = t.union([boundedString(MAX_OPAQUE_ID_LENGTH), GroupEntry]);
const TrustedUserList = t.array(TrustedUser);
const TrustedUsersRecord = t.record(t.string, TrustedUserList);

/**
 * `trusted_users`: network -> who may log in from it. Not `t.record(Network, ...)`: io-ts drops the keys its domain refuses,
 * and a misspelt network silently dropped would lift that network's restriction. A bad key fails, named by its path.
 */
const TrustedUsers = new t.Type<t.TypeOf<typeof TrustedUsersRecord>, t.TypeOf<typeof TrustedUsersRecord>, unknown>(
  'trusted_users (network: [user id or {group: id}])',
  (u): u is t.TypeOf<typeof TrustedUsersRecord> => TrustedUsersRecord.is(u) && Object.keys(u).every(isAddressOrRange),
  (u, c) => {
    const decoded = TrustedUsersRecord.validate(u, c);
    if (decoded._tag === 'Left') return decoded;
    const bad = Object.keys(decoded.right).find((key) => !isAddressOrRange(key));
    if (bad === undefined) return decoded;
    return t.failure(bad, [...c, { key: bad, type: Network, actual: bad }], `the key "${bad}" is not an IP address or a CIDR range`);
  },
  t.identity,
);

export const TrustedNetworksConfig = closedObject(
  'trusted_networks provider',
  {
    type: t.literal(TRUSTED_NETWORKS_PROVIDER_TYPE),
    // Empty would refuse every login: surely a mistake, so it is reported (HA refuses such logins at run time instead).
    trusted_networks: t.refinement(t.array(Network), (list) => list.length > 0, 'a non-empty list of addresses or CIDR ranges'),
  },
  {
    id: t.union([t.string, t.null]),
    name: t.string,
    /** Per network (the first that holds the address wins): who may log in from it; absent, every active user. */
    trusted_users: TrustedUsers,
    /** With exactly one user to pick, log in as that user without showing the form. */
    allow_bypass_login: t.boolean,
  },
);
export type TrustedNetworksConfig = t.TypeOf<typeof TrustedNetworksConfig>;

/** One `trusted_users` entry, parsed: the range, and the users and groups it lets log in. */
interface TrustedUsersRule {
  readonly network: AddressRanges;
  readonly userIds: ReadonlySet<string>;
  readonly groupIds: ReadonlySet<string>;
}

function trustedUsersRules(trustedUsers: t.TypeOf<typeof TrustedUsers>): TrustedUsersRule[] {
  // Parsed once together first, so a bad network is a ConfigError naming its place (`trusted_users[1]`).
  addressRanges(Object.keys(trustedUsers), 'trusted_users');
  // Object keys keep the config's order (a network is never an integer-like key), so "the first network" is the file's first.
  return Object.entries(trustedUsers).map(([network, entries]) => ({
    network: addressRanges([network], 'trusted_users'),
    userIds: new Set(entries.filter((entry): entry is string => typeof entry === 'string')),
    groupIds: new Set(entries.flatMap((entry) => (typeof entry === 'string' ? [] : [entry.group].flat()))),
  }));
}

export const trustedNetworksProvider = {
  type: TRUSTED_NETWORKS_PROVIDER_TYPE,
  configCodec: TrustedNetworksConfig,
  create(config: TrustedNetworksConfig, dependencies: ProviderDependencies): AuthProvider {
    const { store, logger } = dependencies;
    const id = config.id ?? null;
    // Parsed again here for code that builds a provider without the codec: a bad entry is still a ConfigError naming it.
    const networks = addressRanges(config.trusted_networks, 'trusted_networks');
    const proxies = addressRanges(dependencies.trustedProxies ?? [], 'http.trusted_proxies');
    const rules = trustedUsersRules(config.trusted_users ?? {});
    const allowBypass = config.allow_bypass_login ?? false;

    /** Why a login or a refresh from `address` is refused (HA's `async_validate_access`), or null when it may go on. */
    function refusal(address: string | null): string | null {
      if (address === null) return 'the client address is unknown';
      if (!networks.contains(address)) return `${address} is not in trusted_networks`;
      // A proxy forwards everyone: trusting its own address would let the whole internet behind it in.
      if (proxies.contains(address)) return `${address} is a trusted proxy, and a proxy's own address is never trusted as a client's`;
      return null;
    }

    /** The active users `address` may log in as, by name: those of the first `trusted_users` network holding it, else all. */
    async function allowedUsers(address: string | null): Promise<User[]> {
      const rule = rules.find((candidate) => candidate.network.contains(address));
      const allowed = (user: User): boolean =>
        rule === undefined || rule.userIds.has(user.id) || user.groupIds.some((group) => rule.groupIds.has(group));
      const users = (await store.listUsers()).filter((user) => user.isActive && allowed(user));
      // Sorted so every instance shows the same list (the store's order is its own).
      return users.sort((a, b) => a.name.localeCompare(b.name) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }

    const userForm = (users: readonly User[]) => [
      field.select(
        USER_FIELD,
        users.map((user) => [user.id, user.name] as const),
      ),
    ];

    const notAllowed = (address: string | null, why: string) => {
      logger?.info({ remote: address, reason: why }, 'refused a trusted_networks login');
      return abort(NOT_ALLOWED);
    };

    return {
      type: TRUSTED_NETWORKS_PROVIDER_TYPE,
      id,
      name: config.name ?? DEFAULT_NAME,
      supportsMfa: false,
      // HA lists this provider only to callers on a trusted network: nobody else could use it.
      offeredTo: (address) => refusal(address) === null,
      loginFlow: defineFlowHandler<JsonObject, 'init', ProviderLoginContext>({
        key: [TRUSTED_NETWORKS_PROVIDER_TYPE, id],
        initialState: () => ({}),
        // It only reads (the users allowed from the address): a run may be thrown away and run again.
        rerunnable: true,
        steps: {
          // Checked again at the answer: the instance taking it may run a newer config, and users change meanwhile.
          init: async ({ input, state, context }) => {
            const address = context.remoteAddress;
            const refused = refusal(address);
            if (refused !== null) return notAllowed(address, refused);
            const users = await allowedUsers(address);
            if (users.length === 0) return notAllowed(address, 'no active user may log in from this address');
            if (input === undefined) {
              const only = users[0];
              if (allowBypass && users.length === 1 && only !== undefined) return createEntry({ [USER_FIELD]: only.id });
              return showForm('init', userForm(users), state);
            }
            // The engine already refused an id the form did not offer; this catches one deactivated or disallowed since.
            const picked = String(input[USER_FIELD]);
            if (!users.some((user) => user.id === picked)) {
              return showForm('init', userForm(users), state, { errors: { [USER_FIELD]: 'invalid_option' } });
            }
            return createEntry({ [USER_FIELD]: picked });
          },
        },
      }),
      async getOrCreateCredentials(flowResult): Promise<Credential> {
        const userId = String(flowResult[USER_FIELD]);
        const user = await store.getUser(userId);
        // Only an existing, active user: this provider never creates one (HA's InvalidUserError).
        if (user === null || !user.isActive) {
          throw new ServiceError('not_found', 'The user picked no longer exists or was deactivated; start the login again');
        }
        const credential = await store.getOrCreateCredential(TRUSTED_NETWORKS_PROVIDER_TYPE, id, user.id, { user_id: user.id });
        if (credential.userId === user.id) return credential;
        if (credential.userId === null && (await store.linkCredential(credential.id, user.id))) return { ...credential, userId: user.id };
        // Linked by a racing login to the same user: fine; to another, impossible unless the store is corrupt.
        const again = await store.getCredential(credential.id);
        if (again?.userId === user.id) return again;
        throw new ServiceError('unknown_error', 'This trusted_networks login is bound to another user');
      },
      async userMetaForCredentials() {
        // getOrCreateCredentials links every credential to its user first, so no user is ever made from one.
        throw new Error('The trusted_networks provider never creates users');
      },
      validateRefreshToken(_refreshToken, remoteAddress) {
        if (remoteAddress === null) {
          throw new ServiceError('access_denied', 'Tokens of a trusted_networks login are refreshed only from a known address, and this one is unknown');
        }
        const refused = refusal(remoteAddress);
        if (refused !== null) {
          throw new ServiceError('access_denied', `Tokens of a trusted_networks login are refreshed only from a trusted network: ${refused}`);
        }
      },
    };
  },
} satisfies ProviderFactory<TrustedNetworksConfig>;
