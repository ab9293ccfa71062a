/** The Flowgate dashboard: pick a provider, answer its forms, then see who you are, your two-factor methods and your sessions. */
import {
  ClientClosedError,
  CommandError,
  describeAbortReason,
  describeRateLimit,
  FlowAbortedError,
  FlowgateClient,
  RateLimitedError,
  webStorageDeviceTokenStore,
  type FormResult,
  type LoginOptions,
  type ProviderInfo,
  type RefreshTokenInfo,
  type StopReason,
  type WebSocketConstructor,
} from '@flowgate/client';
import { formatTime, h } from './dom.js';
import { renderForm } from './form.js';
import { cancelMfaSetup, mfaLoginText, mfaSection, type MfaHost } from './mfa.js';
import { showUsers, type UsersHost } from './users.js';
import { cancelReauthentication, describeReauthenticationFailure, REAUTHENTICATION } from './reauth.js';
import { authorizeRequest, callbackUrl, clientName, sameRequest, type AuthorizeRequest } from './authorize.js';
import { notice, setStatus, show } from './view.js';

const FLOW_KEY = 'flowgate.flow';
/** Told when this tab's sign-in was ended because the page's link changed under it (see loadFlow). */
const LINK_CHANGED = 'The sign-in link changed while you were signing in, so that sign-in was stopped. Check that you came here from the application you meant to sign in to.';
/** Set on the OAuth authorize page (`/auth/authorize?...`): the login is then run for another application, and returns to it. */
const AUTHORIZE = authorizeRequest(location);
const AUTHORIZING = AUTHORIZE !== null && 'request' in AUTHORIZE ? AUTHORIZE.request : undefined;
const CLIENT_ID = AUTHORIZING?.clientId ?? `${location.origin}/`;
const SOCKET_URL = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/websocket`;
/**
 * The device token (OWASP's device cookie) outlives the tab and the session, so that this browser stays trusted while
 * someone else guesses the account's password: localStorage, which is per origin, under a key naming the socket URL.
 */
const DEVICE_TOKENS = webStorageDeviceTokenStore(safeLocalStorage());

interface SavedFlow {
  readonly flowId: string;
  readonly clientId: string;
  readonly handler: [string, string | null];
  /** The authorize request the flow was started for (null on the dashboard): its code goes there, and only there. */
  readonly authorize?: AuthorizeRequest | null;
}

let client: FlowgateClient;
let cancelAnswer: ((reason: Error) => void) | undefined;

function newClient(): FlowgateClient {
  const created = new FlowgateClient({
    url: SOCKET_URL,
    clientId: CLIENT_ID,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    deviceTokens: DEVICE_TOKENS,
    // A privileged change on an old sign-in asks for the password (and second factor) again in a dialog, then goes on.
    reauthentication: REAUTHENTICATION,
  });
  created.on('reconnecting', () => setStatus('Connection lost. Reconnecting…'));
  created.on('connected', () => setStatus(''));
  created.on('stopped', (reason) => void onStopped(created, reason));
  return created;
}

/**
 * The flow this tab was in, to carry on after a reload: only when this page's request is the one the flow was started for
 * (same client id, redirect URI and state). Another one, such as a page that opened this window and then navigated it to
 * the same link with its own `redirect_uri`, starts over with its own request, which the server checks anew; the old flow
 * is ended, so its code is issued to nobody.
 */
function loadFlow(): SavedFlow | 'ended' | undefined {
  let saved: SavedFlow | null;
  try {
    saved = JSON.parse(sessionStorage.getItem(FLOW_KEY) ?? 'null') as SavedFlow | null;
  } catch {
    saved = null;
  }
  if (saved === null) return undefined;
  if (saved.clientId === CLIENT_ID && sameRequest(saved.authorize ?? null, AUTHORIZING ?? null)) return saved;
  sessionStorage.removeItem(FLOW_KEY);
  // Only this client id may end it; a flow of another client (the dashboard's, say) simply expires.
  if (saved.clientId !== CLIENT_ID) return undefined;
  client.abortFlow(saved.flowId).catch(() => undefined);
  return 'ended';
}

async function showProviders(message?: string, kind: 'info' | 'error' = 'info'): Promise<void> {
  let providers: ProviderInfo[];
  try {
    providers = await client.providers();
  } catch (error) {
    show('Cannot reach Flowgate', notice(explain(error), 'error'), h('button', { class: 'primary', onclick: () => void showProviders() }, 'Try again'));
    return;
  }
  const list = h(
    'ul',
    { class: 'providers', 'aria-label': 'Sign-in methods' },
    ...providers.map((provider) =>
      h('li', {}, h('button', { type: 'button', class: 'provider', onclick: () => void login([provider.type, provider.id]) }, h('span', { class: 'provider-name' }, provider.name), h('span', { class: 'provider-type' }, provider.type))),
    ),
  );
  const lead = AUTHORIZING === undefined ? 'Choose how you want to sign in.' : `Sign in to continue to ${clientName(AUTHORIZING)}. Choose how you want to sign in.`;
  const heading = show('Sign in', notice(message, kind), h('p', { class: 'lead' }, lead), list);
  (list.querySelector('button') ?? heading).focus();
}

/** Runs a login flow: a new one for this page's request, or the saved one (`flowId`, started for the same request). */
async function login(handler: [string, string | null], flowId?: string): Promise<void> {
  const controller = new AbortController();
  let previous: Record<string, unknown> = {};
  try {
    const options: LoginOptions = {
      handler,
      signal: controller.signal,
      ...(flowId === undefined ? {} : { flowId }),
      onFlow: (id) => {
        if (id === undefined) sessionStorage.removeItem(FLOW_KEY);
        else sessionStorage.setItem(FLOW_KEY, JSON.stringify({ flowId: id, clientId: CLIENT_ID, handler, authorize: AUTHORIZING ?? null } satisfies SavedFlow));
      },
      answer: (form) =>
        new Promise((resolve, reject) => {
          cancelAnswer = reject;
          showForm(form, previous, controller, (input) => {
            previous = input;
            resolve(input);
          });
        }),
    };
    if (AUTHORIZING !== undefined) {
      // The code goes back to the application, which exchanges it itself (POST /auth/token); this page keeps no tokens. A
      // resumed flow was started for this very request (loadFlow), so this is the redirect URI the server checked for it.
      const { code } = await client.loginForCode({ ...options, redirectUri: AUTHORIZING.redirectUri });
      cancelAnswer = undefined;
      show('Signed in', h('p', { class: 'lead' }, `Returning to ${clientName(AUTHORIZING)}…`));
      client.close();
      location.assign(callbackUrl(AUTHORIZING, code));
      return;
    }
    await client.login(options);
  } catch (error) {
    cancelAnswer = undefined;
    sessionStorage.removeItem(FLOW_KEY);
    if (controller.signal.aborted) return showProviders('Sign-in cancelled.');
    if (error instanceof FlowAbortedError) return showAborted(error.reason);
    if (error instanceof ClientClosedError) return;
    return showProviders(explain(error), 'error');
  }
  cancelAnswer = undefined;
  await showSignedIn();
}

function showForm(form: FormResult, previous: Record<string, unknown>, controller: AbortController, submit: (input: Record<string, unknown>) => void): void {
  const mfa = mfaLoginText(form);
  const rendered = renderForm(form, previous, (input) => {
    const button = rendered.element.querySelector('button[type=submit]');
    button?.setAttribute('aria-busy', 'true');
    button?.setAttribute('disabled', '');
    submit(input);
  }, { oneTimeCode: mfa !== undefined });
  const cancel = h('button', { type: 'button', class: 'link', onclick: () => {
    controller.abort(new Error('cancelled'));
    cancelAnswer?.(new Error('cancelled'));
  } }, 'Use another method');
  const title = mfa?.title ?? (form.handler[0] === 'password' ? 'Sign in with your account' : 'Sign in');
  const lead = mfa?.lead ?? (AUTHORIZING === undefined ? undefined : `You are signing in to ${clientName(AUTHORIZING)}.`);
  show(title, lead === undefined ? null : h('p', { class: 'lead' }, lead), rendered.element, h('div', { class: 'actions' }, cancel));
  rendered.focus();
}

function showAborted(reason: string): void {
  const again = h('button', { class: 'primary', onclick: () => void showProviders() }, 'Start again');
  show('Sign-in stopped', notice(describeAbortReason(reason), 'error'), again);
  again.focus();
}

const MFA_HOST: MfaHost = { client: () => client, back: (message, kind) => showSignedIn(message, kind), explain };
const USERS_HOST: UsersHost = MFA_HOST;

async function showSignedIn(message?: string, kind: 'info' | 'error' = 'info'): Promise<void> {
  let user, sessions;
  try {
    [user, sessions] = await Promise.all([client.currentUser(), client.refreshTokens()]);
  } catch (error) {
    if (!(error instanceof ClientClosedError)) setStatus(explain(error));
    return;
  }
  const rows = sessions.map((session) => sessionRow(session));
  const table = h(
    'table',
    { class: 'sessions' },
    h('caption', {}, 'Your sessions'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Client'), h('th', { scope: 'col' }, 'Signed in'), h('th', { scope: 'col' }, 'Last used'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    h('tbody', {}, ...rows),
  );
  const who = h('p', { class: 'lead user-name' }, 'Signed in as ', h('strong', {}, user.name), user.is_owner ? h('span', { class: 'badge' }, 'Owner') : null);
  // Only for administrators: the server refuses everyone else's user-management commands anyway.
  const admin = user.is_admin ? h('nav', { class: 'admin', 'aria-label': 'Administration' }, h('button', { type: 'button', class: 'secondary', onclick: () => void showUsers(USERS_HOST) }, 'Users')) : null;
  const heading = show(`Welcome, ${user.name}`, notice(message, kind), who, admin, mfaSection(user.mfa_modules, MFA_HOST), table);
  heading.focus();
}

function sessionRow(session: RefreshTokenInfo): HTMLTableRowElement {
  const name = session.client_name ?? session.client_id ?? 'Long-lived token';
  const revoke = h('button', { type: 'button', class: session.is_current ? 'danger' : 'secondary', 'aria-label': `Revoke session ${name}${session.is_current ? ' (this session)' : ''}` }, session.is_current ? 'Sign out' : 'Revoke');
  const row = h('tr', { 'data-session-id': session.id }, h('td', {}, h('span', { class: 'client' }, name), session.is_current ? h('span', { class: 'badge current' }, 'This session') : null), h('td', {}, formatTime(session.created_at)), h('td', {}, formatTime(session.last_used_at)), h('td', { class: 'row-actions' }, revoke));
  revoke.addEventListener('click', () => {
    revoke.setAttribute('disabled', '');
    client.deleteRefreshToken(session.id).then(
      () => (session.is_current ? undefined : void showSignedIn()),
      (error: unknown) => {
        if (!(error instanceof ClientClosedError)) setStatus(explain(error));
      },
    );
  });
  return row;
}

/** A revoked or refused session: start over with a fresh client on the login form. */
async function onStopped(stoppedClient: FlowgateClient, reason: StopReason): Promise<void> {
  if (stoppedClient !== client || reason.kind === 'closed') return;
  cancelAnswer?.(new ClientClosedError());
  cancelMfaSetup(new ClientClosedError());
  cancelReauthentication(new ClientClosedError());
  client = newClient();
  const message = reason.kind === 'revoked' ? 'Your session was revoked. Sign in again.' : reason.kind === 'gave_up' ? 'Cannot reach the server.' : 'Your session is no longer valid. Sign in again.';
  await showProviders(message, reason.kind === 'gave_up' ? 'error' : 'info');
}

function explain(error: unknown): string {
  const stepUp = describeReauthenticationFailure(error);
  if (stepUp !== undefined) return stepUp;
  if (error instanceof RateLimitedError) return describeRateLimit(error);
  if (error instanceof CommandError && error.code === 'not_found') return describeAbortReason('flow_expired', error.command === 'auth/setup_mfa' ? 'mfa_setup' : 'login');
  if (error instanceof CommandError && error.code === 'unavailable') return 'The server is busy. Try again in a moment.';
  if (error instanceof CommandError && error.code === 'no_module') return 'This two-factor method is no longer offered by the server.';
  if (error instanceof CommandError && error.code === 'disable_failed') return 'The server could not turn this method off. Try again.';
  // A finished login refused for the user's account itself (issue 11): deactivated, or local only and not on a local network.
  // The authorize page's redirect_uri or client_id was refused at login_flow/init: the link is not from a client we can vouch for.
  if (error instanceof CommandError && error.code === 'invalid_request' && AUTHORIZING !== undefined) return 'This application cannot sign in here: its address or its return address is not one this server accepts. Go back and try again, or tell its developer.';
  if (error instanceof CommandError && error.code === 'access_denied') return 'This account cannot sign in here: it is deactivated, or it may sign in only from the local network. Ask an administrator.';
  return error instanceof Error ? error.message : String(error);
}

/** `localStorage` itself may throw (storage disabled for the site): then a store that keeps nothing. */
function safeLocalStorage(): Pick<Storage, 'getItem' | 'setItem'> {
  try {
    return window.localStorage;
  } catch {
    return { getItem: () => null, setItem: () => undefined };
  }
}

async function start(): Promise<void> {
  if (AUTHORIZE !== null && 'problem' in AUTHORIZE) {
    show('Cannot sign in', notice(AUTHORIZE.problem, 'error'), h('p', {}, 'Go back to the application and start again.'));
    return;
  }
  client = newClient();
  const saved = loadFlow();
  if (saved === undefined) return showProviders();
  if (saved === 'ended') return showProviders(LINK_CHANGED);
  // A reload in the middle of a flow: carry on where it was, with login_flow/get.
  return login(saved.handler, saved.flowId);
}

void start();
