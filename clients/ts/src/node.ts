/** @flowgate/client for Node: the same client with the `ws` package as its WebSocket. */
import WebSocket from 'ws';
import { FlowgateClient, type ClientOptions } from './client.js';
import type { WebSocketConstructor } from './connection.js';

export * from './index.js';
export { fileDeviceTokenStore, type FileDeviceTokenStoreOptions } from './device-tokens-file.js';

/** A FlowgateClient over `ws` (Node 20 has no global WebSocket). */
export function createNodeClient(options: Omit<ClientOptions, 'WebSocket'>): FlowgateClient {
  return new FlowgateClient({ ...options, WebSocket: WebSocket as unknown as WebSocketConstructor });
}
