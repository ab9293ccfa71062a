/** The one error type every layer throws for a failure the client should see, carrying a code from the closed protocol set. */
import type { ErrorCode } from '@flowgate/shared';

export class ServiceError extends Error {
  override readonly name: string = 'ServiceError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** Sent as the error's `retry_after` (with `rate_limited`): whole seconds until the request may succeed. */
  readonly retryAfterSeconds: number | undefined;
}
