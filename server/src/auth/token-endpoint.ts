/** `auth/token` and `auth/revoke`: the OAuth token endpoint of Home Assistant, carried over the socket. */
import type { AuthTokenCommand, TokenResponse } from '@flowgate/shared';
import { ServiceError } from '../errors.js';
import type { DeviceTokens } from '../defense/device-tokens.js';
import type { Audit } from '../observability/audit.js';
import { SECRET_CHANGED_AT } from '../providers/password-accounts.js';
import type { AuthProvider } from '../providers/registry.js';
import type { Store } from '../store/types.js';
import { redirectUriMatches } from '../tokens/codes.js';
import { tokenLimitReached, type TokenService } from '../tokens/refresh-tokens.js';
import { assertMayLogIn } from './user-access.js';
import { getOrCreateUser } from './users.js';

export interface TokenEndpointDependencies {
  readonly store: Store;
  readonly tokens: TokenService;
  readonly providerFor: (type: string, id: string | null) => AuthProvider | undefined;
  readonly deviceTokens: DeviceTokens;
  readonly audit: Audit;
}

const invalidGrant = (message: string): ServiceError => new ServiceError('invalid_grant', message);

/**
 * The refusal of a code shown with another `redirect_uri` than its login flow's. Exported so that the HTTP endpoint, which
 * answers Home Assistant's `invalid_request` for an unusable code, keeps RFC 6749's `invalid_grant` for this one.
 */
export const REDIRECT_URI_MISMATCH = 'Invalid code: redirect_uri is not the one its login was started with';

export async function exchangeToken(
  deps: TokenEndpointDependencies,
  request: AuthTokenCommand,
  remoteAddress: string | null,
): Promise<TokenResponse> {
  switch (request.grant_type) {
    case 'authorization_code':
      return exchangeCode(deps, request, remoteAddress);
    case 'refresh_token':
      return refreshAccessToken(deps, request, remoteAddress);
    default:
      throw new ServiceError('unsupported_grant_type', `Unsupported grant_type "${request.grant_type.slice(0, 64)}": use authorization_code or refresh_token`);
  }
}

async function exchangeCode(deps: TokenEndpointDependencies, request: AuthTokenCommand, remoteAddress: string | null): Promise<TokenResponse> {
  if (request.code === undefined || request.client_id === undefined) {
    throw new ServiceError('invalid_request', 'authorization_code needs code and client_id');
  }
  // A code shown with another client id stays valid for its own client (takeCode leaves it in place).
  const data = await deps.store.takeCode(request.code, request.client_id);
  if (data === null) throw invalidGrant('Invalid code: it is unknown, used, expired, or was issued to another client');
  // Taken first, so a code tried with a wrong redirect URI is spent (RFC 6749 4.1.2: a code is used at most once).
  if (!redirectUriMatches(data, request.redirect_uri)) throw invalidGrant(REDIRECT_URI_MISMATCH);
  const credential = await deps.store.getCredential(String(data['credential_id']));
  if (credential === null) throw invalidGrant('Invalid code: its login no longer exists');
  // A password changed after the login finished (on suspicion, say) must not let a code from the old password open a session.
  const secretChangedAt = credential.data[SECRET_CHANGED_AT];
  if (typeof secretChangedAt === 'number' && !(Number(data['issued_at']) > secretChangedAt)) {
    throw invalidGrant('Invalid code: the password of its login was changed after the login finished; log in again');
  }
  const provider = deps.providerFor(credential.providerType, credential.providerId);
  if (provider === undefined) throw invalidGrant('Invalid code: its login provider is no longer configured');
  const user = await getOrCreateUser(deps.store, provider, credential);
  assertMayLogIn(user, remoteAddress);
  const issued = await deps.tokens.create({
    userId: user.id,
    clientId: request.client_id,
    clientName: null,
    type: 'normal',
    credentialId: credential.id,
    byLogin: true,
  });
  if (issued === 'limit_reached') throw tokenLimitReached();
  if (issued === 'name_taken') throw new ServiceError('unknown_error', 'Could not create a refresh token');
  const accessToken = await deps.tokens.issueAccessToken(issued.refreshToken, remoteAddress);
  if (accessToken === null) throw invalidGrant('The refresh token was revoked while being created');
  const deviceAccount = data['device_account'];
  deps.audit('token_exchanged', { user_id: user.id, client_id: request.client_id, address: remoteAddress, refresh_token_id: issued.refreshToken.id });
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    refresh_token: issued.secret,
    expires_in: Math.floor(issued.refreshToken.accessTokenTtlMs / 1000),
    ...(typeof deviceAccount === 'string' ? { device_token: await deps.deviceTokens.issue(deviceAccount) } : {}),
  };
}

async function refreshAccessToken(deps: TokenEndpointDependencies, request: AuthTokenCommand, remoteAddress: string | null): Promise<TokenResponse> {
  if (request.refresh_token === undefined) throw new ServiceError('invalid_request', 'refresh_token grant needs refresh_token');
  const refreshToken = await deps.tokens.findBySecret(request.refresh_token);
  if (refreshToken === null) throw invalidGrant('Invalid refresh token');
  if (refreshToken.clientId !== (request.client_id ?? null)) throw new ServiceError('invalid_request', 'Invalid client id');
  const user = await deps.store.getUser(refreshToken.userId);
  if (user === null) throw invalidGrant('Invalid refresh token');
  assertMayLogIn(user, remoteAddress);
  // HA's async_validate_refresh_token: the provider that made the login may refuse this refresh (trusted_networks re-checks the address).
  const credential = refreshToken.credentialId === null ? null : await deps.store.getCredential(refreshToken.credentialId);
  if (credential !== null) deps.providerFor(credential.providerType, credential.providerId)?.validateRefreshToken?.(refreshToken, remoteAddress);
  const accessToken = await deps.tokens.issueAccessToken(refreshToken, remoteAddress);
  if (accessToken === null) throw invalidGrant('Invalid refresh token');
  deps.audit('token_refreshed', { user_id: user.id, client_id: refreshToken.clientId, address: remoteAddress, refresh_token_id: refreshToken.id });
  return { access_token: accessToken, token_type: 'Bearer', expires_in: Math.floor(refreshToken.accessTokenTtlMs / 1000) };
}

/** Revokes a refresh token by its secret; answers the same whether or not it existed (RFC 7009). */
export async function revokeToken(deps: TokenEndpointDependencies, secret: string, remoteAddress: string | null): Promise<null> {
  const refreshToken = await deps.tokens.findBySecret(secret);
  if (refreshToken !== null) await deps.tokens.revoke(refreshToken.id, { userId: refreshToken.userId, address: remoteAddress, via: 'auth/revoke' });
  return null;
}
