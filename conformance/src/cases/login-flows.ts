/** Login flows over the socket: providers, init, step, get, abort, the client_id binding and resuming on another connection. */
import { CreateEntryResult, FormResult, NullResult, ProviderList } from '@flowgate/shared';
import type { CaseGroup } from '../builder.js';
import type { KitSocket } from '../client.js';
import { CLIENT_ID, KitContext, NEEDS_LOGIN, OTHER_CLIENT_ID } from '../context.js';
import { decode, equal, errorOf, isHex, ok, quote } from '../expect.js';
import type { Account } from '../options.js';
import { SECTIONS } from '../sections.js';

/** Flow ids and codes: 32 lowercase hex characters (docs/protocol.md, Login flow rules). */
const OPAQUE_ID_HEX = 32;

/** A flow id no server issued (the kit's own random value), for the not_found cases. */
export function unknownFlowId(): string {
  return Array.from({ length: OPAQUE_ID_HEX }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

/** Runs `body` with a socket and a started flow, aborting the flow (unless it ended) and closing the socket afterwards. */
async function withFlow(context: KitContext, body: (socket: KitSocket, form: FormResult) => Promise<void>): Promise<void> {
  const socket = await context.open();
  try {
    const form = await context.startForm(socket);
    try {
      await body(socket, form);
    } finally {
      await socket.command({ type: 'login_flow/abort', flow_id: form.flow_id, client_id: CLIENT_ID }).catch(() => undefined);
    }
  } finally {
    socket.close();
  }
}

const flowCommand = (type: string, flowId: string, clientId = CLIENT_ID) => ({ type, flow_id: flowId, client_id: clientId });

export function loginFlowCases(group: CaseGroup, context: KitContext): void {
  const user: Account | undefined = context.options.user;
  const missingLogin = user === undefined ? NEEDS_LOGIN : undefined;

  group.it('lists the providers, each with type, id and name', SECTIONS.providers, async () => {
    const socket = await context.open();
    try {
      const providers = decode(ProviderList, await socket.result({ type: 'auth/providers' }), 'the auth/providers result');
      ok(providers.length > 0, 'auth/providers should list at least one provider');
      const wanted = context.options.provider;
      if (wanted !== undefined) ok(providers.some((p) => p.type === wanted), `--provider ${wanted} should be listed, got ${quote(providers)}`);
    } finally {
      socket.close();
    }
  });

  group.it('answers not_found to login_flow/init with a handler it does not have', SECTIONS.init, async () => {
    const socket = await context.open();
    try {
      const handler = ['flowgate-conformance-no-such-provider', null];
      errorOf(await socket.command({ type: 'login_flow/init', handler, client_id: CLIENT_ID }), 'not_found', 'init with an unknown handler');
    } finally {
      socket.close();
    }
  });

  group.it('answers not_found to login_flow/get, step and abort of a flow that never existed', SECTIONS.flowRules, async () => {
    const socket = await context.open();
    try {
      const flowId = unknownFlowId();
      errorOf(await socket.command(flowCommand('login_flow/get', flowId)), 'not_found', 'get of an unknown flow');
      errorOf(await socket.command({ ...flowCommand('login_flow/step', flowId), user_input: {} }), 'not_found', 'step of an unknown flow');
      errorOf(await socket.command(flowCommand('login_flow/abort', flowId)), 'not_found', 'abort of an unknown flow');
    } finally {
      socket.close();
    }
  });

  group.it('starts a flow with a form: a 32-hex flow_id, the handler, and an expires_at in the future', SECTIONS.flowResults, () =>
    withFlow(context, async (_socket, form) => {
      ok(isHex(form.flow_id, OPAQUE_ID_HEX), `flow_id should be 32 lowercase hex characters, got ${quote(form.flow_id)}`);
      ok(Date.parse(form.expires_at) > Date.now(), `expires_at should be a time in the future, got ${quote(form.expires_at)}`);
      const handler = await context.handler();
      equal(JSON.stringify(form.handler), JSON.stringify(handler), 'the form\'s handler');
    }),
  );

  group.it('returns the current form with login_flow/get, also on another connection', SECTIONS.get, () =>
    withFlow(context, async (socket, form) => {
      const same = decode(FormResult, await socket.result(flowCommand('login_flow/get', form.flow_id)), 'get on the same socket');
      equal(same.step_id, form.step_id, 'the step_id');
      const other = await context.open();
      try {
        const again = decode(FormResult, await other.result(flowCommand('login_flow/get', form.flow_id)), 'get on another socket');
        equal(again.flow_id, form.flow_id, 'the flow_id');
        equal(again.expires_at, form.expires_at, 'expires_at (steps never extend a flow)');
      } finally {
        other.close();
      }
    }),
  );

  group.it('answers not_found to another client_id, with the same message as for an unknown flow', SECTIONS.flowRules, () =>
    withFlow(context, async (socket, form) => {
      const unknown = errorOf(await socket.command(flowCommand('login_flow/get', unknownFlowId())), 'not_found', 'get of an unknown flow');
      const other = errorOf(await socket.command(flowCommand('login_flow/get', form.flow_id, OTHER_CLIENT_ID)), 'not_found', 'get with another client_id');
      equal(other.message, unknown.message, 'the not_found message');
      errorOf(await socket.command(flowCommand('login_flow/abort', form.flow_id, OTHER_CLIENT_ID)), 'not_found', 'abort with another client_id');
      decode(FormResult, await socket.result(flowCommand('login_flow/get', form.flow_id)), 'the flow for its own client, still there');
    }),
  );

  group.it('aborts a flow with login_flow/abort (result null), after which the flow is not_found', SECTIONS.abort, async () => {
    const socket = await context.open();
    try {
      const form = await context.startForm(socket);
      decode(NullResult, await socket.result(flowCommand('login_flow/abort', form.flow_id)), 'the abort result');
      errorOf(await socket.command(flowCommand('login_flow/get', form.flow_id)), 'not_found', 'get after abort');
    } finally {
      socket.close();
    }
  });

  group.it('answers a user_input that is not an object with invalid_format', SECTIONS.step, () =>
    withFlow(context, async (socket, form) => {
      for (const userInput of ['x', [1], null]) {
        errorOf(await socket.command({ ...flowCommand('login_flow/step', form.flow_id), user_input: userInput }), 'invalid_format', `user_input ${quote(userInput)}`);
      }
    }),
  );

  group.it('answers missing required fields with the same form and required errors, not a protocol error', SECTIONS.fieldErrors, () =>
    withFlow(context, async (socket, form) => {
      const result = decode(FormResult, await socket.result({ ...flowCommand('login_flow/step', form.flow_id), user_input: {} }), 'the reply to {}');
      equal(result.flow_id, form.flow_id, 'the flow_id');
      for (const field of form.data_schema.filter((f) => f.required === true && f.default === undefined)) {
        equal(result.errors?.[field.name], 'required', `errors.${field.name}`);
      }
    }),
  );

  group.it('answers a key the form does not have with the field error unknown_field', SECTIONS.fieldErrors, () =>
    withFlow(context, async (socket, form) => {
      const input = { ...KitContext.answer(form, { username: 'nobody', password: 'nothing' }), flowgate_conformance_extra: 'x' };
      const result = decode(FormResult, await socket.result({ ...flowCommand('login_flow/step', form.flow_id), user_input: input }), 'the reply');
      equal(result.errors?.['flowgate_conformance_extra'], 'unknown_field', 'errors.flowgate_conformance_extra');
    }),
  );

  group.needs(missingLogin, 'answers a wrong password with the same form and errors.base invalid_auth, and the form may be answered again', SECTIONS.step, async () => {
    const account = user!;
    // The device token of an earlier login keeps the wrong password off the account's lockout count (repeated runs stay safe).
    const { deviceToken } = await context.session(account);
    const socket = await context.open();
    try {
      const form = await context.startForm(socket, CLIENT_ID, deviceToken === undefined ? {} : { device_token: deviceToken });
      const wrong = KitContext.answer(form, { username: account.username, password: `${account.password}-wrong` });
      const refused = decode(FormResult, await socket.result({ ...flowCommand('login_flow/step', form.flow_id), user_input: wrong }), 'the reply to a wrong password');
      equal(refused.flow_id, form.flow_id, 'the flow_id');
      equal(refused.step_id, form.step_id, 'the step_id');
      equal(refused.errors?.['base'], 'invalid_auth', 'errors.base');
      const shown = decode(FormResult, await socket.result(flowCommand('login_flow/get', form.flow_id)), 'get after the wrong password');
      equal(shown.step_id, form.step_id, 'the step_id of the stored form');
      const done = decode(CreateEntryResult, await socket.result({ ...flowCommand('login_flow/step', form.flow_id), user_input: KitContext.answer(form, account) }), 'the right password after a wrong one');
      ok(isHex(done.result, OPAQUE_ID_HEX), `the code should be 32 lowercase hex characters, got ${quote(done.result)}`);
    } finally {
      socket.close();
    }
  });

  group.needs(missingLogin, 'answers the right password with create_entry carrying a code, after which the flow is not_found', SECTIONS.step, async () => {
    const socket = await context.open();
    try {
      const form = await context.startForm(socket);
      const done = decode(CreateEntryResult, await socket.result({ ...flowCommand('login_flow/step', form.flow_id), user_input: KitContext.answer(form, user!) }), 'the reply to the right password');
      equal(done.flow_id, form.flow_id, 'the flow_id');
      ok(isHex(done.result, OPAQUE_ID_HEX), `the code should be 32 lowercase hex characters, got ${quote(done.result)}`);
      errorOf(await socket.command(flowCommand('login_flow/get', form.flow_id)), 'not_found', 'get after create_entry');
    } finally {
      socket.close();
    }
  });

  group.needs(missingLogin, 'finishes on another connection a flow started on one', SECTIONS.flowRules, async () => {
    const first = await context.open();
    const second = await context.open();
    try {
      const form = await context.startForm(first);
      first.close();
      const done = await second.result({ ...flowCommand('login_flow/step', form.flow_id), user_input: KitContext.answer(form, user!) });
      decode(CreateEntryResult, done, 'the right password on the second connection');
    } finally {
      first.close();
      second.close();
    }
  });
}
