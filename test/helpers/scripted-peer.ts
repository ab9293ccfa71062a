/**
 * A scripted Flowgate server for browser tests: serves the built dashboard with the real server's HTTP handler (same CSP and
 * headers), and plays the server side of protocol v1 from a script. Every command it receives is decoded with the shared
 * command codecs and every frame it sends is checked with the shared server codecs first; any violation (or an assertion
 * thrown by the script) is recorded as a problem, and `guard` turns the first problem into a failure of the waiting test.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLeft } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  AuthProvidersCommand,
  CommandEnvelope,
  describeErrors,
  FlowResult,
  FormResult,
  LoginFlowAbort,
  LoginFlowGet,
  LoginFlowInit,
  LoginFlowStep,
  NullResult,
  PingCommand,
  ProviderList,
  ServerMessage,
  type AbortResult,
  type DataSchema,
  type ErrorCode,
  type HandlerKey,
} from '@flowgate/shared';
import { handleHttpRequest } from '../../server/src/transport/http.js';
import { WEBSOCKET_PATH } from '../../server/src/transport/limits.js';

/** A flow the peer started: what the script builds its results from. */
export interface ScriptedFlow {
  readonly flowId: string;
  readonly handler: HandlerKey;
  readonly clientId: string;
  readonly expiresAt: string;
}

export interface PeerScript {
  readonly providers: ProviderList;
  /** The first result of a new flow. */
  init(flow: ScriptedFlow): FlowResult;
  /** The answer to the flow's `attempt`-th `login_flow/step` (1-based); an assertion thrown here is a problem. */
  step(flow: ScriptedFlow, userInput: Record<string, unknown>, attempt: number): FlowResult;
}

export function form(flow: ScriptedFlow, dataSchema: DataSchema, errors: Record<string, string> | null = null): FormResult {
  return { type: 'form', flow_id: flow.flowId, handler: flow.handler, step_id: 'init', data_schema: dataSchema, errors, description_placeholders: null, last_step: null, expires_at: flow.expiresAt };
}

export function abort(flow: ScriptedFlow, reason: string): AbortResult {
  return { type: 'abort', flow_id: flow.flowId, handler: flow.handler, reason, description_placeholders: null };
}

const COMMAND_CODECS: Record<string, t.Decoder<unknown, unknown>> = {
  ping: PingCommand,
  'auth/providers': AuthProvidersCommand,
  'login_flow/init': LoginFlowInit,
  'login_flow/step': LoginFlowStep,
  'login_flow/get': LoginFlowGet,
  'login_flow/abort': LoginFlowAbort,
};

/** Thrown by a script to answer the command with this error, as a real server may (e.g. `rate_limited`); not a problem. */
export class ScriptedError extends Error {
  constructor(readonly body: { code: ErrorCode; message: string; retry_after?: number }) {
    super(body.message);
  }
}

/** Thrown for a command a real server would refuse: answered with this error code (and recorded as a problem). */
class Refusal extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

/** The decoded value; a command that fails is refused as `invalid_format`, anything else of ours that fails is a plain error. */
function decode<A>(codec: t.Decoder<unknown, A>, value: unknown, what: string, isCommand = false): A {
  const decoded = codec.decode(value);
  if (!isLeft(decoded)) return decoded.right;
  const message = `${what} fails its codec: ${describeErrors(decoded.left)}`;
  throw isCommand ? new Refusal('invalid_format', message) : new Error(message);
}

export class ScriptedPeer {
  /** Every command received, decoded, in order. */
  readonly received: Array<{ id: number; type: string } & Record<string, unknown>> = [];
  readonly problems: Error[] = [];
  private readonly flows = new Map<string, ScriptedFlow & { attempts: number; form: FormResult }>();
  private failure!: Promise<never>;
  private fail!: (error: Error) => void;

  private readonly sockets = new WebSocketServer({ noServer: true });

  private constructor(private readonly script: PeerScript, private readonly http: Server, readonly url: string) {
    this.reset();
    this.sockets.on('connection', (socket) => this.accept(socket));
  }

  static async start(script: PeerScript): Promise<ScriptedPeer> {
    const http = createServer((request, response) => handleHttpRequest(request, response));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const peer = new ScriptedPeer(script, http, `http://127.0.0.1:${(http.address() as AddressInfo).port}/`);
    http.on('upgrade', (request, socket, head) => {
      if (new URL(request.url ?? '/', peer.url).pathname !== WEBSOCKET_PATH) return socket.destroy();
      peer.sockets.handleUpgrade(request, socket, head, (ws) => peer.sockets.emit('connection', ws, request));
    });
    return peer;
  }

  /** Forgets what the previous test received and its problems (flows stay; each test starts its own). */
  reset(): void {
    this.received.length = 0;
    this.problems.length = 0;
    this.failure = new Promise<never>((_, reject) => (this.fail = reject));
    this.failure.catch(() => undefined);
  }

  /** Resolves like `promise`, unless the peer sees a problem first: then rejects with it at once. */
  guard<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.failure]);
  }

  assertNoProblems(): void {
    if (this.problems.length > 0) throw this.problems[0];
  }

  async close(): Promise<void> {
    for (const socket of this.sockets.clients) socket.terminate();
    this.sockets.close();
    this.http.closeAllConnections();
    await new Promise((resolve) => this.http.close(resolve));
  }

  private problem(error: unknown): void {
    const problem = error instanceof Error ? error : new Error(String(error));
    this.problems.push(problem);
    this.fail(problem);
  }

  private accept(socket: WebSocket): void {
    let lastId = 0;
    this.send(socket, { type: 'auth_required', ha_version: '2024.1.0', server: 'flowgate', version: '0.1.0', protocol: 1, instance: 'scripted-peer' });
    socket.on('message', (data) => {
      let frame: unknown;
      try {
        frame = JSON.parse(String(data));
      } catch {
        return this.problem(new Error(`the dashboard sent a frame that is not JSON: ${String(data)}`));
      }
      for (const message of Array.isArray(frame) ? frame : [frame]) {
        let id = 0;
        try {
          const envelope = decode(CommandEnvelope, message, 'a command envelope', true);
          id = envelope.id;
          if (id <= lastId) throw new Refusal('id_reuse', `Identifier values have to increase: ${id} came after ${lastId}`);
          lastId = id;
          const codec = COMMAND_CODECS[envelope.type];
          if (codec === undefined) throw new Refusal('unknown_command', `Unknown command: ${envelope.type}`);
          const command = decode(codec, message, envelope.type, true) as typeof envelope & Record<string, unknown>;
          this.received.push(command);
          this.answer(socket, command);
        } catch (error) {
          if (error instanceof ScriptedError) {
            this.send(socket, { id, type: 'result', success: false, error: error.body });
            continue;
          }
          this.problem(error);
          // Answered as the real server would: a refusal with its code, anything else (a script assertion too) as unknown_error.
          const body = error instanceof Refusal ? { code: error.code, message: error.message } : { code: 'unknown_error', message: 'Unknown error' };
          this.send(socket, { id, type: 'result', success: false, error: body });
        }
      }
    });
  }

  private answer(socket: WebSocket, command: { id: number; type: string } & Record<string, unknown>): void {
    const reply = (result: unknown, codec: t.Decoder<unknown, unknown>): void =>
      this.send(socket, { id: command.id, type: 'result', success: true, result: decode(codec, result, `the ${command.type} result`) });
    if (command.type === 'ping') return this.send(socket, { id: command.id, type: 'pong' });
    if (command.type === 'auth/providers') return reply(this.script.providers, ProviderList);
    if (command.type === 'login_flow/init') {
      const { handler, client_id } = command as unknown as LoginFlowInit;
      if (!this.script.providers.some((p) => p.type === handler[0] && p.id === handler[1])) throw new Refusal('not_found', `No login handler ${JSON.stringify(handler)}`);
      const flow = { flowId: randomBytes(16).toString('hex'), handler, clientId: client_id, expiresAt: new Date(Date.now() + 600_000).toISOString() };
      return reply(this.remember(flow, 0, this.script.init(flow)), FlowResult);
    }
    const { flow_id, client_id, user_input } = command as unknown as LoginFlowStep;
    const flow = this.flows.get(flow_id);
    if (flow === undefined || flow.clientId !== client_id) throw new Refusal('not_found', 'Flow not found');
    if (command.type === 'login_flow/get') return reply(flow.form, FormResult);
    if (command.type === 'login_flow/abort') {
      this.flows.delete(flow_id);
      return reply(null, NullResult);
    }
    const attempt = flow.attempts + 1;
    reply(this.remember(flow, attempt, this.script.step(flow, user_input, attempt)), FlowResult);
  }

  /** Keeps a flow while it shows forms (for `login_flow/get`); a finished or aborted flow is gone, as on the real server. */
  private remember(flow: ScriptedFlow, attempts: number, result: FlowResult): FlowResult {
    if (result.type === 'form') this.flows.set(flow.flowId, { ...flow, attempts, form: result });
    else this.flows.delete(flow.flowId);
    return result;
  }

  /** Every frame is checked against the server codecs before it goes out; one that fails is a problem and is not sent. */
  private send(socket: WebSocket, frame: unknown): void {
    try {
      socket.send(JSON.stringify(decode(ServerMessage, frame, 'a server frame')));
    } catch (error) {
      this.problem(error);
    }
  }
}
