/** Results of the phase-2 commands, and the union of every frame a server sends (for clients that decode everything). */
import * as t from 'io-ts';
import { AuthInvalid, AuthOk, AuthRequired } from './auth.js';
import { Pong, ResultMessage } from './envelope.js';
import { UserMfaModule } from './mfa.js';
import { nullable } from './primitives.js';

export const UserCredential = t.type({ auth_provider_type: t.string, auth_provider_id: nullable(t.string) });
export type UserCredential = t.TypeOf<typeof UserCredential>;

/** `auth/current_user`. */
export const CurrentUser = t.type({
  id: t.string,
  name: t.string,
  is_owner: t.boolean,
  is_admin: t.boolean,
  credentials: t.array(UserCredential),
  mfa_modules: t.array(UserMfaModule),
});
export type CurrentUser = t.TypeOf<typeof CurrentUser>;

export const RefreshTokenType = t.keyof({ normal: null, long_lived_access_token: null });
export type RefreshTokenType = t.TypeOf<typeof RefreshTokenType>;

/** One entry of `auth/refresh_tokens` (a session of the user). Times are ISO 8601 UTC. */
export const RefreshTokenInfo = t.type({
  id: t.string,
  client_id: nullable(t.string),
  client_name: nullable(t.string),
  type: RefreshTokenType,
  created_at: nullable(t.string),
  is_current: t.boolean,
  last_used_at: nullable(t.string),
  last_used_ip: nullable(t.string),
  expire_at: nullable(t.string),
  auth_provider_type: nullable(t.string),
});
export type RefreshTokenInfo = t.TypeOf<typeof RefreshTokenInfo>;

export const RefreshTokenList = t.array(RefreshTokenInfo);
export type RefreshTokenList = t.TypeOf<typeof RefreshTokenList>;

/** `{}`: the answer of `auth/delete_refresh_token` and `auth/delete_all_refresh_tokens`. */
export const EmptyResult = t.type({});
export type EmptyResult = t.TypeOf<typeof EmptyResult>;

/** `null`: the answer of `login_flow/abort`, `auth/revoke` and `supported_features`. */
export const NullResult = t.null;
export type NullResult = t.TypeOf<typeof NullResult>;

/** `auth/long_lived_access_token` answers the access token itself. */
export const LongLivedAccessToken = t.string;
export type LongLivedAccessToken = t.TypeOf<typeof LongLivedAccessToken>;

/** Every message a server sends on the socket (an array frame carries several of these). */
export const ServerMessage = t.union([AuthRequired, AuthOk, AuthInvalid, ResultMessage, Pong]);
export type ServerMessage = t.TypeOf<typeof ServerMessage>;
