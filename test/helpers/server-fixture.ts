/** A mocha fixture: one real server process per describe block, and raw clients that are closed after each test. */
import { RawClient } from './raw-client.js';
import { startServerProcess, type ServerProcess, type StartOptions } from './server-process.js';

export interface ServerFixture {
  /** The running server (valid inside tests and hooks). */
  readonly server: () => ServerProcess;
  /** Opens a client (hello consumed) that is closed after the test. */
  readonly open: () => Promise<RawClient>;
  /** Closes `client` after the test too. */
  readonly track: (client: RawClient) => RawClient;
}

export function useServer(options: () => StartOptions): ServerFixture {
  let running: ServerProcess | undefined;
  const clients: RawClient[] = [];
  const track = (client: RawClient): RawClient => {
    clients.push(client);
    return client;
  };
  const server = (): ServerProcess => {
    if (running === undefined) throw new Error('the server is not started yet');
    return running;
  };
  before(async function () {
    running = await startServerProcess(options());
  });
  afterEach(() => clients.splice(0).forEach((c) => c.close()));
  after(async () => running?.stop());
  return { server, track, open: async () => track((await RawClient.open(server().url)).client) };
}
