/** What the login limits saw, as audit events and metrics: one place, so every attempt is reported the same way. */
import type { AttemptReport, LoginDefenseEvents, RefusalReport } from '../defense/login-limits.js';
import type { Audit } from '../observability/audit.js';
import type { Metrics } from '../observability/metrics.js';

export function reportLoginDefense(audit: Audit, metrics: Metrics | undefined): LoginDefenseEvents {
  return {
    settled({ subject, settlement, reason, lockedOut, banned }: AttemptReport) {
      if (settlement === 'release') return;
      const who = { username: loggable(subject.username), address: subject.address, provider: subject.provider, trusted_device: subject.device !== null };
      const provider = subject.provider ?? 'unknown';
      if (settlement === 'success') {
        audit('login_succeeded', who);
        metrics?.loginAttempts.inc({ provider, result: 'success' });
        return;
      }
      audit('login_failed', { ...who, reason: reason ?? 'invalid_auth' });
      metrics?.loginAttempts.inc({ provider, result: 'invalid_auth' });
      for (const kind of lockedOut) {
        audit('lockout', { ...who, kind });
        metrics?.lockouts.inc({ kind });
      }
      if (banned) {
        audit('ban', { address: subject.address });
        metrics?.lockouts.inc({ kind: 'ban' });
      }
    },
    refused({ subject, reason, retryAfterSeconds }: RefusalReport) {
      audit('login_refused', {
        username: loggable(subject.username),
        address: subject.address,
        provider: subject.provider,
        reason,
        retry_after: retryAfterSeconds,
      });
      // A refused flow start names no provider step yet; it is counted when it names one.
      if (subject.provider !== null) {
        metrics?.loginAttempts.inc({ provider: subject.provider, result: reason === 'banned' ? 'banned' : 'rate_limited' });
      }
    },
    tooManyOpenFlows(address) {
      audit('login_refused', { address, reason: 'open_flows' });
    },
  };
}

/** Usernames as typed reach the log cut to this length, so a client cannot write a kilobyte into the log per attempt. */
const MAX_LOGGED_USERNAME = 64;

function loggable(username: string | null): string | null {
  return username === null || username.length <= MAX_LOGGED_USERNAME ? username : `${username.slice(0, MAX_LOGGED_USERNAME)}…`;
}
