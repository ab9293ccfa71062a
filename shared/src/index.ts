/** @flowgate/shared: the wire contract between Flowgate servers and clients. */
export * from './protocol/limits.js';
export * from './protocol/errors.js';
export * from './protocol/primitives.js';
export * from './protocol/schema.js';
export * from './protocol/envelope.js';
export * from './protocol/flow.js';
export * from './protocol/auth.js';
export * from './protocol/tokens.js';
export * from './protocol/report.js';
export * from './protocol/session.js';
export * from './protocol/mfa.js';
export * from './protocol/users.js';
