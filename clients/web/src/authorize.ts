/**
 * The OAuth authorize page (Home Assistant's `/auth/authorize`): the dashboard's login run for another client, which then
 * gets the browser back at its `redirect_uri` with `code` and `state`. The server checks the redirect URI when the flow
 * starts (IndieAuth rules) and binds the code to it; this page sends a flow's code only to the request the flow was started
 * for, so it never sends anyone to an address the client id does not vouch for.
 */
export const AUTHORIZE_PATH = '/auth/authorize';

export interface AuthorizeRequest {
  readonly clientId: string;
  readonly redirectUri: string;
  /** Handed back untouched: the client's guard against forged callbacks. */
  readonly state: string | null;
}

export type AuthorizeParse = { readonly request: AuthorizeRequest } | { readonly problem: string };

/** The authorize request in this page's address, or null when the page is not the authorize page. */
export function authorizeRequest(location: Pick<Location, 'pathname' | 'search'>): AuthorizeParse | null {
  if (location.pathname !== AUTHORIZE_PATH) return null;
  const query = new URLSearchParams(location.search);
  const clientId = query.get('client_id');
  const redirectUri = query.get('redirect_uri');
  if (query.get('response_type') !== 'code') return { problem: 'This sign-in link is incomplete: it does not ask for an authorization code (response_type=code).' };
  if (clientId === null || clientId === '') return { problem: 'This sign-in link is incomplete: it does not say which application asks (client_id).' };
  if (redirectUri === null || redirectUri === '') return { problem: 'This sign-in link is incomplete: it does not say where to return (redirect_uri).' };
  return { request: { clientId, redirectUri, state: query.get('state') } };
}

/**
 * True when two authorize requests are the same request: a flow started for one may be resumed only by the same one, so that
 * a page that navigates the window to another `redirect_uri` (or `state`) mid-login never receives that flow's code.
 */
export function sameRequest(a: AuthorizeRequest | null, b: AuthorizeRequest | null): boolean {
  if (a === null || b === null) return a === b;
  return a.clientId === b.clientId && a.redirectUri === b.redirectUri && a.state === b.state;
}

/** Where the browser goes once signed in: the redirect URI with the code and the state added to its query. */
export function callbackUrl(request: AuthorizeRequest, code: string): string {
  const url = new URL(request.redirectUri);
  url.searchParams.set('code', code);
  if (request.state !== null) url.searchParams.set('state', request.state);
  return url.toString();
}

/** The application's host, as a person recognises it ("Sign in to continue to app.example"). */
export function clientName(request: AuthorizeRequest): string {
  try {
    return new URL(request.clientId).host;
  } catch {
    return request.clientId;
  }
}
