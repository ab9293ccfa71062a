/** The store contract: everything Flowgate keeps, in one interface that every backend (Redis, embedded SQLite) implements. */
import { ServiceError } from '../errors.js';
import type { LoginDefenseStore } from './login-defense.js';
import type { MfaStore } from './mfa.js';

/** A JSON value as kept in the store (flow state is plain JSON so any instance can continue it). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Raised by every store method when the backing service cannot be reached; the transport answers `unavailable`. */
export class StoreUnavailableError extends ServiceError {
  override readonly name = 'StoreUnavailableError';
  constructor(message = 'The store cannot be reached right now; retry in a moment', options?: { cause?: unknown }) {
    super('unavailable', message, options);
  }
}

/** A login flow as stored: its state is opaque JSON to the store; `version` increases by one on every write. */
export interface StoredFlow {
  readonly id: string;
  readonly version: number;
  readonly data: JsonObject;
  /** Milliseconds since the epoch; the flow is gone (as if deleted) from this instant. */
  readonly expiresAt: number;
}

/** The outcome of a compare-and-set: `conflict` when the version moved, `not_found` when the flow is gone or expired. */
export type CasOutcome = 'ok' | 'conflict' | 'not_found';

export interface FlowStore {
  /** Creates a flow at version 1. Ids are random (128 bits), so an existing id is a bug: it throws. */
  createFlow(id: string, data: JsonObject, expiresAt: number): Promise<StoredFlow>;
  /** The flow, or null when unknown or expired. */
  getFlow(id: string): Promise<StoredFlow | null>;
  /** Writes `data` as version `expectedVersion + 1` only if the stored version is still `expectedVersion`. */
  replaceFlow(id: string, expectedVersion: number, data: JsonObject, expiresAt: number): Promise<CasOutcome>;
  /** Deletes the flow only if its version is still `expectedVersion` (finishing a flow is a step too). */
  deleteFlow(id: string, expectedVersion: number): Promise<CasOutcome>;
}

/** A single-use code (authorization codes): bound to one client id, taken at most once, gone after its TTL. */
export interface CodeStore {
  putCode(code: string, clientId: string, data: JsonObject, expiresAt: number): Promise<void>;
  /**
   * Atomically takes the code: returns its data and deletes it when it exists, has not expired and was issued to
   * `clientId`; otherwise returns null and leaves it in place (a code shown with another client id stays valid for its own).
   */
  takeCode(code: string, clientId: string): Promise<JsonObject | null>;
}

export interface User {
  readonly id: string;
  readonly name: string;
  readonly isOwner: boolean;
  /** Derived, never stored: the owner, or a member of `system-admin` (userRecord in user-record.ts works it out). */
  readonly isAdmin: boolean;
  readonly isActive: boolean;
  /** Home Assistant's group ids; the owner's always include `system-admin`. */
  readonly groupIds: readonly string[];
  /** May log in and use tokens only from a local address (loopback, private ranges, link-local). */
  readonly localOnly: boolean;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

/** What a caller gives to create a user: whether it is the owner (and so an admin) is the store's decision. */
export type NewUser = Omit<User, 'isOwner' | 'isAdmin'>;

/** Whether a user being created may become the owner. Only the operator makes the owner: a login or an admin command never does. */
export interface NewUserOptions {
  /**
   * True (`flowgate user add`): the user becomes the owner when no owner was ever elected, atomically, so of racing adds one
   * wins. False or absent: the user is never the owner.
   */
  readonly claimOwner?: boolean;
}

/** What `makeOwner` did: `owner_exists` when another user is the owner, `not_found` for an unknown user. */
export type MakeOwnerOutcome = 'ok' | 'owner_exists' | 'not_found';
/** What `updateUser` may change. */
export type UserPatch = Partial<Pick<User, 'name' | 'isActive' | 'groupIds' | 'localOnly'>>;

export interface Credential {
  readonly id: string;
  readonly providerType: string;
  readonly providerId: string | null;
  /** The provider's identifier for this login, unique per provider (e.g. the normalized username). */
  readonly subject: string;
  readonly data: JsonObject;
  /** The user this credential logs in as; null until a user is created for it (at token exchange). */
  readonly userId: string | null;
  readonly createdAt: number;
}

export interface UserStore {
  /** Creates the user; with `claimOwner`, it becomes the owner when no owner was ever elected (atomically). */
  createUser(user: NewUser, options?: NewUserOptions): Promise<User>;
  getUser(id: string): Promise<User | null>;
  listUsers(): Promise<User[]>;
  /** Updates name, flags and groups; returns null for an unknown user. */
  updateUser(id: string, patch: UserPatch): Promise<User | null>;
  /** Removes the user, its credentials and its refresh tokens; false when it did not exist. */
  removeUser(id: string): Promise<boolean>;
  /**
   * Makes the user the owner (and so an admin) when there is none: none was ever elected, or the one elected was removed since.
   * There is one owner at most: `owner_exists` while another user is it (`ok` when this user already is).
   */
  makeOwner(userId: string): Promise<MakeOwnerOutcome>;

  /** Returns the credential for (provider, subject), creating it with `data` when absent; never two for one subject. */
  getOrCreateCredential(
    providerType: string,
    providerId: string | null,
    subject: string,
    data: JsonObject,
  ): Promise<Credential>;
  getCredential(id: string): Promise<Credential | null>;
  findCredential(providerType: string, providerId: string | null, subject: string): Promise<Credential | null>;
  listCredentials(userId: string): Promise<Credential[]>;
  /**
   * Replaces a credential's data (a new password hash); false when the credential is unknown, or, given `expected`, when its
   * data is no longer exactly that (a compare-and-set: a rehash at login must not undo a password changed meanwhile).
   */
  updateCredentialData(credentialId: string, data: JsonObject, expected?: JsonObject): Promise<boolean>;
  /** Deletes a credential (a login of a user, not the user); false when it did not exist. */
  removeCredential(credentialId: string): Promise<boolean>;
  /**
   * Moves a credential to another subject (a new username), keeping its id, data and user; `taken` when another credential of
   * the provider already has that subject, `not_found` when the credential is gone. Atomic: the old subject is free afterwards.
   */
  changeCredentialSubject(credentialId: string, subject: string): Promise<'ok' | 'taken' | 'not_found'>;
  /** Binds a credential to a user; false when the credential is unknown or already bound to another user. */
  linkCredential(credentialId: string, userId: string): Promise<boolean>;
  /**
   * The user a credential logs in as, created and bound in one atomic step when the credential has none yet: two logins
   * racing for one new credential get the same user, and no half-made user (or owner marker) is left behind. A created user
   * becomes the owner only with `claimOwner` and no owner ever elected (`flowgate user add`; a login never asks). Null when the
   * credential is unknown or its user is gone.
   */
  createUserForCredential(credentialId: string, user: NewUser, options?: NewUserOptions): Promise<UserForCredential | null>;
}

/** What `createUserForCredential` found: `created` is false when another login had already made the credential's user. */
export interface UserForCredential {
  readonly user: User;
  readonly created: boolean;
}

/**
 * Bounded sets of expiring members shared by every instance: "at most N of these at once, per key" (unauthenticated sockets
 * of one address, open login flows of one address). A member that is not released (its instance died) still expires.
 */
export interface LeaseStore {
  /**
   * Atomically drops the expired members of `set`, then adds `member` until `expiresAt` (or moves the expiry of a member
   * already there) unless the set already holds `limit` live members. True when `member` is in the set afterwards; false for a
   * full set, for `limit` <= 0 and for an `expiresAt` already past.
   */
  acquireLease(set: string, member: string, limit: number, expiresAt: number): Promise<boolean>;
  /** Removes `member` from `set`; nothing happens when it is not there. */
  releaseLease(set: string, member: string): Promise<void>;
  /**
   * The earliest expiry (ms since the epoch) among the live members of `set`: when a full set next frees a place, what a
   * refusal's `retry_after` says. Null for a set with no live member.
   */
  nextLeaseExpiry(set: string): Promise<number | null>;
}

/** The slice of a pino logger that backends use to report outages and recoveries (a pino Logger satisfies it). */
export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export type Unsubscribe = () => Promise<void>;

/** Events between instances (revocations that must reach live sockets anywhere). Delivery is at most once, to live subscribers. */
export interface EventBus {
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, listener: (message: string) => void): Promise<Unsubscribe>;
}

export interface Store extends FlowStore, CodeStore, UserStore, RefreshTokenStore, LeaseStore, MfaStore, EventBus {
  /** Brute-force counters, bans and shared secrets (server/src/store/login-defense.ts). */
  readonly loginDefense: LoginDefenseStore;
  /** A short description for logs, never containing a password (`redis://host:6379/0`, `sqlite:/path/flowgate.db`). */
  readonly description: string;
  /** True while the backing service is reachable (the embedded store always is). */
  isAvailable(): boolean;
  /** One round trip to the backing service: resolves once it answers (readiness probes it with the store deadline). */
  ping(): Promise<void>;
  /** True while events published by other instances reach this one's subscribers (revocations); the embedded store's always do. */
  isSubscriberUp(): boolean;
  close(): Promise<void>;
}

/** What a refresh token is for: a normal client session, or a long-lived access token a person created by name. */
export type RefreshTokenType = 'normal' | 'long_lived_access_token';

/** A refresh token as Home Assistant keeps it; the secret itself is stored only as its SHA-256 hash. */
export interface RefreshToken {
  readonly id: string;
  readonly userId: string;
  readonly clientId: string | null;
  readonly clientName: string | null;
  readonly type: RefreshTokenType;
  /** SHA-256 (hex) of the secret refresh token: a leaked database does not hand out working tokens. */
  readonly tokenHash: string;
  /**
   * The random salt of this token's access-token key, which is derived from it and the server's `secret_key` and never stored
   * (secrets/server-secret.ts): deleting the token makes every access token it issued fail at once, and a copy of the store
   * signs nothing.
   */
  readonly keySalt: string;
  readonly accessTokenTtlMs: number;
  readonly credentialId: string | null;
  readonly createdAt: number;
  /**
   * When the person behind this token last proved who they are: the code exchange that created it, moved forward by a
   * re-authentication on one of its sockets, never by a refresh. Step-up (privileged commands) reads it. Null when unknown (a
   * long-lived token, made by a command, not a login; a token stored before Flowgate kept this): never recent.
   */
  readonly loggedInAt: number | null;
  readonly lastUsedAt: number | null;
  readonly lastUsedIp: string | null;
  /** Null for tokens that never expire (long-lived); normal tokens slide to 90 days after their last use. */
  readonly expireAt: number | null;
}

export type RefreshTokenCreation =
  | { readonly outcome: 'created'; readonly evicted: readonly string[] }
  | { readonly outcome: 'name_taken' }
  | { readonly outcome: 'limit_reached' };

export interface RefreshTokenStore {
  /**
   * Stores a new refresh token, atomically with its checks, so racing requests cannot get around them:
   * - a long-lived token whose client name its user already uses is refused (`name_taken`);
   * - a user keeps at most `maxPerUser` live tokens: past it, the user's least recently used `normal` tokens are deleted to
   *   make room (their ids come back in `evicted`, for the caller to announce); when only long-lived tokens are left to
   *   delete, nothing is written (`limit_reached`). `keepId` (the session asking for the token) is never deleted to make room.
   */
  createRefreshToken(token: RefreshToken, maxPerUser: number, keepId?: string): Promise<RefreshTokenCreation>;
  /** The token, or null when unknown or expired. */
  getRefreshToken(id: string): Promise<RefreshToken | null>;
  /** The token whose secret hashes to `tokenHash`, or null when unknown or expired. */
  findRefreshTokenByHash(tokenHash: string): Promise<RefreshToken | null>;
  listRefreshTokens(userId: string): Promise<RefreshToken[]>;
  /** Records a use (who, when) and slides the expiry; false when the token is gone. */
  touchRefreshToken(id: string, usedAt: number, usedIp: string | null, expireAt: number | null): Promise<boolean>;
  /**
   * Moves the token's `loggedInAt` forward to `loggedInAt` (a re-authentication), never back; false when the token is gone or
   * expired. Touches nothing else: the expiry and the last use stay.
   */
  recordRefreshTokenLogin(id: string, loggedInAt: number): Promise<boolean>;
  /** Deletes the token; false when it did not exist. */
  deleteRefreshToken(id: string): Promise<boolean>;
  /**
   * The liveness check before every authenticated command, in one round trip: the refresh token (null when unknown or expired)
   * and the user (null when unknown), read together. Either may belong to someone else: the caller compares them.
   */
  sessionState(refreshTokenId: string, userId: string): Promise<SessionState>;
}

/** What `sessionState` read: the two records an authenticated socket stands on. */
export interface SessionState {
  readonly refreshToken: RefreshToken | null;
  readonly user: User | null;
}
