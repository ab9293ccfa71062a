/** Flowgate's Prometheus instruments, in a registry of each server's own (several servers in one process never share counters). */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How a login attempt (one provider step that checked a secret, or was refused before checking it) ended. */
export const LOGIN_RESULTS = ['success', 'invalid_auth', 'rate_limited', 'banned'] as const;
export type LoginResult = (typeof LOGIN_RESULTS)[number];

/** What a lockout locked: a client address, an account (for untrusted clients), one trusted device, or a permanent ban. */
export const LOCKOUT_KINDS = ['address', 'account', 'device', 'ban'] as const;
export type LockoutKind = (typeof LOCKOUT_KINDS)[number];

export const SOCKET_STATES = ['unauthenticated', 'authenticated'] as const;
export type SocketState = (typeof SOCKET_STATES)[number];

/** The flow result types of the engine (a step that shows a form, finishes, aborts, or offers a menu). */
export const FLOW_STEP_TYPES = ['form', 'create_entry', 'abort', 'menu'] as const;
export type FlowStepType = (typeof FLOW_STEP_TYPES)[number];

/** What an MFA code message was for: a login's code, or the one a notify setup sends to check the target. */
export const MFA_CODE_PURPOSES = ['login', 'setup'] as const;
export type MfaCodePurpose = (typeof MFA_CODE_PURPOSES)[number];

/** What came of it: delivered, refused by the user's cap (mfa/user-caps.ts), or not delivered (the notifier failed). */
export const MFA_CODE_RESULTS = ['sent', 'refused', 'failed'] as const;
export type MfaCodeResult = (typeof MFA_CODE_RESULTS)[number];

/**
 * Seconds; from a cached flow read (~0.1 ms) through an argon2 verify (~22 ms) to the store deadline (2 s) and beyond. Fixed,
 * because every bucket is one more series per command.
 */
const COMMAND_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The slices of prom-client's instruments that Flowgate uses, with label values narrowed to closed sets wherever a client
 * could otherwise choose them: every distinct label value is a series kept forever, so a client-chosen one is a memory leak.
 */
export interface LabelledCounter<L> {
  inc(labels: L, value?: number): void;
}

export interface Metrics {
  /** This server's registry: `/metrics` renders it (`registry.metrics()`, `registry.contentType`). */
  readonly registry: Registry;
  /** `provider` is a configured provider type (never a client's string), `result` one of LOGIN_RESULTS. */
  readonly loginAttempts: LabelledCounter<{ provider: string; result: LoginResult }>;
  readonly lockouts: LabelledCounter<{ kind: LockoutKind }>;
  readonly sockets: {
    inc(labels: { state: SocketState }, value?: number): void;
    dec(labels: { state: SocketState }, value?: number): void;
  };
  readonly flowSteps: LabelledCounter<{ type: FlowStepType }>;
  /** MFA code messages (notify), by purpose and result: a climbing `refused` is someone holding a password, or a setup relay. */
  readonly mfaCodes: LabelledCounter<{ purpose: MfaCodePurpose; result: MfaCodeResult }>;
  /** Failed store calls of any kind: timeouts past the store deadline, outages, errors. */
  readonly storeErrors: { inc(value?: number): void };
  /** `command` is a command type of the server's command table (or `auth`), never a type a client sent. */
  readonly commandDuration: { startTimer(command: string): () => void };
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const loginAttempts = new Counter({
    name: 'flowgate_login_attempts_total',
    help: 'Login attempts by provider type and result (success, invalid_auth, rate_limited, ...)',
    labelNames: ['provider', 'result'] as const,
    registers,
  });
  const lockouts = new Counter({
    name: 'flowgate_lockouts_total',
    help: 'Lockouts started, by what they lock (address, account, device, ban)',
    labelNames: ['kind'] as const,
    registers,
  });
  const sockets = new Gauge({
    name: 'flowgate_sockets',
    help: 'Open WebSocket connections on this instance, by state (unauthenticated, authenticated)',
    labelNames: ['state'] as const,
    registers,
  });
  const flowSteps = new Counter({
    name: 'flowgate_flow_steps_total',
    help: 'Login flow steps answered, by the type of their result (form, create_entry, abort, menu)',
    labelNames: ['type'] as const,
    registers,
  });
  const mfaCodes = new Counter({
    name: 'flowgate_mfa_codes_total',
    help: 'MFA code messages by purpose (login, setup) and result (sent, refused by the per-user cap, failed to deliver)',
    labelNames: ['purpose', 'result'] as const,
    registers,
  });
  const storeErrors = new Counter({
    name: 'flowgate_store_errors_total',
    help: 'Store calls that failed or did not answer within store_timeout_ms',
    registers,
  });
  const commandDuration = new Histogram({
    name: 'flowgate_command_duration_seconds',
    help: 'Time from starting a command to its answer, by command type',
    labelNames: ['command'] as const,
    buckets: COMMAND_DURATION_BUCKETS,
    registers,
  });
  // Closed label sets start at zero, so a dashboard sees every series (and a rate() has a start) before the first event.
  for (const kind of LOCKOUT_KINDS) lockouts.inc({ kind }, 0);
  for (const state of SOCKET_STATES) sockets.set({ state }, 0);
  for (const type of FLOW_STEP_TYPES) flowSteps.inc({ type }, 0);
  for (const purpose of MFA_CODE_PURPOSES) for (const result of MFA_CODE_RESULTS) mfaCodes.inc({ purpose, result }, 0);
  // One child per command type, kept: prom-client otherwise hashes the label set on every observation.
  const timers = new Map<string, { startTimer(): () => void }>();
  const timerOf = (command: string): { startTimer(): () => void } => {
    const known = timers.get(command);
    if (known !== undefined) return known;
    const child = commandDuration.labels({ command });
    timers.set(command, child);
    return child;
  };
  return {
    registry,
    loginAttempts,
    lockouts,
    sockets,
    flowSteps,
    mfaCodes,
    storeErrors,
    commandDuration: { startTimer: (command) => timerOf(command).startTimer() },
  };
}
