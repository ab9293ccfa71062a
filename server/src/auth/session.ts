/** Phase-2 commands: what an authenticated socket may ask about its user and their sessions. */
import { ServiceError } from '../errors.js';
import type { Audit } from '../observability/audit.js';
import type { RefreshToken, RefreshTokenType, Store, User } from '../store/types.js';
import type { MfaSetup } from './mfa-setup.js';
import { tokenLimitReached, type TokenService } from '../tokens/refresh-tokens.js';

/** Who an authenticated socket belongs to. */
export interface Session {
  readonly userId: string;
  readonly refreshTokenId: string;
  /** The socket's client address (trusted proxies applied): a local-only user's session is live only from a local one. */
  readonly remoteAddress: string | null;
}

/** A session as the store has it now: its user and its refresh token (read together before each authenticated command). */
export interface LiveSession {
  readonly user: User;
  readonly refreshToken: RefreshToken;
}

export interface SessionDependencies {
  readonly store: Store;
  readonly tokens: TokenService;
  readonly mfa: MfaSetup;
  readonly audit: Audit;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export async function currentUser({ store, mfa }: SessionDependencies, session: Session) {
  const user = await store.getUser(session.userId);
  if (user === null) throw new ServiceError('unauthorized', 'This user no longer exists');
  const credentials = await store.listCredentials(user.id);
  return {
    id: user.id,
    name: user.name,
    is_owner: user.isOwner,
    is_admin: user.isAdmin,
    credentials: credentials.map((c) => ({ auth_provider_type: c.providerType, auth_provider_id: c.providerId })),
    mfa_modules: await mfa.userModules(user.id),
  };
}

export async function listSessions({ store }: SessionDependencies, session: Session) {
  const tokens = await store.listRefreshTokens(session.userId);
  const credentials = new Map((await store.listCredentials(session.userId)).map((c) => [c.id, c.providerType]));
  return tokens.map((t: RefreshToken) => ({
    id: t.id,
    client_id: t.clientId,
    client_name: t.clientName,
    type: t.type,
    created_at: iso(t.createdAt),
    is_current: t.id === session.refreshTokenId,
    last_used_at: iso(t.lastUsedAt),
    last_used_ip: t.lastUsedIp,
    expire_at: iso(t.expireAt),
    auth_provider_type: t.credentialId === null ? null : credentials.get(t.credentialId) ?? null,
  }));
}

export async function deleteSession(
  { store, tokens }: SessionDependencies,
  session: Session,
  refreshTokenId: string,
  remoteAddress: string | null,
): Promise<object> {
  const token = await store.getRefreshToken(refreshTokenId);
  // Another user's token is answered like an unknown one.
  if (token === null || token.userId !== session.userId) throw new ServiceError('not_found', 'No such refresh token');
  await tokens.revoke(token.id, { userId: session.userId, address: remoteAddress, via: 'auth/delete_refresh_token' });
  return {};
}

/** HA's `auth/delete_all_refresh_tokens`: every token of the user, or only those of `tokenType`, the current one included unless asked not to. */
export async function deleteAllSessions(
  { store, tokens }: SessionDependencies,
  session: Session,
  options: { readonly deleteCurrent: boolean; readonly tokenType: RefreshTokenType | null },
  remoteAddress: string | null,
): Promise<object> {
  const all = await store.listRefreshTokens(session.userId);
  const chosen = all.filter((t) => options.tokenType === null || t.type === options.tokenType);
  // The current token goes last, so this socket answers before it is closed.
  const others = chosen.filter((t) => t.id !== session.refreshTokenId);
  const deleteCurrent = options.deleteCurrent && chosen.some((t) => t.id === session.refreshTokenId);
  const revocation = { userId: session.userId, address: remoteAddress, via: 'auth/delete_all_refresh_tokens' };
  await Promise.all(others.map((t) => tokens.revoke(t.id, revocation)));
  if (deleteCurrent) setImmediate(() => void tokens.revoke(session.refreshTokenId, revocation).catch(() => undefined));
  return {};
}

/** Days a long-lived access token may live at most (Home Assistant's UI offers 10 years). */
export const MAX_LONG_LIVED_DAYS = 3650;

export async function createLongLivedToken(
  { tokens, audit }: SessionDependencies,
  session: Session,
  clientName: string,
  lifespanDays: number,
  remoteAddress: string | null,
): Promise<string> {
  if (lifespanDays > MAX_LONG_LIVED_DAYS) {
    throw new ServiceError('invalid_request', `lifespan may be at most ${MAX_LONG_LIVED_DAYS} days`);
  }
  const issued = await tokens.create({
    userId: session.userId,
    clientId: null,
    clientName,
    type: 'long_lived_access_token',
    credentialId: null,
    // Not a login: a session it authenticates must re-authenticate before a privileged command.
    byLogin: false,
    accessTokenTtlMs: lifespanDays * 24 * 60 * 60 * 1000,
    requestedBy: session.refreshTokenId,
  });
  if (issued === 'name_taken') throw new ServiceError('invalid_request', `A long-lived access token named "${clientName}" already exists`);
  if (issued === 'limit_reached') throw tokenLimitReached();
  const accessToken = await tokens.issueAccessToken(issued.refreshToken, remoteAddress);
  if (accessToken === null) throw new ServiceError('not_found', 'The token was deleted while being created');
  // A token that lives for years and needs no password: the operator should be able to see who made one, when and from where.
  audit('long_lived_token_created', {
    user_id: session.userId,
    address: remoteAddress,
    refresh_token_id: issued.refreshToken.id,
    requested_by: session.refreshTokenId,
    client_name: clientName,
    lifespan_days: lifespanDays,
  });
  return accessToken;
}
