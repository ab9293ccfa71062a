/** The AuthProvider contract (Home Assistant's): a login flow, credentials from its result, and meta for a new user. */
import type * as t from 'io-ts';
import type { AnyFlowHandler } from '../flow/index.js';
import type { Credential, JsonObject, UserStore } from '../store/types.js';

export interface UserMeta {
  readonly name: string;
  readonly isActive: boolean;
}

export interface AuthProvider {
  readonly type: string;
  readonly id: string | null;
  /** Shown to people choosing how to log in. */
  readonly name: string;
  /** The login flow; its handler key is `[type, id]`. */
  readonly loginFlow: AnyFlowHandler;
  /** Given what a finished login flow found, the credential it proves (found or created). */
  getOrCreateCredentials(flowResult: JsonObject): Promise<Credential>;
  /** The existing credential a finished login flow proves, or null (a new one): read only, so it may run before the commit. */
  findCredential?(flowResult: JsonObject): Promise<Credential | null>;
  /** Called before a user is created for a new credential: its display name and whether it may log in. */
  userMetaForCredentials(credential: Credential): Promise<UserMeta>;
  /**
   * The account a login step's answer tries (the normalised username), whether or not it exists, so brute-force limits can be
   * checked before any password is verified; null when the step names none.
   */
  loginAccount?(input: Readonly<Record<string, unknown>>): string | null;
}

export interface ProviderDependencies {
  readonly store: UserStore;
}

/** A provider plugin: its own config codec (which fixes its `type`) and a factory. */
export interface ProviderFactory<Config extends { type: string }> {
  readonly type: Config['type'];
  readonly configCodec: t.Type<Config, unknown, unknown>;
  create(config: Config, dependencies: ProviderDependencies): AuthProvider;
}
