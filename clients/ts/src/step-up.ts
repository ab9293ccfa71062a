/**
 * Step-up on the client: a privileged command refused with `reauth_required` logs in again on the signed-in socket (the last
 * login's form callback, or the configured one) and is sent once more; commands refused at once share one re-authentication.
 */
import type { HandlerKey } from '@flowgate/shared';
import type { FlowgateClient } from './client.js';
import { ClientClosedError, isCommandError, ReauthenticationFailedError } from './errors.js';
import { runReauthentication, type LoginOptions, type ReauthenticationOptions } from './login.js';

export class StepUp {
  /** The provider and form callback of the last login that authenticated the client: a re-authentication asks them again. */
  private lastLogin: { readonly handler: HandlerKey | string; readonly answer: LoginOptions['answer'] } | undefined;
  /** The re-authentication under way. */
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: FlowgateClient,
    /** `ClientOptions.reauthentication`: the options to log in again with, `false` for never, undefined for the last login's. */
    private readonly configured: ReauthenticationOptions | false | undefined,
  ) {}

  /** Told of every login that authenticated the client. */
  loggedIn(options: Pick<LoginOptions, 'handler' | 'answer'>): void {
    this.lastLogin = { handler: options.handler, answer: options.answer };
  }

  /** A re-authentication with `options`, else the automatic ones; the one under way when there is one. */
  reauthenticate(options?: ReauthenticationOptions): Promise<void> {
    const chosen = options ?? this.automatic();
    const handler = chosen?.handler ?? this.lastLogin?.handler;
    if (chosen === undefined || handler === undefined) {
      return Promise.reject(new TypeError('No way to log in again: pass reauthenticate() a handler and answer, or log in with login() first'));
    }
    this.running ??= runReauthentication(this.client, handler, chosen).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Runs `send`; when it is refused with `reauth_required` and a re-authentication can run, runs one, then `send` once more. */
  async retrying<T>(command: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const automatic = this.automatic();
      if (!isCommandError(error, 'reauth_required') || automatic === undefined) throw error;
      try {
        await this.reauthenticate(automatic);
      } catch (failure) {
        throw failure instanceof ClientClosedError ? failure : new ReauthenticationFailedError(command, failure);
      }
    }
    // The refused command did not run, so sending it again after the new login cannot do it twice.
    return send();
  }

  /** How a `reauth_required` is answered without being asked: the configured options, else the last login's; undefined: not. */
  private automatic(): ReauthenticationOptions | undefined {
    if (this.configured === false) return undefined;
    return this.configured ?? this.lastLogin;
  }
}
