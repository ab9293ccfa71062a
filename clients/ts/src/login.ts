/** The login driver: init (or resume) a flow, answer each form through a callback, exchange the code, authenticate. */
import type { CreateEntryResult, FlowResult, FormResult, HandlerKey, MenuResult } from '@flowgate/shared';
import type { FlowgateClient, Tokens } from './client.js';
import { ConnectionLostError, FlowAbortedError, isCommandError, RateLimitedError } from './errors.js';

export interface AnswerContext {
  /** 1 for the first time this step is shown, 2 after the form came back (with errors), ... */
  readonly attempt: number;
  /** True when the form was fetched again with `login_flow/get` after a reconnect. */
  readonly resumed: boolean;
}

export interface LoginOptions {
  /** The provider: `["password", null]`, or just its type. */
  readonly handler: HandlerKey | string;
  /** Returns the `user_input` for a form (its `errors` say what was wrong with the previous answer). */
  readonly answer: (form: FormResult, context: AnswerContext) => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Resume this flow (e.g. after a page reload) instead of starting one; it must belong to the client's clientId. */
  readonly flowId?: string;
  readonly redirectUri?: string;
  /** Called with the flow id when the flow starts (or is resumed), and with undefined when it ends, to keep it across reloads. */
  readonly onFlow?: (flowId: string | undefined) => void;
  /** Authenticate the socket with the new tokens (default true). */
  readonly authenticate?: boolean;
  /** Aborting it aborts the flow on the server and rejects the login with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface LoginResult {
  readonly tokens: Tokens;
  readonly flowId: string;
}

/** A finished flow's authorization code, not yet exchanged (what an OAuth authorize page hands back to its client). */
export interface LoginCode {
  readonly code: string;
  readonly flowId: string;
}

export async function runLogin(client: FlowgateClient, options: LoginOptions): Promise<LoginResult> {
  const { code, flowId } = await runLoginToCode(client, options);
  const tokens = await retryOnLostConnection(() => client.exchangeCode(code));
  if (options.authenticate !== false) await client.authenticate(tokens);
  return { tokens, flowId };
}

/** Drives the flow to its end and returns the authorization code; `authenticate` is ignored (nothing is exchanged). */
export async function runLoginToCode(client: FlowgateClient, options: LoginOptions): Promise<LoginCode> {
  const handler = handlerKey(options.handler);
  const first =
    options.flowId === undefined
      ? { result: await retryOnLostConnection(() => client.initFlow(handler, options.redirectUri)), resumed: false }
      : { result: await resumeFlow(client, options.flowId), resumed: true };
  const result = await driveFlow(client, options, first);
  return { code: result.result, flowId: result.flow_id };
}

/** How `reauthenticate` logs in again: the provider and the form callback (the login's own, by default). */
export interface ReauthenticationOptions {
  /** The provider: `["password", null]`, or just its type (default: the one of the client's last login). */
  readonly handler?: HandlerKey | string;
  /** Returns the `user_input` for each form (the password, then the second factor when the user has one). */
  readonly answer: LoginOptions['answer'];
  /** Aborting it aborts the flow on the server and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * A re-authentication on the signed-in socket (`login_flow/init` with `"reauthenticate": true`): the same forms as a login,
 * whose end renews the session's login time (step-up, after `reauth_required`); no code, no new tokens, the socket stays.
 */
export async function runReauthentication(client: FlowgateClient, handler: HandlerKey | string, options: ReauthenticationOptions): Promise<void> {
  const key = handlerKey(handler);
  const result = await retryOnLostConnection(() => client.initFlow(key, undefined, { reauthenticate: true }));
  await driveFlow(client, options, { result, resumed: false });
}

const handlerKey = (handler: HandlerKey | string): HandlerKey => (typeof handler === 'string' ? [handler, null] : handler);

/** Answers each form of a started flow until it ends: its `create_entry`, or FlowAbortedError for an abort. */
async function driveFlow(
  client: FlowgateClient,
  options: Pick<LoginOptions, 'answer' | 'signal' | 'onFlow'>,
  first: { result: FlowResult; resumed: boolean },
): Promise<CreateEntryResult> {
  const checkSignal = (): void => {
    if (options.signal?.aborted === true) throw options.signal.reason ?? new Error('aborted');
  };
  let { result, resumed } = first;
  const flowId = result.flow_id;
  options.onFlow?.(flowId);
  let attempt = 0;
  let lastStep: string | undefined;
  try {
    while (result.type === 'form' || result.type === 'menu') {
      attempt = result.step_id === lastStep ? attempt + 1 : 1;
      lastStep = result.step_id;
      const form: FormResult = asForm(result);
      const epoch = client.epoch;
      const input = await options.answer(form, { attempt, resumed });
      checkSignal();
      resumed = false;
      ({ result, resumed } = await answerForm(client, form, input, epoch));
    }
  } catch (error) {
    // A refused step leaves the flow open until it expires: end it, so it does not count against this address's open flows.
    if (options.signal?.aborted === true || error instanceof RateLimitedError) await client.abortFlow(flowId).catch(() => null);
    options.onFlow?.(undefined);
    throw error;
  }
  options.onFlow?.(undefined);
  if (result.type === 'abort') throw new FlowAbortedError(result.reason);
  return result;
}

/** Sends one answer; when the socket changed (or drops) in between, first resumes the flow with `login_flow/get`. */
async function answerForm(
  client: FlowgateClient,
  form: FormResult,
  input: Record<string, unknown>,
  epoch: number,
): Promise<{ result: FlowResult; resumed: boolean }> {
  let current = form;
  let formEpoch = epoch;
  for (;;) {
    // Wait for a socket first: only then does the epoch say whether the form came from this one.
    await client.connectionForCall();
    if (client.epoch !== formEpoch) {
      current = await resumeFlow(client, form.flow_id);
      // Another step or the lost one moved the flow on, or came back with errors: show that form instead of resending.
      if (current.step_id !== form.step_id || current.errors !== null) return { result: current, resumed: true };
    }
    try {
      return { result: await client.stepFlow(current.flow_id, input), resumed: false };
    } catch (error) {
      if (isCommandError(error, 'conflict')) {
        formEpoch = -1;
        continue;
      }
      if (!(error instanceof ConnectionLostError)) throw error;
      // The step may or may not have run: the next loop asks the (new) server where the flow is.
      formEpoch = -1;
    }
  }
}

/** `login_flow/get`, retried across reconnects; tells listeners which instance resumed the flow. */
async function resumeFlow(client: FlowgateClient, flowId: string): Promise<FormResult> {
  const shown = await retryOnLostConnection(() => client.getFlow(flowId));
  client.events.emit('flow_resumed', { flowId, instance: client.instance ?? '' });
  return asForm(shown);
}

/**
 * A menu is answered like a form with one choice, `next_step_id` (what the server expects back), so one `answer` callback
 * serves both; a form comes back as it is.
 */
export function asForm(shown: FormResult | MenuResult): FormResult {
  if (shown.type === 'form') return shown;
  return {
    type: 'form',
    flow_id: shown.flow_id,
    handler: shown.handler,
    step_id: shown.step_id,
    data_schema: [{ name: 'next_step_id', type: 'select', required: true, options: shown.menu_options.map((option) => [option, option]) }],
    errors: null,
    description_placeholders: shown.description_placeholders,
    last_step: null,
    expires_at: shown.expires_at,
  };
}

/** Runs `operation` until it gets an answer: a command lost with its socket is sent again on the next one. */
export async function retryOnLostConnection<T>(operation: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await operation();
    } catch (error) {
      if (!(error instanceof ConnectionLostError)) throw error;
    }
  }
}
