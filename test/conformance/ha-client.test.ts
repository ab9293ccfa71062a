/**
 * Home Assistant's own client library, home-assistant-js-websocket, against a real Flowgate process: a long-lived token
 * connection, HA's getUser, commands and their errors (over HA's coalesced frames), and revocation ending in ERR_INVALID_AUTH.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import {
  createConnection,
  createLongLivedTokenAuth,
  ERR_INVALID_AUTH,
  getUser,
  type Connection,
} from 'home-assistant-js-websocket';
import { loginTokens } from '../helpers/login.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/** The library opens sockets with the browser's global WebSocket; Node 20 has none, so it gets `ws` (which has the same API). */
const globals = globalThis as { WebSocket?: unknown };

describe("Home Assistant's client library (home-assistant-js-websocket)", function () {
  this.timeout(30_000);
  let server: ServerProcess;
  let owner: RawClient;
  let previousWebSocket: unknown;
  const connections: Connection[] = [];

  /** A long-lived access token made over the socket, as HA's profile page does; returns it and its refresh token's id. */
  async function longLivedToken(name: string): Promise<{ token: string; refreshTokenId: string }> {
    const token = String(await owner.result({ type: 'auth/long_lived_access_token', client_name: name, lifespan: 30 }));
    const tokens = (await owner.result({ type: 'auth/refresh_tokens' })) as unknown as Array<{ id: string; client_name: string | null }>;
    const made = tokens.find((t) => t.client_name === name);
    if (made === undefined) throw new Error('the long-lived token is not listed');
    return { token, refreshTokenId: made.id };
  }

  async function connect(token: string): Promise<Connection> {
    const connection = await createConnection({ auth: createLongLivedTokenAuth(server.httpUrl, token) });
    connections.push(connection);
    return connection;
  }

  before(async function () {
    previousWebSocket = globals.WebSocket;
    globals.WebSocket = WebSocket;
    server = await startServerProcess();
    const { client } = await RawClient.open(server.url);
    const tokens = await loginTokens(client);
    client.send({ type: 'auth', access_token: tokens.access_token });
    expect(await client.next()).to.deep.include({ type: 'auth_ok' });
    owner = client;
  });
  after(async function () {
    for (const connection of connections) connection.close();
    owner?.close();
    await server?.stop();
    globals.WebSocket = previousWebSocket;
  });

  it('connects with createLongLivedTokenAuth and reads the user with getUser', async function () {
    const connection = await connect((await longLivedToken('kitchen tablet')).token);
    expect(connection.connected).to.equal(true);
    expect(connection.haVersion).to.match(/^\d{4}\.\d+\.\d+$/);
    const user = await getUser(connection);
    // A login never makes the owner, the first on an empty store neither (only `flowgate user add|promote` does).
    expect(user).to.deep.include({ name: 'Alice Liddell', is_owner: false, is_admin: false });
    // HA's HassUser type leaves it out; HA's server (and Flowgate) send it.
    expect((user as unknown as { credentials: unknown }).credentials).to.deep.equal([{ auth_provider_type: 'insecure_example', auth_provider_id: null }]);
  });

  it('answers sendMessagePromise, many at once (HA negotiates coalesced frames), and rejects with HA error objects', async function () {
    const connection = await connect((await longLivedToken('wall panel')).token);
    const answers = await Promise.all(Array.from({ length: 20 }, () => connection.sendMessagePromise<unknown[]>({ type: 'auth/refresh_tokens' })));
    for (const tokens of answers) expect(tokens).to.be.an('array').with.length.above(1);
    const unknown = await connection.sendMessagePromise({ type: 'get_states' }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(unknown).to.deep.equal({ code: 'unknown_command', message: 'Unknown command: get_states' });
    const unknownToken = await connection.sendMessagePromise({ type: 'auth/delete_refresh_token', refresh_token_id: 'nope' }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(unknownToken).to.deep.equal({ code: 'not_found', message: 'No such refresh token' });
  });

  it('refuses a token that does not verify with ERR_INVALID_AUTH', async function () {
    const refused = await createConnection({ auth: createLongLivedTokenAuth(server.httpUrl, 'not-a-token') }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).to.equal(ERR_INVALID_AUTH);
  });

  it('ends with ERR_INVALID_AUTH on reconnect once its token is revoked', async function () {
    const { token, refreshTokenId } = await longLivedToken('garage');
    const connection = await connect(token);
    const disconnected = new Promise<void>((resolve) => connection.addEventListener('disconnected', () => resolve()));
    const reconnectError = new Promise<unknown>((resolve) => connection.addEventListener('reconnect-error', (_c, error) => resolve(error)));
    expect(await owner.result({ type: 'auth/delete_refresh_token', refresh_token_id: refreshTokenId })).to.deep.equal({});
    await disconnected;
    expect(await reconnectError).to.equal(ERR_INVALID_AUTH);
    expect(connection.connected).to.equal(false);
  });
});
