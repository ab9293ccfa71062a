/** What a login flow keeps about who started it: the engine stores it opaquely, `auth` decodes it and checks the binding. */
import * as t from 'io-ts';
import { nullable } from '@flowgate/shared';
import type { Admit } from '../flow/index.js';

const TrustedDeviceCodec = t.type({ id: t.string, account: t.string });

/** A re-authentication (`"reauthenticate": true` on an authenticated socket): the session whose login time it renews. */
const ReauthenticationCodec = t.type({ refreshTokenId: t.string, userId: t.string });
export type Reauthentication = t.TypeOf<typeof ReauthenticationCodec>;

export const LoginContext = t.intersection([t.type({
  /** The client that started the flow; only it may step, read or abort it (another is answered as if the flow did not exist). */
  clientId: t.string,
  /** The `redirect_uri` checked at `login_flow/init` (null: none): the flow's code remembers it for the exchange (codes.ts). */
  redirectUri: nullable(t.string),
  /** The client address (trusted proxies applied): every per-address limit counts it. */
  remoteAddress: nullable(t.string),
  /** The device token presented at `login_flow/init`, once verified: it exempts the device from the account lockout. */
  device: nullable(TrustedDeviceCodec),
}), t.partial({
  /**
   * Set when the flow re-authenticates a session: its end renews that session's login time (only for the same user) and
   * issues no code. Optional so that flows stored before it existed still decode.
   */
  reauthenticate: ReauthenticationCodec,
})]);
export type LoginContext = t.TypeOf<typeof LoginContext>;

/** A flow may be continued only by the client id that started it. */
export const startedBy =
  (clientId: string): Admit<LoginContext> =>
  (context) =>
    context.clientId === clientId;

/** Thrown by `startedFrom` when a flow is continued from another address than the one that started it. */
export class LoginAddressChanged extends Error {
  override readonly name = 'LoginAddressChanged';
}

/**
 * Home Assistant's rule for its HTTP login API: only the client that started the flow (any client when `clientId` is null: HA's
 * DELETE names none), and only from the address that started it (else LoginAddressChanged, HA's "IP address changed").
 * Socket steps are bound by client id only.
 */
export const startedFrom =
  (clientId: string | null, remoteAddress: string | null): Admit<LoginContext> =>
  (context) => {
    if (clientId !== null && context.clientId !== clientId) return false;
    if (context.remoteAddress !== remoteAddress) throw new LoginAddressChanged('The flow was started from another address');
    return true;
  };
