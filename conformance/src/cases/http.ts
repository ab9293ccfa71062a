/** Plain HTTP and Home Assistant's HTTP login API (`/auth/*`), as HA's clients and mobile apps use it. */
import { CreateEntryResult, FormResult, ProviderInfo, TokenResponse } from '@flowgate/shared';
import type { CaseGroup } from '../builder.js';
import { CLIENT_ID, KitContext, NEEDS_HTTP, NEEDS_LOGIN } from '../context.js';
import { decode, equal, fail, ok, quote } from '../expect.js';
import type { Account } from '../options.js';
import { SECTIONS } from '../sections.js';
import { unknownFlowId } from './login-flows.js';

/** A redirect URI on the client id's own scheme and host: valid for HA's IndieAuth rules without fetching anything. */
const REDIRECT_URI = `${CLIENT_ID}callback`;

interface HttpReply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

export function httpCases(group: CaseGroup, context: KitContext): void {
  const base = context.options.http;
  const user: Account | undefined = context.options.user;
  const missing = base === undefined ? NEEDS_HTTP : undefined;
  const missingLogin = missing ?? (user === undefined ? NEEDS_LOGIN : undefined);

  async function request(method: string, path: string, body?: { json?: unknown; form?: Record<string, string> }): Promise<HttpReply> {
    const headers: Record<string, string> = {};
    let payload: string | undefined;
    if (body?.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body?.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(body.form).toString();
    }
    const response = await fetch(`${base!}${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }), redirect: 'manual' });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // Not JSON: the cases that expect JSON fail on the raw text.
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  function expectStatus(reply: HttpReply, status: number, what: string): void {
    if (reply.status !== status) fail(`${what}: expected HTTP ${status}, got ${reply.status} ${quote(reply.body)}`);
  }

  /** A 4xx OAuth error body `{"error": code}` (RFC 6749 5.2). */
  function expectOAuthError(reply: HttpReply, status: number, code: string, what: string): void {
    expectStatus(reply, status, what);
    const error = (reply.body as Record<string, unknown> | undefined)?.['error'];
    equal(error, code, `${what}: the body's error`);
  }

  const startFlow = async (deviceToken?: string): Promise<FormResult> => {
    const handler = await context.handler();
    const json = { client_id: CLIENT_ID, handler, redirect_uri: REDIRECT_URI, ...(deviceToken === undefined ? {} : { device_token: deviceToken }) };
    const reply = await request('POST', '/auth/login_flow', { json });
    expectStatus(reply, 200, 'POST /auth/login_flow');
    return decode(FormResult, reply.body, 'the POST /auth/login_flow body');
  };

  const exchange = async (code: string): Promise<TokenResponse & { refresh_token: string }> => {
    const reply = await request('POST', '/auth/token', { form: { grant_type: 'authorization_code', code, client_id: CLIENT_ID } });
    expectStatus(reply, 200, 'POST /auth/token (authorization_code)');
    const tokens = decode(TokenResponse, reply.body, 'the /auth/token body');
    ok(tokens.refresh_token !== undefined, `the code exchange should hand out a refresh_token, got ${quote(reply.body)}`);
    ok(/no-store/.test(reply.headers.get('cache-control') ?? ''), `/auth/token should answer Cache-Control: no-store, got ${quote(reply.headers.get('cache-control'))}`);
    return { ...tokens, refresh_token: tokens.refresh_token };
  };

  /** A whole HTTP login of the --username account: its authorization code. */
  const httpLoginCode = async (): Promise<string> => {
    const form = await startFlow();
    const reply = await request('POST', `/auth/login_flow/${form.flow_id}`, { json: { client_id: CLIENT_ID, ...KitContext.answer(form, user!) } });
    expectStatus(reply, 200, 'POST /auth/login_flow/{flow_id} with the right password');
    return decode(CreateEntryResult, reply.body, 'the body after the right password').result;
  };

  group.needs(missing, 'answers GET /healthz with 200 {"status":"ok"}', SECTIONS.plainHttp, async () => {
    const reply = await request('GET', '/healthz');
    expectStatus(reply, 200, 'GET /healthz');
    equal((reply.body as Record<string, unknown> | undefined)?.['status'], 'ok', 'its status');
  });

  group.needs(missing, 'answers a path it does not serve with 404 {"message":"Not found"}', SECTIONS.plainHttp, async () => {
    const reply = await request('GET', '/flowgate-conformance/no-such-path');
    expectStatus(reply, 404, 'GET of an unknown path');
    equal((reply.body as Record<string, unknown> | undefined)?.['message'], 'Not found', 'its message');
  });

  group.needs(missing, 'answers GET /auth/providers with {providers, preselect_remember_me}', SECTIONS.httpLogin, async () => {
    const reply = await request('GET', '/auth/providers');
    expectStatus(reply, 200, 'GET /auth/providers');
    const body = reply.body as Record<string, unknown> | undefined;
    const providers = body?.['providers'];
    ok(Array.isArray(providers) && providers.length > 0, `providers should be a non-empty list, got ${quote(reply.body)}`);
    providers.forEach((p, i) => decode(ProviderInfo, p, `providers[${i}]`));
    equal(typeof body?.['preselect_remember_me'], 'boolean', 'the type of preselect_remember_me');
  });

  group.needs(missing, 'describes its endpoints at GET /.well-known/oauth-authorization-server', SECTIONS.wellKnown, async () => {
    const reply = await request('GET', '/.well-known/oauth-authorization-server');
    expectStatus(reply, 200, 'GET /.well-known/oauth-authorization-server');
    const body = (reply.body ?? {}) as Record<string, unknown>;
    for (const [key, path] of [['authorization_endpoint', '/auth/authorize'], ['token_endpoint', '/auth/token'], ['revocation_endpoint', '/auth/revoke']]) {
      ok(typeof body[key!] === 'string' && (body[key!] as string).endsWith(path!), `${key} should end with ${path}, got ${quote(body[key!])}`);
    }
    ok(Array.isArray(body['response_types_supported']) && body['response_types_supported'].includes('code'), `response_types_supported should include "code", got ${quote(body['response_types_supported'])}`);
  });

  group.needs(missing, 'answers POST /auth/login_flow with an unknown handler with 404, and without client_id with 400', SECTIONS.httpFlows, async () => {
    const unknown = await request('POST', '/auth/login_flow', { json: { client_id: CLIENT_ID, handler: ['flowgate-conformance-no-such-provider', null], redirect_uri: REDIRECT_URI } });
    expectStatus(unknown, 404, 'an unknown handler');
    const handler = await context.handler();
    expectStatus(await request('POST', '/auth/login_flow', { json: { handler, redirect_uri: REDIRECT_URI } }), 400, 'no client_id');
  });

  group.needs(missing, 'answers GET /auth/login_flow with 405: flows in progress are not listed', SECTIONS.httpLogin, async () => {
    expectStatus(await request('GET', '/auth/login_flow'), 405, 'GET /auth/login_flow');
  });

  group.needs(missing, 'answers POST and DELETE /auth/login_flow/{flow_id} of an unknown flow with 404', SECTIONS.httpFlows, async () => {
    const path = `/auth/login_flow/${unknownFlowId()}`;
    expectStatus(await request('POST', path, { json: { client_id: CLIENT_ID, username: 'x', password: 'y' } }), 404, 'POST of an unknown flow');
    expectStatus(await request('DELETE', path), 404, 'DELETE of an unknown flow');
  });

  group.needs(missing, 'aborts a flow with DELETE /auth/login_flow/{flow_id}, after which it is 404', SECTIONS.httpFlows, async () => {
    const form = await startFlow();
    const aborted = await request('DELETE', `/auth/login_flow/${form.flow_id}`);
    expectStatus(aborted, 200, 'DELETE of the flow');
    equal((aborted.body as Record<string, unknown> | undefined)?.['message'], 'Flow aborted', 'its message');
    expectStatus(await request('DELETE', `/auth/login_flow/${form.flow_id}`), 404, 'a second DELETE');
  });

  group.needs(missing, 'answers a step whose fields do not fit the form with 400, leaving the flow as it was', SECTIONS.httpFlows, async () => {
    const form = await startFlow();
    const path = `/auth/login_flow/${form.flow_id}`;
    const malformed = await request('POST', path, { json: { client_id: CLIENT_ID, flowgate_conformance_extra: 'x' } });
    expectStatus(malformed, 400, 'a step with a field the form does not have');
    expectStatus(await request('DELETE', path), 200, 'DELETE of the flow afterwards (it is still there)');
  });

  group.needs(missing, 'answers POST /auth/token with an unknown grant 400 unsupported_grant_type, an unknown code 400 invalid_request, an unknown refresh token 400 invalid_grant', SECTIONS.httpTokens, async () => {
    expectOAuthError(await request('POST', '/auth/token', { form: { grant_type: 'password', client_id: CLIENT_ID } }), 400, 'unsupported_grant_type', 'grant_type password');
    expectOAuthError(await request('POST', '/auth/token', { form: { grant_type: 'authorization_code', code: unknownFlowId(), client_id: CLIENT_ID } }), 400, 'invalid_request', 'an unknown code');
    expectOAuthError(await request('POST', '/auth/token', { form: { grant_type: 'refresh_token', refresh_token: '0'.repeat(128), client_id: CLIENT_ID } }), 400, 'invalid_grant', 'an unknown refresh token');
  });

  group.needs(missing, 'answers POST /auth/revoke and the deprecated action=revoke with 200 whether or not the token exists', SECTIONS.httpTokens, async () => {
    expectStatus(await request('POST', '/auth/revoke', { form: { token: '0'.repeat(128) } }), 200, 'POST /auth/revoke');
    expectStatus(await request('POST', '/auth/token', { form: { action: 'revoke', token: '0'.repeat(128) } }), 200, 'POST /auth/token action=revoke');
  });

  group.needs(missingLogin, 'logs in over HTTP: invalid_auth for a wrong password, then create_entry with a code that POST /auth/token exchanges', SECTIONS.httpFlows, async () => {
    // The device token of an earlier login keeps the wrong password off the account's lockout count, as on the socket.
    const form = await startFlow((await context.session(user!)).deviceToken);
    const wrong = await request('POST', `/auth/login_flow/${form.flow_id}`, { json: { client_id: CLIENT_ID, ...KitContext.answer(form, { username: user!.username, password: `${user!.password}-wrong` }) } });
    expectStatus(wrong, 200, 'a wrong password');
    equal(decode(FormResult, wrong.body, 'the body after a wrong password').errors?.['base'], 'invalid_auth', 'errors.base');
    const done = await request('POST', `/auth/login_flow/${form.flow_id}`, { json: { client_id: CLIENT_ID, ...KitContext.answer(form, user!) } });
    expectStatus(done, 200, 'the right password');
    const code = decode(CreateEntryResult, done.body, 'the body after the right password').result;
    const tokens = await exchange(code);
    equal(tokens.token_type, 'Bearer', 'token_type');
    (await context.authenticated(tokens.access_token)).close();
    expectOAuthError(await request('POST', '/auth/token', { form: { grant_type: 'authorization_code', code, client_id: CLIENT_ID } }), 400, 'invalid_request', 'a second exchange of the code');
    await request('POST', '/auth/revoke', { form: { token: tokens.refresh_token } });
  });

  group.needs(missingLogin, 'refreshes over HTTP without a new refresh token; after POST /auth/revoke the refresh is 400 invalid_grant', SECTIONS.httpTokens, async () => {
    const tokens = await exchange(await httpLoginCode());
    const refreshed = await request('POST', '/auth/token', { form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: CLIENT_ID } });
    expectStatus(refreshed, 200, 'the refresh_token grant');
    const body = decode(TokenResponse, refreshed.body, 'the refresh body');
    ok(body.refresh_token === undefined, 'the refresh_token grant must not hand out a new refresh token');
    expectStatus(await request('POST', '/auth/revoke', { form: { token: tokens.refresh_token } }), 200, 'POST /auth/revoke');
    expectOAuthError(await request('POST', '/auth/token', { form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: CLIENT_ID } }), 400, 'invalid_grant', 'refresh after revoke');
  });

  group.needs(missingLogin, 'finishes over a socket a flow started over HTTP, and exchanges over HTTP the code of a socket login', SECTIONS.httpLogin, async () => {
    const form = await startFlow();
    const socket = await context.open();
    try {
      const done = await socket.result({ type: 'login_flow/step', flow_id: form.flow_id, client_id: CLIENT_ID, user_input: KitContext.answer(form, user!) });
      const code = decode(CreateEntryResult, done, 'the socket step of an HTTP flow').result;
      await context.exchange(socket, code);
      const tokens = await exchange(await context.loginCode(socket, user!));
      await request('POST', '/auth/revoke', { form: { token: tokens.refresh_token } });
    } finally {
      socket.close();
    }
  });
}
