/** Framing shared by every command: the envelope, results, errors, ping/pong, supported_features. */
import * as t from 'io-ts';
import { ErrorCode } from './errors.js';
import { PositiveInt } from './primitives.js';

/** What every command must have before its own codec is even chosen. */
export const CommandEnvelope = t.type({ id: PositiveInt, type: t.string });
export type CommandEnvelope = t.TypeOf<typeof CommandEnvelope>;

export const PingCommand = t.type({ id: PositiveInt, type: t.literal('ping') });
export type PingCommand = t.TypeOf<typeof PingCommand>;

export const Pong = t.type({ id: t.number, type: t.literal('pong') });
export type Pong = t.TypeOf<typeof Pong>;

export const SupportedFeaturesCommand = t.intersection([
  t.type({ id: PositiveInt, type: t.literal('supported_features') }),
  t.partial({ features: t.record(t.string, t.number) }),
]);
export type SupportedFeaturesCommand = t.TypeOf<typeof SupportedFeaturesCommand>;

/** `retry_after` (whole seconds) comes with `rate_limited`: when the refused request may be tried again. */
export const ErrorBody = t.intersection([t.type({ code: ErrorCode, message: t.string }), t.partial({ retry_after: t.number })]);
export type ErrorBody = t.TypeOf<typeof ErrorBody>;

export const ResultSuccess = t.type({ id: t.number, type: t.literal('result'), success: t.literal(true), result: t.unknown });
export type ResultSuccess = t.TypeOf<typeof ResultSuccess>;

export const ResultError = t.type({ id: t.number, type: t.literal('result'), success: t.literal(false), error: ErrorBody });
export type ResultError = t.TypeOf<typeof ResultError>;

export const ResultMessage = t.union([ResultSuccess, ResultError]);
export type ResultMessage = t.TypeOf<typeof ResultMessage>;
