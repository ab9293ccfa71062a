/** One client socket: the auth phase, id ordering, a bounded queue of commands answered in order, and every limit. */
import { isLeft } from 'fp-ts/lib/Either.js';
import type { WebSocket, RawData } from 'ws';
import {
  Auth,
  CloseCode,
  CommandEnvelope,
  HA_VERSION,
  MAX_BATCH_COMMANDS,
  decodeValid,
  describeErrors,
  type ErrorCode,
} from '@flowgate/shared';
import type { Logger } from 'pino';
import type { AuthManager } from '../auth/manager.js';
import type { LiveSession, Session } from '../auth/session.js';
import { ServiceError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import { findCommand } from './commands.js';
import type { TransportLimits } from './limits.js';

export interface ConnectionOptions {
  readonly socket: WebSocket;
  readonly remoteAddress: string | null;
  /**
   * The socket's `Origin` when a browser page of a foreign origin opened it (neither the server's own nor listed in
   * `http.cors_allowed_origins`); null for no `Origin` (CLI, apps, services) or an allowed one. Such a socket may `auth` with a
   * token, but its login commands are refused.
   */
  readonly foreignOrigin: string | null;
  readonly auth: AuthManager;
  readonly limits: TransportLimits;
  readonly logger: Logger;
  /** Command durations are observed here, labelled by command type (only types of the command table, and `auth`). */
  readonly metrics?: Metrics;
  /** Told when the socket authenticates, so revocations of its refresh token can find it. */
  readonly onAuthenticated: (connection: Connection, session: Session, previous: Session | null) => void;
  /** Asked before a socket authenticates as `session`'s user: a sentence refuses it (`auth_invalid` with it, then closed). */
  readonly admitSession?: (connection: Connection, session: Session) => string | null;
}
const INVALID_AUTH_MESSAGE = 'Invalid access token or password';

/** Home Assistant's clients send `{"features": {"coalesce_messages": 1}}` after auth_ok to receive array frames. */
const coalescingOffered = (command: unknown): boolean =>
  isRecord(command) && isRecord(command['features']) && command['features']['coalesce_messages'] === 1;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export class Connection {
  /** Answered the last heartbeat ping; the transport drops sockets that did not. */
  alive = true;
  private lastId = 0;
  private invalidFrames = 0;
  private readonly queue: unknown[] = [];
  private draining = false;
  private closed = false;
  /** Set while the server drains: frames that arrive after that are not started. */
  private refusingFrames = false;
  /** A close requested while a command runs: applied once that command has been answered. */
  private closeAfterCommand: { code: number; reason: string } | null = null;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Closes the socket maxUnauthenticatedMs after it opened unless it authenticated: activity does not move it. */
  private readonly authDeadline: NodeJS.Timeout;
  private commandCount = 0;
  /** When this socket's recent flow starts happened (at most the per-minute limit of them). */
  private readonly flowStarts: number[] = [];
  private readonly openedAt = Date.now();
  private session: Session | null = null;
  /** HA's `coalesce_messages`, once the client offered it: replies of one event-loop turn go out as one JSON array frame. */
  private coalescing = false;
  /** Serialised messages waiting for the end of this event-loop turn (only while coalescing). */
  private readonly outgoing: string[] = [];
  private flushScheduled = false;

  constructor(private readonly options: ConnectionOptions) {
    const { socket } = options;
    socket.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    // Without this listener a socket error (a reset, a bad frame) would be an uncaught exception and end the process.
    socket.on('error', (error) => options.logger.debug({ err: error.message }, 'socket error'));
    socket.on('close', (code) => this.onClose(code));
    this.armIdleTimer();
    this.authDeadline = setTimeout(
      () => this.closeAfterCurrentCommand(CloseCode.idle, 'authentication timeout'),
      options.limits.maxUnauthenticatedMs,
    );
    this.authDeadline.unref();
  }

  get authenticated(): boolean {
    return this.session !== null;
  }

  /** Answers what is in flight, then closes with `code` (used when the server drains). */
  async drainAndClose(code: number, reason: string): Promise<void> {
    this.refusingFrames = true;
    while (this.draining && !this.closed) await new Promise((resolve) => setTimeout(resolve, 5));
    this.close(code, reason);
  }

  /**
   * Closes after the command in progress has been answered, so a client that revokes its own token still gets its reply
   * (every command gets exactly one); commands queued behind it are dropped.
   */
  closeAfterCurrentCommand(code: number, reason: string): void {
    if (this.draining) this.closeAfterCommand = { code, reason };
    else this.close(code, reason);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    // Replies already produced go out before the close frame, coalesced or not.
    this.flush();
    this.closed = true;
    this.queue.length = 0;
    clearTimeout(this.idleTimer);
    this.options.socket.close(code, reason);
  }

  /** The refresh token this socket authenticated with, if any. */
  get refreshTokenId(): string | null {
    return this.session?.refreshTokenId ?? null;
  }

  /** A WebSocket-level ping for the heartbeat (answered by the client's stack, not by application code). */
  ping(): void {
    if (!this.closed) this.options.socket.ping();
  }

  terminate(): void {
    this.closed = true;
    this.queue.length = 0;
    clearTimeout(this.idleTimer);
    this.options.socket.terminate();
  }

  private onClose(code: number): void {
    this.closed = true;
    this.queue.length = 0;
    clearTimeout(this.idleTimer);
    clearTimeout(this.authDeadline);
    this.options.logger.info(
      {
        remote: this.options.remoteAddress,
        durationMs: Date.now() - this.openedAt,
        commands: this.commandCount,
        authenticated: this.authenticated,
        userId: this.session?.userId ?? null,
        closeCode: code,
      },
      'connection closed',
    );
  }

  private armIdleTimer(): void {
    if (this.authenticated) {
      clearTimeout(this.idleTimer);
      return;
    }
    // Re-armed on every frame: moving the one timer costs less than a new one each time.
    if (this.idleTimer !== undefined) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => this.close(CloseCode.idle, 'idle'), this.options.limits.phaseOneIdleTimeoutMs);
    this.idleTimer.unref();
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.closed || this.refusingFrames) return;
    if (isBinary) {
      this.close(CloseCode.unsupportedData, 'binary frames are not supported');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      this.invalidFrames += 1;
      if (this.invalidFrames > this.options.limits.maxInvalidFrames) {
        this.close(CloseCode.policyViolation, 'too many invalid frames');
        return;
      }
      this.sendError(0, 'invalid_format', 'The frame is not valid JSON');
      return;
    }
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    if (messages.length > MAX_BATCH_COMMANDS) {
      this.sendError(0, 'invalid_format', `A frame may carry at most ${MAX_BATCH_COMMANDS} commands`);
      return;
    }
    if (this.queue.length + messages.length > this.options.limits.maxPendingCommands) {
      this.close(CloseCode.policyViolation, 'too many pending commands');
      return;
    }
    if (messages.length === 0) return;
    this.armIdleTimer();
    this.queue.push(...messages);
    void this.drain();
  }

  /** Answers queued messages one at a time, in order, so replies never overtake each other. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let message = this.queue.shift(); message !== undefined && !this.closed; message = this.queue.shift()) {
        await this.handleMessage(message);
        if (this.closeAfterCommand !== null) this.close(this.closeAfterCommand.code, this.closeAfterCommand.reason);
      }
    } finally {
      this.draining = false;
    }
  }

  private async handleMessage(message: unknown): Promise<void> {
    this.commandCount += 1;
    if (isRecord(message) && message['type'] === 'auth' && !('id' in message)) {
      const endTimer = this.options.metrics?.commandDuration.startTimer('auth');
      try {
        await this.handleAuth(message);
      } finally {
        endTimer?.();
      }
      return;
    }
    const envelope = decodeValid(CommandEnvelope, message);
    if (isLeft(envelope)) {
      const rawId = isRecord(message) && Number.isSafeInteger(message['id']) ? Number(message['id']) : 0;
      this.sendError(rawId > 0 ? rawId : 0, 'invalid_format', `Message incorrectly formatted: ${describeErrors(envelope.left)}`);
      return;
    }
    const { id, type } = envelope.right;
    if (id <= this.lastId) {
      this.sendError(id, 'id_reuse', `Identifier values have to increase: ${id} came after ${this.lastId}`);
      return;
    }
    this.lastId = id;
    const spec = findCommand(type);
    if (spec === undefined) {
      this.sendError(id, 'unknown_command', `Unknown command: ${type.slice(0, 64)}`);
      return;
    }
    if (spec.login === true && this.options.foreignOrigin !== null) {
      this.sendError(
        id,
        'origin_not_allowed',
        `${type} is refused to pages of ${this.options.foreignOrigin.slice(0, 256)}: list that origin in http.cors_allowed_origins to let it log in`,
      );
      return;
    }
    if (spec.phase !== 'any' && !this.authenticated) {
      this.sendError(id, 'unauthorized', `${type} needs an authenticated socket: send auth first`);
      return;
    }
    // Labelled with the type only now that it is known to be in the command table: a client's made-up type is no series.
    const endTimer = this.options.metrics?.commandDuration.startTimer(type);
    try {
      // Who may run it is settled before its fields are decoded: a non-administrator learns nothing of an admin command's shape.
      const live = spec.phase === 'any' ? null : await this.liveSession(id);
      if (spec.phase !== 'any' && live === null) return;
      const user = live?.user ?? null;
      if (spec.phase === 'admin' && user?.isAdmin !== true) {
        this.sendError(id, 'unauthorized', `${type} needs an administrator`);
        return;
      }
      // Step-up, also before decoding: a stolen access token alone cannot change what protects an account (reauth_required).
      // The refresh token read for liveness says when the session logged in: no second read.
      if (spec.privileged === true && live !== null) this.options.auth.assertRecentLogin(live.refreshToken, type);
      const decoded = decodeValid(spec.codec, message);
      if (isLeft(decoded)) {
        this.sendError(id, 'invalid_format', `${type}: ${describeErrors(decoded.left)}`);
        return;
      }
      if (spec.startsFlow === true) {
        const waitMs = this.flowStartWaitMs();
        if (waitMs > 0) {
          const seconds = Math.ceil(waitMs / 1000);
          this.sendError(id, 'rate_limited', `Too many login flows started on this connection; try again in ${seconds} seconds`, seconds);
          return;
        }
      }
      const context = { auth: this.options.auth, remoteAddress: this.options.remoteAddress, session: this.session, user };
      const result = await spec.run(decoded.right, context);
      this.send(spec.reply === 'pong' ? { id, type: 'pong' } : { id, type: 'result', success: true, result });
      if (type === 'supported_features') this.coalescing = coalescingOffered(decoded.right);
    } catch (error) {
      if (error instanceof ServiceError) {
        this.sendError(id, error.code, error.message, error.retryAfterSeconds);
      } else {
        this.options.logger.error({ err: error, command: type }, 'command failed');
        this.sendError(id, 'unknown_error', 'Unknown error');
      }
    } finally {
      endTimer?.();
    }
  }

  private async handleAuth(message: Record<string, unknown>): Promise<void> {
    const decoded = decodeValid(Auth, message);
    if (isLeft(decoded)) {
      this.send({ type: 'auth_invalid', message: `Auth message incorrectly formatted: ${describeErrors(decoded.left)}` });
      this.close(CloseCode.normal, 'auth_invalid');
      return;
    }
    let session: Session | null;
    const previous = this.session;
    try {
      session = await this.options.auth.authenticate(decoded.right.access_token, this.options.remoteAddress);
      if (session !== null) {
        // Past the bound of the user's sockets on this instance: refused before it counts anywhere.
        const refusal = this.options.admitSession?.(this, session) ?? null;
        if (refusal !== null) {
          this.send({ type: 'auth_invalid', message: refusal });
          this.close(CloseCode.normal, 'auth_invalid');
          return;
        }
        // Registered before the second look, so a revocation published from here on finds this socket; one published while
        // the token was being verified is caught by the second look. (Until auth_ok no command runs: the queue waits.)
        this.session = session;
        this.options.onAuthenticated(this, session, previous);
        if ((await this.options.auth.liveUser(session)) === null) session = null;
      }
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'unavailable') {
        // Not the token's fault: say "try again later" rather than auth_invalid, which makes clients forget their tokens.
        this.close(CloseCode.tryAgainLater, 'store unavailable');
        return;
      }
      if (!(error instanceof ServiceError)) this.options.logger.error({ err: error }, 'token check failed');
      session = null;
    }
    if (session === null) {
      this.send({ type: 'auth_invalid', message: INVALID_AUTH_MESSAGE });
      this.close(CloseCode.normal, 'auth_invalid');
      return;
    }
    clearTimeout(this.idleTimer);
    clearTimeout(this.authDeadline);
    this.send({ type: 'auth_ok', ha_version: HA_VERSION });
  }

  /** 0 when a flow may start now (and counts it), else how long until the oldest start leaves the window. */
  private flowStartWaitMs(): number {
    const limit = this.options.limits.maxFlowStartsPerMinute;
    if (limit === 0) return 0;
    const now = Date.now();
    while (this.flowStarts.length > 0 && (this.flowStarts[0] ?? now) <= now - 60_000) this.flowStarts.shift();
    if (this.flowStarts.length >= limit) return (this.flowStarts[0] ?? now) + 60_000 - now;
    this.flowStarts.push(now);
    return 0;
  }

  /**
   * The socket's user as it is now; null after answering `unauthorized` and closing with 4001 when the refresh token is gone
   * (a revocation it did not hear of) or the user may no longer log in from here.
   */
  private async liveSession(id: number): Promise<LiveSession | null> {
    const live = this.session === null ? null : await this.options.auth.liveSession(this.session);
    if (live !== null) return live;
    this.sendError(id, 'unauthorized', 'The refresh token behind this socket was revoked');
    this.closeAfterCurrentCommand(CloseCode.tokenRevoked, 'token_revoked');
    return null;
  }

  private sendError(id: number, code: ErrorCode, message: string, retryAfterSeconds?: number): void {
    const error = retryAfterSeconds === undefined ? { code, message } : { code, message, retry_after: retryAfterSeconds };
    this.send({ id, type: 'result', success: false, error });
  }

  private send(message: unknown): void {
    if (this.closed) return;
    const text = JSON.stringify(message);
    if (!this.coalescing) {
      this.write(text);
      return;
    }
    this.outgoing.push(text);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the rest of this turn's replies (a batch of quick commands answers within one turn), before any new I/O.
    setImmediate(() => this.flush());
  }

  /** Sends what is waiting: one message as it is, several as one array frame (HA's coalescing). */
  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0) return;
    const parts = this.outgoing.splice(0);
    this.write(parts.length === 1 ? (parts[0] ?? '') : `[${parts.join(',')}]`);
  }

  private write(frame: string): void {
    const { socket, limits } = this.options;
    if (this.closed || socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > limits.maxBufferedBytes) {
      this.options.logger.warn({ remote: this.options.remoteAddress }, 'client does not read its answers: dropping it');
      this.terminate();
      return;
    }
    socket.send(frame);
  }
}
