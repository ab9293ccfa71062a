/** The auth phase (`auth_required`, `auth`, `auth_ok`, `auth_invalid`) and `auth/providers`. */
import * as t from 'io-ts';
import { MAX_ACCESS_TOKEN_LENGTH } from './limits.js';
import { boundedString, nullable, PositiveInt } from './primitives.js';

/** The server's hello, sent before anything else. */
export const AuthRequired = t.type({
  type: t.literal('auth_required'),
  ha_version: t.string,
  server: t.literal('flowgate'),
  version: t.string,
  protocol: t.number,
  instance: t.string,
});
export type AuthRequired = t.TypeOf<typeof AuthRequired>;

/** The client's authentication message (no `id`, as in Home Assistant). */
export const Auth = t.type({ type: t.literal('auth'), access_token: boundedString(MAX_ACCESS_TOKEN_LENGTH) });
export type Auth = t.TypeOf<typeof Auth>;

export const AuthOk = t.type({ type: t.literal('auth_ok'), ha_version: t.string });
export type AuthOk = t.TypeOf<typeof AuthOk>;

export const AuthInvalid = t.type({ type: t.literal('auth_invalid'), message: t.string });
export type AuthInvalid = t.TypeOf<typeof AuthInvalid>;

export const AuthProvidersCommand = t.type({ id: PositiveInt, type: t.literal('auth/providers') });
export type AuthProvidersCommand = t.TypeOf<typeof AuthProvidersCommand>;

export const ProviderInfo = t.type({ type: t.string, id: nullable(t.string), name: t.string });
export type ProviderInfo = t.TypeOf<typeof ProviderInfo>;

export const ProviderList = t.array(ProviderInfo);
export type ProviderList = t.TypeOf<typeof ProviderList>;

/** Phase-2 commands (answered only on an authenticated socket; a phase-1 socket gets `unauthorized`). */
export const CurrentUserCommand = t.type({ id: PositiveInt, type: t.literal('auth/current_user') });
export type CurrentUserCommand = t.TypeOf<typeof CurrentUserCommand>;

export const RefreshTokensCommand = t.type({ id: PositiveInt, type: t.literal('auth/refresh_tokens') });
export type RefreshTokensCommand = t.TypeOf<typeof RefreshTokensCommand>;

export const DeleteRefreshTokenCommand = t.type({
  id: PositiveInt,
  type: t.literal('auth/delete_refresh_token'),
  refresh_token_id: boundedString(128),
});
export type DeleteRefreshTokenCommand = t.TypeOf<typeof DeleteRefreshTokenCommand>;

export const DeleteAllRefreshTokensCommand = t.intersection([
  t.type({ id: PositiveInt, type: t.literal('auth/delete_all_refresh_tokens') }),
  // HA's filter: only tokens of this type go (all of them when absent); the current token too, unless delete_current_token is false.
  t.partial({ delete_current_token: t.boolean, token_type: t.keyof({ normal: null, long_lived_access_token: null }) }),
]);
export type DeleteAllRefreshTokensCommand = t.TypeOf<typeof DeleteAllRefreshTokensCommand>;

export const LongLivedAccessTokenCommand = t.type({
  id: PositiveInt,
  type: t.literal('auth/long_lived_access_token'),
  client_name: boundedString(256),
  lifespan: PositiveInt,
});
export type LongLivedAccessTokenCommand = t.TypeOf<typeof LongLivedAccessTokenCommand>;

/** The type of every phase-2 command, so a phase-1 socket can be told `unauthorized` rather than `unknown_command`. */
export const PHASE_TWO_COMMAND_TYPES = [
  'auth/current_user',
  'auth/refresh_tokens',
  'auth/delete_refresh_token',
  'auth/delete_all_refresh_tokens',
  'auth/long_lived_access_token',
  'auth/setup_mfa',
  'auth/depose_mfa',
] as const;
export type PhaseTwoCommandType = (typeof PHASE_TWO_COMMAND_TYPES)[number];
