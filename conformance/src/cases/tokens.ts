/** auth/token and auth/revoke over the socket: the code exchange, single use and client binding, refresh, revocation. */
import { AuthInvalid, AuthOk, NullResult, TokenResponse } from '@flowgate/shared';
import type { CaseGroup } from '../builder.js';
import { CLIENT_ID, NEEDS_LOGIN, OTHER_CLIENT_ID, type KitContext } from '../context.js';
import { decode, equal, errorOf, isHex, ok, quote } from '../expect.js';
import { SECTIONS } from '../sections.js';
import { CLOSE_WITHIN_MS } from './framing.js';
import { unknownFlowId } from './login-flows.js';

/** Refresh tokens are 128 lowercase hex characters (docs/protocol.md, Tokens). */
const REFRESH_TOKEN_HEX = 128;
/** A normal access token lives 30 minutes. */
const ACCESS_TOKEN_SECONDS = 1800;

const refreshGrant = (refreshToken: string, clientId = CLIENT_ID) => ({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });

/** `auth` with `accessToken` on a new socket answers `auth_invalid` (and the socket closes). */
export async function expectRefused(context: KitContext, accessToken: string, what: string): Promise<void> {
  const socket = await context.open();
  try {
    socket.send({ type: 'auth', access_token: accessToken });
    decode(AuthInvalid, await socket.next(), what);
  } finally {
    socket.close();
  }
}

export function tokenCases(group: CaseGroup, context: KitContext): void {
  const user = context.options.user;
  const missingLogin = user === undefined ? NEEDS_LOGIN : undefined;

  group.it('answers unsupported_grant_type to a grant it does not know', SECTIONS.token, () =>
    context.withSocket(async (socket) => {
      errorOf(await socket.command({ type: 'auth/token', grant_type: 'password', client_id: CLIENT_ID }), 'unsupported_grant_type', 'grant_type password');
    }),
  );

  group.it('answers invalid_request to an authorization_code grant without its code', SECTIONS.errorCodes, () =>
    context.withSocket(async (socket) => {
      errorOf(await socket.command({ type: 'auth/token', grant_type: 'authorization_code', client_id: CLIENT_ID }), 'invalid_request', 'a code grant without code');
    }),
  );

  group.it('answers invalid_grant to a code and to a refresh token it never issued', SECTIONS.errorCodes, () =>
    context.withSocket(async (socket) => {
      errorOf(await socket.command({ type: 'auth/token', grant_type: 'authorization_code', code: unknownFlowId(), client_id: CLIENT_ID }), 'invalid_grant', 'an unknown code');
      errorOf(await socket.command(refreshGrant('0'.repeat(REFRESH_TOKEN_HEX))), 'invalid_grant', 'an unknown refresh token');
    }),
  );

  group.it('answers auth/revoke with null for a token that does not exist', SECTIONS.revoke, () =>
    context.withSocket(async (socket) => {
      decode(NullResult, await socket.result({ type: 'auth/revoke', token: '0'.repeat(REFRESH_TOKEN_HEX) }), 'the revoke result');
    }),
  );

  group.needs(missingLogin, 'exchanges a code for a Bearer access token, a 128-hex refresh token and expires_in 1800', SECTIONS.token, () =>
    context.withSocket(async (socket) => {
      const code = await context.loginCode(socket, user!);
      const tokens = await context.exchange(socket, code);
      equal(tokens.token_type, 'Bearer', 'token_type');
      equal(tokens.expires_in, ACCESS_TOKEN_SECONDS, 'expires_in');
      ok(isHex(tokens.refresh_token, REFRESH_TOKEN_HEX), `refresh_token should be 128 lowercase hex characters, got a string of ${tokens.refresh_token.length}`);
      socket.send({ type: 'auth', access_token: tokens.access_token });
      decode(AuthOk, await socket.next(), 'auth with the new access token on the same socket');
    }),
  );

  group.needs(missingLogin, 'takes a code once only: a second exchange gets invalid_grant', SECTIONS.flowRules, () =>
    context.withSocket(async (socket) => {
      const code = await context.loginCode(socket, user!);
      await context.exchange(socket, code);
      errorOf(await socket.command({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: CLIENT_ID }), 'invalid_grant', 'the second exchange');
    }),
  );

  group.needs(missingLogin, 'refuses a code shown with another client_id (invalid_grant), which stays valid for its own client', SECTIONS.flowRules, () =>
    context.withSocket(async (socket) => {
      const code = await context.loginCode(socket, user!);
      errorOf(await socket.command({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: OTHER_CLIENT_ID }), 'invalid_grant', 'the code with another client_id');
      await context.exchange(socket, code);
    }),
  );

  group.needs(missingLogin, 'refreshes an access token without handing out a new refresh token', SECTIONS.token, async () => {
    const { tokens } = await context.session(user!);
    const socket = await context.open();
    try {
      const result = await socket.result(refreshGrant(tokens.refresh_token));
      const refreshed = decode(TokenResponse, result, 'the refresh_token grant result');
      equal(refreshed.token_type, 'Bearer', 'token_type');
      ok(refreshed.refresh_token === undefined, `the refresh_token grant must not rotate the refresh token, got ${quote(Object.keys(result as object))}`);
      (await context.authenticated(refreshed.access_token)).close();
    } finally {
      socket.close();
    }
  });

  group.needs(missingLogin, 'answers invalid_request to a refresh token shown with another client_id', SECTIONS.errorCodes, async () => {
    const { tokens } = await context.session(user!);
    await context.withSocket(async (socket) => {
      errorOf(await socket.command(refreshGrant(tokens.refresh_token, OTHER_CLIENT_ID)), 'invalid_request', 'refresh with another client_id');
    });
  });

  group.needs(missingLogin, 'revokes a refresh token: refresh then gets invalid_grant and its access token auth_invalid', SECTIONS.revoke, async () => {
    const { tokens } = await context.login(user!);
    await context.withSocket(async (socket) => {
      decode(NullResult, await socket.result({ type: 'auth/revoke', token: tokens.refresh_token }), 'the revoke result');
      errorOf(await socket.command(refreshGrant(tokens.refresh_token)), 'invalid_grant', 'refresh after revoke');
    });
    await expectRefused(context, tokens.access_token, 'auth with an access token of a revoked refresh token');
  });

  group.needs(missingLogin, 'closes with 4001 token_revoked a socket whose refresh token is revoked elsewhere', SECTIONS.revoke, async () => {
    const { tokens } = await context.login(user!);
    const authenticated = await context.authenticated(tokens.access_token);
    try {
      await context.withSocket(async (socket) => {
        decode(NullResult, await socket.result({ type: 'auth/revoke', token: tokens.refresh_token }), 'the revoke result');
      });
      const closed = await authenticated.closedWithin(CLOSE_WITHIN_MS, 'revocation');
      equal(closed.code, 4001, 'the close code');
      equal(closed.reason, 'token_revoked', 'the close reason');
    } finally {
      authenticated.close();
    }
  });
}
