/** What a login flow keeps about who started it: the engine stores it opaquely, `auth` decodes it and checks the binding. */
import * as t from 'io-ts';
import { nullable } from '@flowgate/shared';
import type { Admit } from '../flow/index.js';

const TrustedDeviceCodec = t.type({ id: t.string, account: t.string });

export const LoginContext = t.type({
  /** The client that started the flow; only it may step, read or abort it (another is answered as if the flow did not exist). */
  clientId: t.string,
  redirectUri: nullable(t.string),
  /** The client address (trusted proxies applied): every per-address limit counts it. */
  remoteAddress: nullable(t.string),
  /** The device token presented at `login_flow/init`, once verified: it exempts the device from the account lockout. */
  device: nullable(TrustedDeviceCodec),
});
export type LoginContext = t.TypeOf<typeof LoginContext>;

/** A flow may be continued only by the client id that started it. */
export const startedBy =
  (clientId: string): Admit<LoginContext> =>
  (context) =>
    context.clientId === clientId;
