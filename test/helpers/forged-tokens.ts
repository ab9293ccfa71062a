/** Access tokens an attacker would sign (server-shaped HS256 JWTs with a key of their choosing), and what `auth` makes of them. */
import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { RawClient } from './raw-client.js';
import type { ServerProcess } from './server-process.js';

/** An access token shaped as the server shapes them, for `iss`, living `lifetimeSeconds`, signed with `key`. */
export function forgedAccessToken(iss: string, key: Buffer | KeyObject, lifetimeSeconds = 1800): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(iss)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .sign(key);
}

/** What `auth` with `token` on a fresh socket answers: `auth_ok` or `auth_invalid`. */
export async function authAnswer(server: Pick<ServerProcess, 'url'>, token: string): Promise<string> {
  const { client } = await RawClient.open(server.url);
  try {
    client.send({ type: 'auth', access_token: token });
    return String(((await client.next()) as Record<string, unknown>)['type']);
  } finally {
    client.close();
  }
}
