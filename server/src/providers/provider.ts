/** The AuthProvider contract (Home Assistant's): a login flow, credentials from its result, and meta for a new user. */
import type * as t from 'io-ts';
import type { AnyFlowHandler } from '../flow/index.js';
import type { Credential, JsonObject, RefreshToken, UserStore } from '../store/types.js';
import type { VerifyGate } from './verify-gate.js';

export interface UserMeta {
  readonly name: string;
  readonly isActive: boolean;
  /** The group a new user joins (HA's `UserMeta.group`); `system-users` when absent. */
  readonly group?: string | null | undefined;
  /** Whether the user may log in only from local addresses; false when absent. */
  readonly localOnly?: boolean | undefined;
}

/**
 * What a provider's login steps may know of who is logging in: the client address (trusted proxies applied), for providers
 * that decide by it (trusted_networks). The auth layer's flow context carries more; providers see only this.
 */
export interface ProviderLoginContext {
  readonly remoteAddress: string | null;
}

export interface AuthProvider {
  readonly type: string;
  readonly id: string | null;
  /** Shown to people choosing how to log in. */
  readonly name: string;
  /** The login flow; its handler key is `[type, id]`. */
  readonly loginFlow: AnyFlowHandler<ProviderLoginContext>;
  /** Given what a finished login flow found, the credential it proves (found or created). */
  getOrCreateCredentials(flowResult: JsonObject): Promise<Credential>;
  /** The existing credential a finished login flow proves, or null (a new one): read only, so it may run before the commit. */
  findCredential?(flowResult: JsonObject): Promise<Credential | null>;
  /**
   * Called before a user is created for a new credential (and, with `refreshUserMeta`, at each login of an existing one): its
   * display name, whether it may log in, its group and whether it is local only. A provider that never creates users throws.
   */
  userMetaForCredentials(credential: Credential): Promise<UserMeta>;
  /** True when the meta is re-applied to the user at each login (HA's `refresh_user_meta`: command_line with `meta: true`). */
  readonly refreshUserMeta?: boolean;
  /** Whether `auth/providers` lists this provider to a caller at `address` (all callers when absent). */
  offeredTo?(address: string | null): boolean;
  /** False for a provider whose logins never go on to MFA (HA's `support_mfa`, false for trusted_networks). True when absent. */
  readonly supportsMfa?: boolean;
  /**
   * Checked each time a refresh token this provider's login made mints an access token (HA's `async_validate_refresh_token`):
   * throws a ServiceError to refuse, with the caller's address (null when unknown).
   */
  validateRefreshToken?(refreshToken: RefreshToken, remoteAddress: string | null): void;
  /**
   * The account a login step's answer tries (the normalised username), whether or not it exists, so brute-force limits can be
   * checked before any password is verified; null when the step names none.
   */
  loginAccount?(input: Readonly<Record<string, unknown>>): string | null;
}

/** The slice of a pino logger a provider may write to (a pino Logger satisfies it). */
export interface ProviderLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface ProviderDependencies {
  readonly store: UserStore;
  /** `http.trusted_proxies`: a proxy's own address is never trusted as a client's (trusted_networks). Empty when absent. */
  readonly trustedProxies?: readonly string[];
  /** Where providers log what a person running the server should see (a login program's stderr, say). */
  readonly logger?: ProviderLogger;
  /** The gate in front of expensive checks, shared by every provider of the process (verify-gate.ts's when absent). */
  readonly verifyGate?: VerifyGate;
}

/** A provider plugin: its own config codec (which fixes its `type`) and a factory. */
export interface ProviderFactory<Config extends { type: string }> {
  readonly type: Config['type'];
  readonly configCodec: t.Type<Config, unknown, unknown>;
  create(config: Config, dependencies: ProviderDependencies): AuthProvider;
}
