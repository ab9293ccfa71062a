/** The authenticated phase: auth_ok, the phase-2 commands, long-lived tokens, and revocation by delete_refresh_token (4001). */
import { CurrentUser, EmptyResult, LongLivedAccessToken, Pong, ProviderList, RefreshTokenList } from '@flowgate/shared';
import type { CaseGroup } from '../builder.js';
import type { KitSocket } from '../client.js';
import { NEEDS_LOGIN, unique, type KitContext } from '../context.js';
import { decode, equal, errorOf, ok, quote } from '../expect.js';
import type { Account } from '../options.js';
import { SECTIONS } from '../sections.js';
import { CLOSE_WITHIN_MS } from './framing.js';

/** Longest long-lived `lifespan` in days, and longest `client_name` (docs/protocol.md, Limits). */
const MAX_LIFESPAN_DAYS = 3650;
const MAX_CLIENT_NAME_LENGTH = 256;

export function authenticatedCases(group: CaseGroup, context: KitContext): void {
  const user: Account | undefined = context.options.user;
  const missingLogin = user === undefined ? NEEDS_LOGIN : undefined;
  /** Long-lived tokens this run made: deleted at the end (a user may hold only 100 tokens, and long-lived ones never make room). */
  const longLived = new Set<string>();

  /** A socket authenticated with the run's session of the --username account. */
  async function withSession(body: (socket: KitSocket) => Promise<void>): Promise<void> {
    const { tokens } = await context.session(user!);
    const socket = await context.authenticated(tokens.access_token);
    try {
      await body(socket);
    } finally {
      socket.close();
    }
  }

  group.after(async () => {
    if (user === undefined || longLived.size === 0) return;
    const { tokens } = await context.session(user);
    await context.deleteLongLived(tokens.access_token, longLived).catch(() => undefined);
  });

  group.needs(missingLogin, 'keeps answering phase-1 commands after auth_ok', SECTIONS.phase2, () =>
    withSession(async (socket) => {
      decode(Pong, await socket.command({ type: 'ping' }), 'ping after auth_ok');
      decode(ProviderList, await socket.result({ type: 'auth/providers' }), 'auth/providers after auth_ok');
    }),
  );

  group.needs(missingLogin, 'answers auth/current_user with the user and a credential of the provider it logged in with', SECTIONS.phase2, () =>
    withSession(async (socket) => {
      const current = decode(CurrentUser, await socket.result({ type: 'auth/current_user' }), 'the auth/current_user result');
      const provider = context.options.provider;
      ok(current.credentials.some((c) => c.auth_provider_type === provider), `credentials should include ${provider}, got ${quote(current.credentials)}`);
    }),
  );

  group.needs(missingLogin, 'lists the user\'s refresh tokens with exactly one marked is_current', SECTIONS.phase2, () =>
    withSession(async (socket) => {
      const list = decode(RefreshTokenList, await socket.result({ type: 'auth/refresh_tokens' }), 'the auth/refresh_tokens result');
      equal(list.filter((token) => token.is_current).length, 1, 'the number of entries with is_current true');
    }),
  );

  group.needs(missingLogin, 'creates a long-lived access token that authenticates and is listed as long_lived_access_token', SECTIONS.phase2, () =>
    withSession(async (socket) => {
      const name = unique('flowgate-conformance');
      longLived.add(name);
      const token = decode(LongLivedAccessToken, await socket.result({ type: 'auth/long_lived_access_token', client_name: name, lifespan: 1 }), 'the long-lived token');
      (await context.authenticated(token)).close();
      const list = decode(RefreshTokenList, await socket.result({ type: 'auth/refresh_tokens' }), 'auth/refresh_tokens');
      const entry = list.find((t) => t.client_name === name);
      ok(entry !== undefined, `auth/refresh_tokens should list the token named ${name}, got ${quote(list)}`);
      equal(entry.type, 'long_lived_access_token', 'its type');
      equal(entry.expire_at, null, 'its expire_at');
      errorOf(await socket.command({ type: 'auth/long_lived_access_token', client_name: name, lifespan: 1 }), 'invalid_request', 'a second token of the same client_name');
    }),
  );

  group.needs(missingLogin, `refuses a long-lived lifespan over ${MAX_LIFESPAN_DAYS} days and a client_name over ${MAX_CLIENT_NAME_LENGTH} characters`, SECTIONS.limits, () =>
    withSession(async (socket) => {
      errorOf(await socket.command({ type: 'auth/long_lived_access_token', client_name: unique('flowgate-conformance'), lifespan: MAX_LIFESPAN_DAYS + 1 }), 'invalid_request', 'lifespan 3651');
      errorOf(await socket.command({ type: 'auth/long_lived_access_token', client_name: 'n'.repeat(MAX_CLIENT_NAME_LENGTH + 1), lifespan: 1 }), 'invalid_format', 'a 257-character client_name');
    }),
  );

  group.needs(missingLogin, 'answers not_found to auth/delete_refresh_token with an id it does not know', SECTIONS.errorCodes, () =>
    withSession(async (socket) => {
      errorOf(await socket.command({ type: 'auth/delete_refresh_token', refresh_token_id: 'flowgate-conformance-no-such-token' }), 'not_found', 'an unknown refresh_token_id');
    }),
  );

  group.needs(missingLogin, 'closes with 4001 token_revoked a socket whose token another socket deletes with auth/delete_refresh_token', SECTIONS.closeCodes, () =>
    withSession(async (socket) => {
      const name = unique('flowgate-conformance');
      longLived.add(name);
      const token = decode(LongLivedAccessToken, await socket.result({ type: 'auth/long_lived_access_token', client_name: name, lifespan: 1 }), 'the long-lived token');
      const victim = await context.authenticated(token);
      try {
        const list = decode(RefreshTokenList, await socket.result({ type: 'auth/refresh_tokens' }), 'auth/refresh_tokens');
        const entry = list.find((t) => t.client_name === name);
        ok(entry !== undefined, `auth/refresh_tokens should list ${name}`);
        decode(EmptyResult, await socket.result({ type: 'auth/delete_refresh_token', refresh_token_id: entry.id }), 'the delete result');
        longLived.delete(name);
        const closed = await victim.closedWithin(CLOSE_WITHIN_MS, 'deleting its refresh token');
        equal(closed.code, 4001, 'the close code');
        equal(closed.reason, 'token_revoked', 'the close reason');
      } finally {
        victim.close();
      }
    }),
  );
}
