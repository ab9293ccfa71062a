/** The origin rule: a page of a foreign origin may `auth` with a token, but no login runs from it, on the socket or over HTTP. */
import { AuthOk } from '@flowgate/shared';
import type { CaseGroup } from '../builder.js';
import { CLIENT_ID, NEEDS_HTTP, NEEDS_LOGIN, type KitContext } from '../context.js';
import { decode, equal, errorOf, ok, quote } from '../expect.js';
import { SECTIONS } from '../sections.js';
import { unknownFlowId } from './login-flows.js';

/** An origin no deployment lists in `http.cors_allowed_origins` (a reserved domain), as a visited page's would be. */
const FOREIGN_ORIGIN = 'https://foreign.flowgate-conformance.example';

export function originCases(group: CaseGroup, context: KitContext): void {
  const base = context.options.http;
  const user = context.options.user;

  group.it('answers origin_not_allowed to every login command on a socket a foreign page opened, naming http.cors_allowed_origins', SECTIONS.origin, async () => {
    const handler = await context.handler();
    const socket = await context.open(FOREIGN_ORIGIN);
    try {
      const commands: Array<Record<string, unknown>> = [
        { type: 'auth/providers' },
        { type: 'login_flow/init', handler, client_id: CLIENT_ID },
        { type: 'login_flow/get', flow_id: unknownFlowId(), client_id: CLIENT_ID },
        { type: 'auth/token', grant_type: 'authorization_code', code: unknownFlowId(), client_id: CLIENT_ID },
      ];
      for (const command of commands) {
        const what = `${String(command['type'])} from a page of ${FOREIGN_ORIGIN}`;
        const error = errorOf(await socket.command(command), 'origin_not_allowed', what);
        ok(error.message.includes('http.cors_allowed_origins'), `${what}: the message should name http.cors_allowed_origins, got ${quote(error.message)}`);
      }
    } finally {
      socket.close();
    }
  });

  group.needs(user === undefined ? NEEDS_LOGIN : undefined, "lets a foreign page's socket authenticate with an access token it holds", SECTIONS.origin, async () => {
    const { tokens } = await context.session(user!);
    const socket = await context.open(FOREIGN_ORIGIN);
    try {
      socket.send({ type: 'auth', access_token: tokens.access_token });
      decode(AuthOk, await socket.next(), `the answer to auth with a valid access token from a page of ${FOREIGN_ORIGIN}`);
    } finally {
      socket.close();
    }
  });

  group.needs(base === undefined ? NEEDS_HTTP : undefined, 'answers POST /auth/login_flow 403 to a foreign Origin and 415 to a body that is not application/json', SECTIONS.httpFlows, async () => {
    const handler = await context.handler();
    const body = JSON.stringify({ client_id: CLIENT_ID, handler, redirect_uri: `${CLIENT_ID}callback` });
    const post = async (headers: Record<string, string>): Promise<{ status: number; body: unknown }> => {
      const response = await fetch(`${base!}/auth/login_flow`, { method: 'POST', headers, body });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON: the checks below fail on the raw text.
      }
      return { status: response.status, body: parsed };
    };
    const foreign = await post({ 'content-type': 'application/json', origin: FOREIGN_ORIGIN });
    equal(foreign.status, 403, `POST /auth/login_flow from a page of ${FOREIGN_ORIGIN}: the status (body ${quote(foreign.body)})`);
    equal((foreign.body as Record<string, unknown> | undefined)?.['code'], 'origin_not_allowed', 'its code');
    // What any page may send across sites without a CORS preflight.
    const plain = await post({ 'content-type': 'text/plain;charset=UTF-8' });
    equal(plain.status, 415, `POST /auth/login_flow with a text/plain body: the status (body ${quote(plain.body)})`);
  });
}
