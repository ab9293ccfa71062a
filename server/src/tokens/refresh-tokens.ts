/** Refresh tokens: creation, lookup by secret, access-token minting and revocation that reaches every instance. */
import { createHash, randomBytes } from 'node:crypto';
import { ServiceError } from '../errors.js';
import { newRefreshTokenId } from '../store/ids.js';
import { newKeySalt } from '../secrets/server-secret.js';
import type { EventBus, RefreshToken, RefreshTokenStore, RefreshTokenType, Unsubscribe } from '../store/types.js';
import { ACCESS_TOKEN_TTL_MS, claimedIssuer, signAccessToken, verifyAccessToken, type AccessTokenKeys } from './access-tokens.js';

/** A normal refresh token expires this long after its last use (Home Assistant's 90 days). */
export const REFRESH_TOKEN_IDLE_EXPIRY_MS = 90 * 24 * 60 * 60 * 1000;
/** Bytes of randomness in a refresh token's secret (512 bits, as HA's `token_hex(64)`). */
const SECRET_BYTES = 64;
/**
 * Refresh tokens (sessions and long-lived tokens) one user may hold. Every login makes one, so without a bound a client
 * looping over logins would grow the user's token list (and the scan that guards long-lived names) without end; past it the
 * user's least recently used sessions are signed out. HA has no bound; 100 leaves room for every device a person owns.
 */
export const MAX_REFRESH_TOKENS_PER_USER = 100;
/**
 * How recent a session's login must be for a privileged command (`privileged_session_seconds`): Kratos's privileged session
 * default, 15 minutes, long enough to finish a settings change, short for a stolen access token.
 */
export const DEFAULT_PRIVILEGED_SESSION_MS = 15 * 60 * 1000;
/** The event channel on which a revoked refresh token's id is announced to every instance. */
export const REVOCATION_CHANNEL = 'refresh_token_revoked';

export interface NewRefreshToken {
  readonly userId: string;
  readonly clientId: string | null;
  readonly clientName: string | null;
  readonly type: RefreshTokenType;
  readonly credentialId: string | null;
  /** Made by a login (a code exchange): its login time is now. Otherwise (a long-lived token) unknown, never recent. */
  readonly byLogin: boolean;
  readonly accessTokenTtlMs?: number;
  /** The refresh token of the session asking for this one: never signed out to make room for it. */
  readonly requestedBy?: string;
}

export interface IssuedRefreshToken {
  readonly refreshToken: RefreshToken;
  /** The secret the client keeps; only its hash is stored. */
  readonly secret: string;
}

export const hashSecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

/** The error for `limit_reached`: only long-lived tokens were left to delete, and those are never deleted behind a user's back. */
export const tokenLimitReached = (): ServiceError =>
  new ServiceError(
    'not_allowed',
    `This user already holds ${MAX_REFRESH_TOKENS_PER_USER} tokens, the most one user may have, and only long-lived ones could make room; delete one first`,
  );

/** Why `TokenService.create` made no token. */
export type RefreshTokenRefusal = 'name_taken' | 'limit_reached';

/** Who revoked a token and how, for the `token_revoked` audit event. */
export interface Revocation {
  readonly userId?: string | null;
  readonly address?: string | null;
  /** The command or mechanism: `auth/revoke`, `auth/delete_refresh_token`, `token_limit`, `flowgate user remove`... */
  readonly via: string;
}

export type RevocationAudit = (refreshTokenId: string, revocation: Revocation) => void;

export class TokenService {
  constructor(
    private readonly store: RefreshTokenStore & EventBus,
    /** Where access tokens' keys come from (the server secret): a command that only revokes never uses it. */
    private readonly keys: AccessTokenKeys,
    private readonly now: () => number = Date.now,
    private readonly audit: RevocationAudit = () => undefined,
  ) {}

  /**
   * Creates a refresh token. Refused when a long-lived token of that name already exists for the user, or when the user's
   * token limit could only be kept by deleting long-lived tokens; sessions deleted to keep it are revoked like any other.
   */
  async create(request: NewRefreshToken): Promise<IssuedRefreshToken | RefreshTokenRefusal> {
    const secret = randomBytes(SECRET_BYTES).toString('hex');
    const now = this.now();
    const refreshToken: RefreshToken = {
      // The id carries its user's routing tag, so a sharded store finds the token from the id alone (store/ids.ts).
      id: newRefreshTokenId(request.userId),
      userId: request.userId,
      clientId: request.clientId,
      clientName: request.clientName,
      type: request.type,
      tokenHash: hashSecret(secret),
      keySalt: newKeySalt(),
      accessTokenTtlMs: request.accessTokenTtlMs ?? ACCESS_TOKEN_TTL_MS,
      credentialId: request.credentialId,
      createdAt: now,
      loggedInAt: request.byLogin ? now : null,
      lastUsedAt: null,
      lastUsedIp: null,
      expireAt: request.type === 'normal' ? now + REFRESH_TOKEN_IDLE_EXPIRY_MS : null,
    };
    const created = await this.store.createRefreshToken(refreshToken, MAX_REFRESH_TOKENS_PER_USER, request.requestedBy);
    if (created.outcome !== 'created') return created.outcome;
    await Promise.all(created.evicted.map((id) => this.store.publish(REVOCATION_CHANNEL, id)));
    for (const id of created.evicted) this.audit(id, { userId: request.userId, via: 'token_limit' });
    return { refreshToken, secret };
  }

  findBySecret(secret: string): Promise<RefreshToken | null> {
    return this.store.findRefreshTokenByHash(hashSecret(secret));
  }

  /** Mints an access token, recording the use and sliding a normal token's expiry; null when the token is gone. */
  async issueAccessToken(refreshToken: RefreshToken, remoteAddress: string | null): Promise<string | null> {
    const now = this.now();
    const expireAt = refreshToken.expireAt === null ? null : now + REFRESH_TOKEN_IDLE_EXPIRY_MS;
    if (!(await this.store.touchRefreshToken(refreshToken.id, now, remoteAddress, expireAt))) return null;
    return signAccessToken(refreshToken, this.keys, now);
  }

  /** The refresh token behind a valid access token, or null for anything that does not verify. */
  async validateAccessToken(accessToken: string): Promise<RefreshToken | null> {
    const issuer = claimedIssuer(accessToken);
    if (issuer === null) return null;
    const refreshToken = await this.store.getRefreshToken(issuer);
    if (refreshToken === null) return null;
    return (await verifyAccessToken(accessToken, refreshToken, this.keys, this.now())) ? refreshToken : null;
  }

  /** A re-authentication on one of the token's sockets: its login time is now; false when the token is gone. */
  recordLogin(refreshTokenId: string): Promise<boolean> {
    return this.store.recordRefreshTokenLogin(refreshTokenId, this.now());
  }

  /**
   * Whether the token's login (its code exchange, or a later re-authentication) is at most `windowMs` old: what a privileged
   * command needs (step-up). An unknown login time (a long-lived token, a token stored before Flowgate kept it) never is.
   */
  loginIsRecent(refreshToken: Pick<RefreshToken, 'loggedInAt'>, windowMs: number): boolean {
    return refreshToken.loggedInAt !== null && this.now() - refreshToken.loggedInAt <= windowMs;
  }

  /** Deletes the token and tells every instance, so sockets authenticated with it close at once. */
  async revoke(refreshTokenId: string, revocation: Revocation): Promise<boolean> {
    const deleted = await this.store.deleteRefreshToken(refreshTokenId);
    await this.store.publish(REVOCATION_CHANNEL, refreshTokenId);
    if (deleted) this.audit(refreshTokenId, revocation);
    return deleted;
  }

  onRevoked(listener: (refreshTokenId: string) => void): Promise<Unsubscribe> {
    return this.store.subscribe(REVOCATION_CHANNEL, listener);
  }
}
