/** Audit events: one structured log line per security-relevant happening, named so operators can alert on them. */
import type { Logger } from 'pino';

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

/** Audit lines are `info` with an `event` field; a message repeats the event so plain-text log viewers show it too. */
export function auditLog(logger: Pick<Logger, 'info'>): Audit {
  return (event, fields) => logger.info({ event, ...fields }, `audit: ${event}`);
}

/** For in-process callers that keep no log (tests, the CLI). */
export const noAudit: Audit = () => undefined;
