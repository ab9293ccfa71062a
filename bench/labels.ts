/** The figures every run prints (the bench test checks that each appears, never its value). */
export const FIGURES = [
  'floor: ws `ping` round trip',
  'floor: Redis GET (HMGET of a flow)',
  'floor: Redis compare-and-set (Lua)',
  'login_flow/get',
  'insecure_example step',
  'password logins/s',
  'non-password steps under password load',
  'memory per idle authenticated socket',
  'step on another instance',
  'password step refused (address over its limit)',
] as const;
