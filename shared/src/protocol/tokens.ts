/** `auth/token` (code and refresh grants) and `auth/revoke`. */
import * as t from 'io-ts';
import { MAX_OPAQUE_ID_LENGTH, MAX_REDIRECT_URI_LENGTH, MAX_TOKEN_LENGTH } from './limits.js';
import { ClientId } from './flow.js';
import { boundedString, PositiveInt } from './primitives.js';

export const GrantType = t.keyof({ authorization_code: null, refresh_token: null });
export type GrantType = t.TypeOf<typeof GrantType>;

/** `grant_type` is a plain string here, so an unknown grant reaches the handler and gets `unsupported_grant_type`, not `invalid_format`. */
export const AuthTokenCommand = t.intersection([
  t.type({ id: PositiveInt, type: t.literal('auth/token'), grant_type: boundedString(64) }),
  t.partial({
    code: boundedString(MAX_OPAQUE_ID_LENGTH),
    refresh_token: boundedString(MAX_TOKEN_LENGTH),
    client_id: ClientId,
    /**
     * The code grant's `redirect_uri` (RFC 6749 4.1.3): optional, as Home Assistant's clients send none, but when given it must
     * be the one the code's login flow was started with (none when the flow had none), else `invalid_grant`.
     */
    redirect_uri: boundedString(MAX_REDIRECT_URI_LENGTH),
  }),
]);
export type AuthTokenCommand = t.TypeOf<typeof AuthTokenCommand>;

export const TokenResponse = t.intersection([
  t.type({ access_token: t.string, token_type: t.literal('Bearer'), expires_in: t.number }),
  /**
   * `device_token` comes with an authorization-code grant: keep it (per user, on this device) and present it to later
   * `login_flow/init`s, so an attack on the account elsewhere does not lock this device out.
   */
  t.partial({ refresh_token: t.string, device_token: t.string }),
]);
export type TokenResponse = t.TypeOf<typeof TokenResponse>;

export const AuthRevokeCommand = t.type({ id: PositiveInt, type: t.literal('auth/revoke'), token: boundedString(MAX_TOKEN_LENGTH) });
export type AuthRevokeCommand = t.TypeOf<typeof AuthRevokeCommand>;
