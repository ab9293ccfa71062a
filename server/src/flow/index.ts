/** The generic flow engine's public surface. */
export * from './handler.js';
export * from './handler-key-map.js';
export * from './manager.js';
export * from './results.js';
export * from './schema.js';
