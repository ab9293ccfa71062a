/** The figures every run prints (the bench test checks that each appears, never its value). */
export const FIGURES = [
  'floor: ws `ping` round trip',
  'floor: Redis GET (HMGET of a flow)',
  'floor: Redis compare-and-set (Lua)',
  'login_flow/get',
  'insecure_example step',
  'password logins/s, Redis, 16 clients',
  'non-password steps under password load',
  'memory per idle authenticated socket',
  'step on another instance',
  'password step refused (address over its limit)',
  'password logins/s, Redis, 64 clients',
  'password logins/s, SQLite, 16 clients',
  'password logins/s, SQLite, 64 clients',
  'password logins/s, gate of cores - 1',
  'reconnect storm: all back on B',
  "reconnect storm: B's peak event-loop delay",
  'insecure_example step, login limits counting',
  'reference: plain-JS server, login_flow/get',
  'reference: plain-JS server, insecure step',
  'step on A and B in turn',
] as const;

/** Ratio targets of issue 13, each printed beside its figure. */
export const TARGETS = {
  /** A non-password step's p50 over its floor (ping + the store round trips it cannot avoid). */
  stepOverFloor: 1.3,
  /** Password logins per second over raw argon2 verifies in the same run. */
  loginsOverRaw: 0.95,
  /** p99 of non-password steps while password logins saturate the verify gate (at cores - 1), in microseconds. */
  underLoadP99Us: 4_000,
} as const;
