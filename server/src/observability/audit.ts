/** Audit events: one structured log line per security-relevant happening, named so operators can alert on them. */

/** Every audit event Flowgate writes; docs/security.md lists them with their fields. */
export type AuditEvent =
  | 'login_failed'
  | 'login_succeeded'
  | 'login_refused'
  | 'lockout'
  | 'ban'
  | 'token_exchanged'
  | 'token_refreshed'
  | 'token_revoked'
  | 'long_lived_token_created'
  | 'reauthenticated'
  | 'reauthentication_refused'
  | 'mfa_enabled'
  | 'mfa_disabled'
  | 'user_created'
  | 'user_updated'
  | 'user_deleted'
  | 'credential_added'
  | 'credential_removed'
  | 'password_changed'
  | 'username_changed';

/** Never a secret: no password, token, code or device token goes in here. `instance` comes from the logger's base fields. */
export interface AuditFields {
  readonly user_id?: string | null;
  readonly username?: string | null;
  readonly address: string | null;
  readonly [detail: string]: string | number | boolean | null | undefined;
}

export type Audit = (event: AuditEvent, fields: AuditFields) => void;

/** Where audit lines go: pino's `info`, or anything with its shape. */
export interface AuditSink {
  info(fields: object, message: string): void;
}

/**
 * Audit lines are `info` with an `event` field; a message repeats the event so plain-text log viewers show it too. They are
 * formatted at the end of the event-loop turn that raised them (`setImmediate`), after that turn's replies went out: a failed
 * login step's line used to cost its reply ~50 us of pino's serialising and redaction. Events keep their order, and the ones
 * still waiting when the process exits are logged on the way out (before the log destination's own last write).
 */
export function auditLog(logger: AuditSink): Audit {
  let pending: [AuditEvent, AuditFields][] = [];
  const flush = (): void => {
    const events = pending;
    pending = [];
    for (const [event, fields] of events) logger.info({ event, ...fields }, `audit: ${event}`);
  };
  return (event, fields) => {
    if (pending.push([event, fields]) > 1) return;
    waiting.add(flush);
    setImmediate(() => {
      waiting.delete(flush);
      flush();
    });
  };
}

/** The audit logs with events waiting for their turn's end; one exit listener for all of them (servers in tests come and go). */
const waiting = new Set<() => void>();
process.prependListener('exit', () => {
  for (const flush of waiting) flush();
  waiting.clear();
});

/** For in-process callers that keep no log (tests, the CLI). */
export const noAudit: Audit = () => undefined;
