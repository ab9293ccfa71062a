/**
 * The docs/protocol.md sections the cases cite, as `Heading > Subheading` (backticks dropped; `Id rules` is the bold paragraph
 * of that name). One table, so a renamed heading is one edit here, and the project's tests check each against the document.
 */
export const SECTIONS = {
  transport: 'Transport',
  origin: 'Transport > Origin',
  limits: 'Transport > Limits',
  closeCodes: 'Transport > Close codes',
  phase1: 'Phase 1: unauthenticated',
  commands: 'Commands and results (both phases)',
  idRules: 'Commands and results (both phases) > Id rules',
  errorCodes: 'Commands and results (both phases) > Error codes',
  providers: 'Phase-1 commands > auth/providers',
  init: 'Phase-1 commands > login_flow/init',
  step: 'Phase-1 commands > login_flow/step',
  get: 'Phase-1 commands > login_flow/get',
  abort: 'Phase-1 commands > login_flow/abort',
  token: 'Phase-1 commands > auth/token',
  revoke: 'Phase-1 commands > auth/revoke',
  flowResults: "Flow results (Home Assistant's data_entry_flow shapes)",
  fieldErrors: "Flow results (Home Assistant's data_entry_flow shapes) > Field error keys",
  flowRules: 'Login flow rules',
  phase2: 'Phase 2: authenticated',
  stepUp: 'Phase 2: authenticated > Step-up: privileged commands',
  users: 'User management',
  tokens: 'Tokens',
  plainHttp: 'Plain HTTP on the same port',
  httpLogin: "HTTP login API (Home Assistant's)",
  httpFlows: "HTTP login API (Home Assistant's) > Login flows over HTTP",
  httpTokens: "HTTP login API (Home Assistant's) > Tokens over HTTP",
  wellKnown: "HTTP login API (Home Assistant's) > /.well-known/oauth-authorization-server",
} as const;

export type Section = (typeof SECTIONS)[keyof typeof SECTIONS];

/** How a case's title cites its section: `[protocol.md: Transport > Limits]`. */
export function citation(section: Section): string {
  return `[protocol.md: ${section}]`;
}
